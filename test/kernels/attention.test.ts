import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { attention, attentionBackward } from "../../src/kernels/attention.js";
import { TinyLMError } from "../../src/errors.js";

// Float64 reference written from the definition: causal softmax(q·kᵀ/√hs)·v, query i at position Tk − Tq + i,
// query head h reading kv head floor(h / (NH / NKV)). With `first` (packed rows), query i of row b sees only keys
// first[b·Tq + i] … Tk − Tq + i.
function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, B: number, Tq: number, Tk: number, kvT: number,
  NH: number, NKV: number, hs: number, first?: readonly number[]): Float64Array {
  const out = new Float64Array(B * Tq * NH * hs);
  for (let b = 0; b < B; b++) for (let h = 0; h < NH; h++) {
    const g = Math.floor(h / (NH / NKV));
    for (let i = 0; i < Tq; i++) {
      const lo = first?.[b * Tq + i] ?? 0, hi = Tk - Tq + i;
      const s = new Float64Array(hi + 1 - lo);
      for (let j = lo; j <= hi; j++) {
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += q[((b * Tq + i) * NH + h) * hs + d] * k[((b * kvT + j) * NKV + g) * hs + d];
        s[j - lo] = dot / Math.sqrt(hs);
      }
      const m = Math.max(...s);
      let z = 0;
      for (const x of s) z += Math.exp(x - m);
      for (let j = lo; j <= hi; j++) {
        const p = Math.exp(s[j - lo] - m) / z;
        for (let d = 0; d < hs; d++) out[((b * Tq + i) * NH + h) * hs + d] += p * v[((b * kvT + j) * NKV + g) * hs + d];
      }
    }
  }
  return out;
}

// The first key of each query for a row packed from sequences of the given lengths.
function starts(lengths: readonly number[]): number[] {
  const f: number[] = [];
  let at = 0;
  for (const n of lengths) {
    for (let i = 0; i < n; i++) f.push(at);
    at += n;
  }
  return f;
}

const rand = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 1.5);

describe("attention against a float64 reference", () => {
  it("forward: ragged shapes, grouped-query heads, and a KV cache with past positions", async () => {
    for (const flavor of ["simd", "relaxed"] as const) {
      const k = await loadKernelsFromFiles(flavor);
      for (const [B, Tq, Tk, kvT, NH, NKV, hs] of [
        [1, 1, 1, 1, 1, 1, 2], [2, 7, 7, 7, 4, 2, 6], [1, 17, 17, 17, 3, 3, 16], [2, 33, 33, 33, 4, 1, 8],
        [1, 1, 20, 32, 4, 2, 8], [1, 5, 12, 12, 2, 2, 4], // decoding: queries after 19 and 7 cached positions
      ]) {
        const q = rand(B * Tq * NH * hs, 1), kk = rand(B * kvT * NKV * hs, 2), v = rand(B * kvT * NKV * hs, 3);
        const Q = k.f32(q), K = k.f32(kk), Vv = k.f32(v), out = k.f32(q.length), att = k.f32(B * NH * Tq * Tk);
        attention(k, out, att, Q, K, Vv, { B, T: Tq, heads: NH, kvHeads: NKV, headSize: hs, keys: Tk, kvRows: kvT });
        const want = attentionRef(q, kk, v, B, Tq, Tk, kvT, NH, NKV, hs);
        const got = out.view;
        for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i]), `${flavor} B=${B} Tq=${Tq} Tk=${Tk} i=${i}`).toBeLessThan(2e-5);
        const probs = att.view;
        for (let r = 0; r < B * NH * Tq; r++) {
          const row = probs.subarray(r * Tk, (r + 1) * Tk);
          expect(Math.abs(row.reduce((s, x) => s + x, 0) - 1)).toBeLessThan(1e-5);
          const i = r % Tq;
          for (let j = Tk - Tq + i + 1; j < Tk; j++) expect(row[j]).toBe(0);
        }
      }
    }
  });

  // The backward kernel has no mask of its own: a packed row's mask lives in the saved probabilities, which are 0 there.
  it.each([
    ["causal", undefined],
    ["packed rows, a first key per query", [[2, 3], [1, 1, 3]]],
  ])("backward matches float64 finite differences of the reference: %s", async (_, rowsOf) => {
    const k = await loadKernelsFromFiles("simd");
    const [B, T, NH, NKV, hs] = [2, 5, 4, 2, 4];
    const first = rowsOf?.flatMap(starts);
    const q = rand(B * T * NH * hs, 4), kk = rand(B * T * NKV * hs, 5), v = rand(B * T * NKV * hs, 6);
    const w = rand(B * T * NH * hs, 7); // loss = Σ out·w, so dout = w
    const loss = (qq: Float64Array, k2: Float64Array, v2: Float64Array) =>
      attentionRef(qq, k2, v2, B, T, T, T, NH, NKV, hs, first).reduce((s, x, i) => s + x * w[i], 0);
    const shape = { B, T, heads: NH, kvHeads: NKV, headSize: hs };
    const Q = k.f32(q), K = k.f32(kk), Vv = k.f32(v), out = k.f32(q.length), att = k.f32(B * NH * T * T);
    attention(k, out, att, Q, K, Vv, { ...shape, firstKey: first && k.i32(first) });
    const dq = k.f32(q.length), dk = k.f32(kk.length), dv = k.f32(v.length), scratch = k.f32(2 * T * T), dout = k.f32(w);
    attentionBackward(k, dq, dk, dv, scratch, dout, att, Q, K, Vv, shape);
    const h = 1e-6;
    for (const [name, x, grad] of [["q", q, dq], ["k", kk, dk], ["v", v, dv]] as const) {
      const g = grad.view;
      for (let i = 0; i < x.length; i++) {
        const plus = Float64Array.from(x), minus = Float64Array.from(x);
        plus[i] += h;
        minus[i] -= h;
        const args = (y: Float64Array): [Float64Array, Float64Array, Float64Array] => name === "q" ? [y, kk, v] : name === "k" ? [q, y, v] : [q, kk, y];
        const fd = (loss(...args(plus)) - loss(...args(minus))) / (2 * h);
        expect(Math.abs(g[i] - fd), `d${name}[${i}]: ${g[i]} vs ${fd}`).toBeLessThan(1e-4 * (1 + Math.abs(fd)));
      }
    }
  });

  it("rejects kv heads that do not divide the heads, and wrong lengths", async () => {
    const k = await loadKernelsFromFiles("simd");
    const a = k.f32(24), b = k.f32(24), c = k.f32(24), o = k.f32(24), att = k.f32(9 * 3);
    expect(() => attention(k, o, att, a, b, c, { B: 1, T: 3, heads: 3, kvHeads: 2, headSize: 2 })).toThrow(TinyLMError);
    expect(() => attention(k, o, att, a, b, c, { B: 1, T: 4, heads: 3, headSize: 2 })).toThrow(/must hold/);
  });
});

describe("attention with a first key per query (block-diagonal causal mask)", () => {
  it("forward matches the float64 definition; masked probabilities are exactly 0", async () => {
    for (const flavor of ["simd", "relaxed"] as const) {
      const k = await loadKernelsFromFiles(flavor);
      for (const [NH, NKV, hs, rowsOf] of [[1, 1, 2, [[1]]], [4, 2, 6, [[3, 4], [7]]], [3, 3, 16, [[5, 1, 11], [2, 2, 2, 2, 9]]], [4, 1, 8, [[20, 13]]]] as const) {
        const B = rowsOf.length, T = rowsOf[0].reduce((a, b) => a + b, 0);
        const first = rowsOf.flatMap((lengths) => starts([...lengths]));
        const q = rand(B * T * NH * hs, 1), kk = rand(B * T * NKV * hs, 2), v = rand(B * T * NKV * hs, 3);
        const out = k.f32(q.length), att = k.f32(B * NH * T * T);
        attention(k, out, att, k.f32(q), k.f32(kk), k.f32(v), { B, T, heads: NH, kvHeads: NKV, headSize: hs, firstKey: k.i32(first) });
        const want = attentionRef(q, kk, v, B, T, T, T, NH, NKV, hs, first);
        for (let i = 0; i < want.length; i++) expect(Math.abs(out.view[i] - want[i]), `${flavor} T=${T} i=${i}`).toBeLessThan(2e-5);
        for (let r = 0; r < B * NH * T; r++) {
          const b = Math.floor(r / (NH * T)), i = r % T, row = att.view.subarray(r * T, (r + 1) * T);
          for (let j = 0; j < T; j++) if (j < first[b * T + i] || j > i) expect(row[j]).toBe(0);
        }
      }
    }
  });

  it("queries after a KV cache: the first key counts from the cache's first row", async () => {
    const k = await loadKernelsFromFiles("simd");
    const [Tq, Tk, NH, hs] = [3, 8, 2, 4];
    const first = [2, 6, 0];
    const q = rand(Tq * NH * hs, 5), kk = rand(Tk * NH * hs, 6), v = rand(Tk * NH * hs, 7);
    const out = k.f32(q.length), att = k.f32(NH * Tq * Tk);
    attention(k, out, att, k.f32(q), k.f32(kk), k.f32(v), { B: 1, T: Tq, heads: NH, headSize: hs, keys: Tk, firstKey: k.i32(first) });
    const want = attentionRef(q, kk, v, 1, Tq, Tk, Tk, NH, NH, hs, first);
    for (let i = 0; i < want.length; i++) expect(Math.abs(out.view[i] - want[i])).toBeLessThan(2e-5);
  });

  it("rejects a first key after the query's own position, negative, or of the wrong length", async () => {
    const k = await loadKernelsFromFiles("simd");
    const a = k.f32(12), b = k.f32(12), c = k.f32(12), o = k.f32(12), att = k.f32(9);
    const shape = { B: 1, T: 3, heads: 1, headSize: 4 };
    expect(() => attention(k, o, att, a, b, c, { ...shape, firstKey: k.i32([0, 2, 0]) })).toThrow(/firstKey\[1\] = 2, but that query sees keys 0 … 1/);
    expect(() => attention(k, o, att, a, b, c, { ...shape, firstKey: k.i32([0, -1, 0]) })).toThrow(TinyLMError);
    expect(() => attention(k, o, att, a, b, c, { ...shape, firstKey: k.i32([0, 0]) })).toThrow(/must hold 3/);
  });
});
