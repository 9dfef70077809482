// The kernel parameters behind packed sequences: softmax's per-row first visible column and rope's per-row positions,
// each against a float64 reference written here from the definition (attention's first key per query is tested in
// attention.test.ts).
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { softmax } from "../../src/kernels/activations.js";
import { rope, ropeTables } from "../../src/kernels/rope.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";

const rand = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed * 78.233) * 1.5);

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
