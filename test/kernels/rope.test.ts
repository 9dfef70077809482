import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { rope, ropeTables } from "../../src/kernels/rope.js";
import { TinyLMError } from "../../src/errors.js";

// Float64 reference from the HF definition: q·cos + rotate_half(q)·sin, rotate_half(x) = cat(−x2, x1).
function ropeRef(x: Float64Array, B: number, T: number, H: number, hs: number, pos0: number, theta: number, inverse: boolean) {
  const out = new Float64Array(x.length), half = hs / 2;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let h = 0; h < H; h++) {
    const o = ((b * T + t) * H + h) * hs;
    for (let i = 0; i < half; i++) {
      const ang = (pos0 + t) / theta ** ((2 * i) / hs) * (inverse ? -1 : 1);
      const [c, s] = [Math.cos(ang), Math.sin(ang)];
      out[o + i] = x[o + i] * c - x[o + i + half] * s;
      out[o + i + half] = x[o + i + half] * c + x[o + i] * s;
    }
  }
  return out;
}

describe("rope against a float64 reference", () => {
  it("forward and inverse on ragged head sizes and offsets; inverse undoes forward", async () => {
    for (const flavor of ["simd", "relaxed"] as const) {
      const k = await loadKernelsFromFiles(flavor);
      for (const [B, T, H, hs, pos0] of [[1, 1, 1, 2, 0], [2, 7, 3, 6, 5], [1, 33, 2, 16, 0], [3, 17, 4, 64, 100], [1, 5, 1, 34, 1]]) {
        const { cos, sin } = ropeTables(k, 200, hs);
        const x = Float64Array.from({ length: B * T * H * hs }, (_, i) => Math.sin(i * 1.7) * 2);
        for (const inverse of [false, true]) {
          const X = k.f32(x);
          rope(k, X, cos, sin, { B, T, heads: H, headSize: hs, pos0, inverse });
          const want = ropeRef(x, B, T, H, hs, pos0, 10000, inverse);
          const got = X.view;
          // Angles up to ~140 rad are rounded to f32 (as PyTorch does), ~1e-5 absolute at that size.
          for (let i = 0; i < x.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(5e-5);
          rope(k, X, cos, sin, { B, T, heads: H, headSize: hs, pos0, inverse: !inverse });
          for (let i = 0; i < x.length; i++) expect(Math.abs(X.view[i] - x[i])).toBeLessThan(1e-5);
        }
      }
    }
  });

  it("rejects odd head sizes, positions beyond the tables and wrong lengths", async () => {
    const k = await loadKernelsFromFiles("simd");
    const { cos, sin } = ropeTables(k, 8, 4);
    const x = k.f32(2 * 4);
    expect(() => ropeTables(k, 8, 3)).toThrow(TinyLMError);
    expect(() => rope(k, x, cos, sin, { B: 1, T: 2, heads: 1, headSize: 4, pos0: 7 })).toThrow(/exceed/);
    expect(() => rope(k, x, cos, sin, { B: 1, T: 3, heads: 1, headSize: 4 })).toThrow(TinyLMError);
  });
});
