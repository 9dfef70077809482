import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { gemm } from "../../src/kernels/gemm.js";
import { TinyLMError } from "../../src/errors.js";
import type { Kernels } from "../../src/kernels/module.js";

// Float64 reference, written from the definition: C = alpha·op(A)·op(B) + beta·C.
function gemmRef(C: Float64Array, A: ArrayLike<number>, B: ArrayLike<number>, M: number, N: number, K: number,
  tA: boolean, tB: boolean, alpha: number, beta: number, lda: number, ldb: number, ldc: number): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) s += (tA ? A[p * lda + i] : A[i * lda + p]) * (tB ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = alpha * s + (beta === 0 ? 0 : beta * C[i * ldc + j]);
    }
  }
}

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

// Error bound: each output sums K products of values in [-0.5, 0.5]; f32 accumulation error grows like K·eps·Σ|a·b|.
function tolerance(K: number): number {
  return 1e-6 * (K + 4) * 0.25 + 1e-6;
}

function run(k: Kernels, M: number, N: number, K: number, tA: boolean, tB: boolean, alpha: number, beta: number, pad = 0) {
  const lda = (tA ? M : K) + pad, ldb = (tB ? K : N) + pad, ldc = N + pad;
  const a = random((tA ? K : M) * lda, M * 7 + K), b = random((tB ? N : K) * ldb, N * 13 + K), c0 = random(M * ldc, M + N);
  const A = k.f32(a), B = k.f32(b), C = k.f32(c0);
  gemm(k, C, A, B, { M, N, K, transA: tA, transB: tB, alpha, beta, lda, ldb, ldc });
  const want = Float64Array.from(c0);
  gemmRef(want, a, b, M, N, K, tA, tB, alpha, beta, lda, ldb, ldc);
  const got = C.view;
  let worst = 0, at = -1;
  for (let i = 0; i < M; i++) for (let j = 0; j < ldc; j++) {
    const idx = i * ldc + j;
    // Padding columns beyond N must be untouched.
    const d = j < N ? Math.abs(got[idx] - want[idx]) : Math.abs(got[idx] - c0[idx]);
    if (d > worst) { worst = d; at = idx; }
  }
  A.free(); B.free(); C.free();
  return { worst, at, tol: tolerance(K) * Math.max(1, Math.abs(alpha)) + 1e-6 * Math.abs(beta) };
}

const flavors = ["simd", "relaxed"] as const;
const sizes = [1, 3, 7, 17, 33, 100, 257];

describe.each(flavors)("sgemm (%s build) against a float64 reference", (flavor) => {
  let k: Kernels;
  it("loads", async () => {
    k = await loadKernelsFromFiles(flavor);
    expect(["simd", "relaxed"]).toContain(k.flavor);
  });

  for (const tA of [false, true]) for (const tB of [false, true]) {
    it(`ragged sizes, transA=${tA} transB=${tB}`, () => {
      for (const M of sizes) for (const N of [1, 7, 33, 257]) for (const K of [1, 17, 100, 257]) {
        const r = run(k, M, N, K, tA, tB, 1, 0);
        expect(r.worst, `M=${M} N=${N} K=${K} worst at ${r.at}`).toBeLessThanOrEqual(r.tol);
      }
    });
  }

  it("alpha, beta and row strides larger than the rows (sub-matrices)", () => {
    for (const [alpha, beta] of [[0.5, 1], [-2, 0.25], [1, -1]]) {
      for (const tA of [false, true]) for (const tB of [false, true]) {
        const r = run(k, 37, 45, 300, tA, tB, alpha, beta, 5);
        expect(r.worst).toBeLessThanOrEqual(r.tol);
      }
    }
  });

  it("K larger than one packing block and N larger than one panel block", () => {
    const r = run(k, 70, 600, 530, false, true, 1, 0);
    expect(r.worst).toBeLessThanOrEqual(r.tol);
  });

  it("beta = 0 overwrites NaN in C; alpha = 0 or K = 0 only scales C", () => {
    const A = k.f32(random(12, 1)), B = k.f32(random(12, 2)), C = k.f32(new Float32Array(9).fill(NaN));
    gemm(k, C, A, B, { M: 3, N: 3, K: 4 });
    expect(C.view.every(Number.isFinite)).toBe(true);
    C.set([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    gemm(k, C, A, B, { M: 3, N: 3, K: 0, beta: 2 });
    expect(Array.from(C.view)).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18]);
    gemm(k, C, A, B, { M: 3, N: 3, K: 4, alpha: 0, beta: 0.5 });
    expect(Array.from(C.view)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe("sgemm input validation", () => {
  it("rejects shapes that do not fit, bad options and aliasing with TinyLMError", async () => {
    const k = await loadKernelsFromFiles("simd");
    const A = k.f32(6), B = k.f32(6), C = k.f32(4);
    const bad: [string, () => void][] = [
      ["A too small", () => gemm(k, C, A, B, { M: 2, N: 2, K: 4 })],
      ["C too small", () => gemm(k, C, A, B, { M: 3, N: 2, K: 2 })],
      ["negative size", () => gemm(k, C, A, B, { M: -1, N: 2, K: 3 })],
      ["fractional size", () => gemm(k, C, A, B, { M: 1.5, N: 2, K: 3 })],
      ["lda too small", () => gemm(k, C, A, B, { M: 2, N: 2, K: 3, lda: 2 })],
      ["NaN alpha", () => gemm(k, C, A, B, { M: 2, N: 2, K: 3, alpha: NaN })],
      ["C aliases A", () => gemm(k, A, A, B, { M: 2, N: 2, K: 3 })],
    ];
    for (const [what, call] of bad) {
      expect(call, what).toThrow(TinyLMError);
    }
    C.free();
    expect(() => gemm(k, C, A, B, { M: 2, N: 2, K: 3 })).toThrow(/freed/);
  });
});
