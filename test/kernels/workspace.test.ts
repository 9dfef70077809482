import { describe, expect, it } from "vitest";
import { gemm } from "../../src/kernels/gemm.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { Random } from "../../src/util/random.js";

// Regression: workspace(0) used to return pointer 0 until some caller asked for more than zero floats, so the first
// packed GEMM packed A over static data and the first heap arrays, and every later call on those arrays was wrong.
describe("Kernels.workspace", () => {
  it("is a real heap block from the first call, even when zero floats are asked for", async () => {
    const k = await loadKernelsFromFiles("simd");
    const ptr = k.workspace(0);
    expect(ptr).toBeGreaterThanOrEqual(k.exports.heap_base());
    expect(k.workspace(0)).toBe(ptr);
    expect(k.workspace(10)).toBe(ptr);
  });

  it("keeps a packed GEMM right on the first and every later call (float64 reference)", async () => {
    const k = await loadKernelsFromFiles("simd");
    const rng = new Random(1);
    const n = 64;
    const A = Float32Array.from({ length: n * n }, () => rng.uniform(-1, 1));
    const B = Float32Array.from({ length: n * n }, () => rng.uniform(-1, 1));
    const ref = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < n; p++) s += A[i * n + p] * B[p * n + j];
        ref[i * n + j] = s;
      }
    }
    const [a, b, c] = [k.f32(A), k.f32(B), k.f32(n * n)];
    for (let call = 0; call < 3; call++) {
      gemm(k, c, a, b, { M: n, N: n, K: n });
      let worst = 0;
      c.view.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - ref[i]))));
      expect(worst, `call ${call}`).toBeLessThan(1e-4);
      expect(Array.from(a.view)).toEqual(Array.from(A));
    }
  });
});
