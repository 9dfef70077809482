import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { attention, attentionBackward } from "../../src/kernels/attention.js";
import { TinyLMError } from "../../src/errors.js";

// Float64 reference written from the definition: causal softmax(q·kᵀ/√hs)·v, query i at position Tk − Tq + i,
// query head h reading kv head floor(h / (NH / NKV)).
function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, B: number, Tq: number, Tk: number, kvT: number,
  NH: number, NKV: number, hs: number): Float64Array {
  const out = new Float64Array(B * Tq * NH * hs);
  for (let b = 0; b < B; b++) for (let h = 0; h < NH; h++) {
    const g = Math.floor(h / (NH / NKV));
    for (let i = 0; i < Tq; i++) {
      const visible = Tk - Tq + i + 1;
      const s = new Float64Array(visible);
      for (let j = 0; j < visible; j++) {
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += q[((b * Tq + i) * NH + h) * hs + d] * k[((b * kvT + j) * NKV + g) * hs + d];
        s[j] = dot / Math.sqrt(hs);
      }
      const m = Math.max(...s);
      let z = 0;
      for (let j = 0; j < visible; j++) z += Math.exp(s[j] - m);
      for (let j = 0; j < visible; j++) {
        const p = Math.exp(s[j] - m) / z;
        for (let d = 0; d < hs; d++) out[((b * Tq + i) * NH + h) * hs + d] += p * v[((b * kvT + j) * NKV + g) * hs + d];
      }
    }
  }
  return out;
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

  it("backward matches float64 finite differences of the reference", async () => {
    const k = await loadKernelsFromFiles("simd");
    const [B, T, NH, NKV, hs] = [2, 5, 4, 2, 4];
    const q = rand(B * T * NH * hs, 4), kk = rand(B * T * NKV * hs, 5), v = rand(B * T * NKV * hs, 6);
    const w = rand(B * T * NH * hs, 7); // loss = Σ out·w, so dout = w
    const loss = (qq: Float64Array, k2: Float64Array, v2: Float64Array) =>
      attentionRef(qq, k2, v2, B, T, T, T, NH, NKV, hs).reduce((s, x, i) => s + x * w[i], 0);
    const Q = k.f32(q), K = k.f32(kk), Vv = k.f32(v), out = k.f32(q.length), att = k.f32(B * NH * T * T);
    attention(k, out, att, Q, K, Vv, { B, T, heads: NH, kvHeads: NKV, headSize: hs });
    const dq = k.f32(q.length), dk = k.f32(kk.length), dv = k.f32(v.length), scratch = k.f32(2 * T * T), dout = k.f32(w);
    attentionBackward(k, dq, dk, dv, scratch, dout, att, Q, K, Vv, { B, T, heads: NH, kvHeads: NKV, headSize: hs });
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
