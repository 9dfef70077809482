// The kernel parameters behind packed sequences: softmax's per-row first visible column, rope's per-row positions,
// and attention's per-query first key. Each against a float64 reference written here from the definition.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { softmax } from "../../src/kernels/activations.js";
import { attention, attentionBackward } from "../../src/kernels/attention.js";
import { rope, ropeTables } from "../../src/kernels/rope.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";

const rand = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 1.5);

// Query i of row b (at position Tk − Tq + i) sees keys first[b·Tq + i] … Tk − Tq + i; q (B,Tq,NH,hs), k, v (B,Tk,NKV,hs).
function attentionRef(q: Float64Array, k: Float64Array, v: Float64Array, first: number[], B: number, Tq: number, Tk: number,
  NH: number, NKV: number, hs: number): Float64Array {
  const out = new Float64Array(B * Tq * NH * hs);
  for (let b = 0; b < B; b++) for (let h = 0; h < NH; h++) {
    const g = Math.floor(h / (NH / NKV));
    for (let i = 0; i < Tq; i++) {
      const keys: number[] = [];
      for (let j = first[b * Tq + i]; j <= Tk - Tq + i; j++) keys.push(j);
      const s = keys.map((j) => {
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += q[((b * Tq + i) * NH + h) * hs + d] * k[((b * Tk + j) * NKV + g) * hs + d];
        return dot / Math.sqrt(hs);
      });
      const m = Math.max(...s);
      const z = s.reduce((a, x) => a + Math.exp(x - m), 0);
      keys.forEach((j, n) => {
        const p = Math.exp(s[n] - m) / z;
        for (let d = 0; d < hs; d++) out[((b * Tq + i) * NH + h) * hs + d] += p * v[((b * Tk + j) * NKV + g) * hs + d];
      });
    }
  }
  return out;
}

// first key of each query for rows packed from sequences of the given lengths
function starts(lengths: number[]): number[] {
  const f: number[] = [];
  let at = 0;
  for (const n of lengths) {
    for (let i = 0; i < n; i++) f.push(at);
    at += n;
  }
  return f;
}

describe("softmax with a first visible column per row", () => {
  it("matches the float64 definition on ragged widths, gives exact zeros outside, ignores NaN/inf it does not see", async () => {
    for (const flavor of ["simd", "relaxed"] as const) {
      const k = await loadKernelsFromFiles(flavor);
      for (const [rows, cols, causal, pastLength] of [[1, 1, false, 0], [5, 3, false, 0], [17, 17, true, 0], [9, 33, true, 24], [4, 257, false, 0]] as const) {
        const x = rand(rows * cols, cols);
        const first = Array.from({ length: rows }, (_, r) => {
          const end = causal ? Math.min(cols, r + pastLength + 1) : cols;
          return (r * 7 + 3) % end;
        });
        // what the row does not see may hold anything
        first.forEach((f, r) => { for (let j = 0; j < f; j++) x[r * cols + j] = j % 2 ? NaN : Infinity; });
        const out = k.f32(rows * cols), F = k.i32(first);
        softmax(k, out, k.f32(x), { rows, cols, scale: 0.7, causal, pastLength, first: F });
        const y = out.view;
        for (let r = 0; r < rows; r++) {
          const end = causal ? Math.min(cols, r + pastLength + 1) : cols;
          const z = Array.from({ length: end - first[r] }, (_, n) => 0.7 * x[r * cols + first[r] + n]);
          const m = Math.max(...z), sum = z.reduce((a, v) => a + Math.exp(v - m), 0);
          for (let j = 0; j < cols; j++) {
            const where = `${flavor} ${rows}×${cols} row ${r} column ${j}`;
            if (j < first[r] || j >= end) expect(y[r * cols + j], where).toBe(0);
            else expect(Math.abs(y[r * cols + j] - Math.exp(z[j - first[r]] - m) / sum), where).toBeLessThan(1e-6);
          }
        }
      }
    }
  });

  it("rejects a first column that leaves a row nothing to see", async () => {
    const k = await loadKernelsFromFiles("simd");
    const a = k.f32(12), b = k.f32(12);
    expect(() => softmax(k, b, a, { rows: 3, cols: 4, first: k.i32([0, 0]) })).toThrow(/must hold 3/);
    expect(() => softmax(k, b, a, { rows: 3, cols: 4, first: k.i32([0, 4, 0]) })).toThrow(/first\[1\] = 4/);
    expect(() => softmax(k, b, a, { rows: 3, cols: 4, first: k.i32([0, -1, 0]) })).toThrow(TinyLMError);
    expect(() => softmax(k, b, a, { rows: 3, cols: 4, causal: true, first: k.i32([0, 2, 0]) })).toThrow(/no visible column/);
    expect(() => softmax(k, b, a, { rows: 3, cols: 4, first: k.f32(3) as never })).toThrow(/i32/);
  });
});

describe("rope with explicit positions", () => {
  it("rotates each row by its own position (float64 definition), and the inverse undoes it", async () => {
    for (const flavor of ["simd", "relaxed"] as const) {
      const k = await loadKernelsFromFiles(flavor);
      for (const [B, T, H, hs] of [[1, 1, 1, 2], [2, 7, 3, 6], [1, 33, 2, 16], [1, 5, 1, 34]]) {
        const { cos, sin } = ropeTables(k, 64, hs);
        const positions = Array.from({ length: B * T }, (_, r) => (r * 5 + 2) % 40);
        const x = Float64Array.from({ length: B * T * H * hs }, (_, i) => Math.sin(i * 1.7) * 2);
        const X = k.f32(x), P = k.i32(positions);
        rope(k, X, cos, sin, { B, T, heads: H, headSize: hs, positions: P });
        const half = hs / 2;
        for (let r = 0; r < B * T; r++) for (let h = 0; h < H; h++) for (let i = 0; i < half; i++) {
          const o = (r * H + h) * hs, angle = positions[r] / 10000 ** ((2 * i) / hs);
          const lo = x[o + i] * Math.cos(angle) - x[o + i + half] * Math.sin(angle);
          const hi = x[o + i + half] * Math.cos(angle) + x[o + i] * Math.sin(angle);
          expect(Math.abs(X.view[o + i] - lo)).toBeLessThan(2e-5);
          expect(Math.abs(X.view[o + i + half] - hi)).toBeLessThan(2e-5);
        }
        rope(k, X, cos, sin, { B, T, heads: H, headSize: hs, positions: P, inverse: true });
        for (let i = 0; i < x.length; i++) expect(Math.abs(X.view[i] - x[i])).toBeLessThan(1e-5);
      }
    }
  });

  it("rejects positions outside the tables, of the wrong length, or together with pos0", async () => {
    const k = await loadKernelsFromFiles("simd");
    const { cos, sin } = ropeTables(k, 8, 4);
    const x = k.f32(2 * 4);
    const shape = { B: 1, T: 2, heads: 1, headSize: 4 };
    expect(() => rope(k, x, cos, sin, { ...shape, positions: k.i32([0, 8]) })).toThrow(/positions\[1\] = 8/);
    expect(() => rope(k, x, cos, sin, { ...shape, positions: k.i32([-1, 0]) })).toThrow(TinyLMError);
    expect(() => rope(k, x, cos, sin, { ...shape, positions: k.i32([0, 1, 2]) })).toThrow(/must hold 2/);
    expect(() => rope(k, x, cos, sin, { ...shape, pos0: 1, positions: k.i32([0, 1]) })).toThrow(/not both/);
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
        const want = attentionRef(q, kk, v, first, B, T, T, NH, NKV, hs);
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
    const want = attentionRef(q, kk, v, first, 1, Tq, Tk, NH, NH, hs);
    for (let i = 0; i < want.length; i++) expect(Math.abs(out.view[i] - want[i])).toBeLessThan(2e-5);
  });

  it("backward (unchanged: the mask lives in att) matches float64 finite differences of the masked reference", async () => {
    const k = await loadKernelsFromFiles("simd");
    const [B, NH, NKV, hs] = [2, 4, 2, 4];
    const rowsOf = [[2, 3], [1, 1, 3]], T = 5;
    const first = rowsOf.flatMap(starts);
    const q = rand(B * T * NH * hs, 4), kk = rand(B * T * NKV * hs, 5), v = rand(B * T * NKV * hs, 6);
    const w = rand(B * T * NH * hs, 7); // loss = Σ out·w, so dout = w
    const loss = (qq: Float64Array, k2: Float64Array, v2: Float64Array) =>
      attentionRef(qq, k2, v2, first, B, T, T, NH, NKV, hs).reduce((s, x, i) => s + x * w[i], 0);
    const shape = { B, T, heads: NH, kvHeads: NKV, headSize: hs };
    const Q = k.f32(q), K = k.f32(kk), Vv = k.f32(v), out = k.f32(q.length), att = k.f32(B * NH * T * T);
    attention(k, out, att, Q, K, Vv, { ...shape, firstKey: k.i32(first) });
    const dq = k.f32(q.length), dk = k.f32(kk.length), dv = k.f32(v.length);
    attentionBackward(k, dq, dk, dv, k.f32(2 * T * T), k.f32(w), att, Q, K, Vv, shape);
    const h = 1e-6;
    for (const [name, x, grad] of [["q", q, dq], ["k", kk, dk], ["v", v, dv]] as const) {
      for (let i = 0; i < x.length; i++) {
        const plus = Float64Array.from(x), minus = Float64Array.from(x);
        plus[i] += h;
        minus[i] -= h;
        const args = (y: Float64Array): [Float64Array, Float64Array, Float64Array] => name === "q" ? [y, kk, v] : name === "k" ? [q, y, v] : [q, kk, y];
        const fd = (loss(...args(plus)) - loss(...args(minus))) / (2 * h);
        expect(Math.abs(grad.view[i] - fd), `d${name}[${i}]: ${grad.view[i]} vs ${fd}`).toBeLessThan(1e-4 * (1 + Math.abs(fd)));
      }
    }
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
