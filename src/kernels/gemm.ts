import { check } from "../errors.js";
import type { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";

export interface GemmShape {
  M: number;
  N: number;
  K: number;
  /** op(A) = Aᵀ: A is stored (K, M). Default false: A is (M, K). */
  transA?: boolean;
  /** op(B) = Bᵀ: B is stored (N, K), a Linear weight's (out, in). Default false: B is (K, N). */
  transB?: boolean;
  /** Default 1. */
  alpha?: number;
  /** Default 0: C is overwritten (NaN or garbage in C does not leak through). 1 accumulates. */
  beta?: number;
  /** Leading dimensions (row strides in elements); default to the packed row length. */
  lda?: number;
  ldb?: number;
  ldc?: number;
}

/** C (M,N) = alpha·op(A)·op(B) + beta·C, row-major f32. Throws TinyLMError on shapes that do not fit the arrays. */
export function gemm(k: Kernels, C: HeapArray<"f32">, A: HeapArray<"f32">, B: HeapArray<"f32">, shape: GemmShape): void {
  const { M, N, K } = shape;
  const transA = shape.transA ?? false;
  const transB = shape.transB ?? false;
  const alpha = shape.alpha ?? 1;
  const beta = shape.beta ?? 0;
  for (const [name, v] of [["M", M], ["N", N], ["K", K]] as const) {
    check(Number.isInteger(v) && v >= 0, "BAD_SHAPE", `gemm: ${name} must be a non-negative integer, got ${v}`);
  }
  check(typeof transA === "boolean" && typeof transB === "boolean", "BAD_ARGUMENT", "gemm: transA and transB must be booleans");
  check(Number.isFinite(alpha) && Number.isFinite(beta), "BAD_ARGUMENT", `gemm: alpha and beta must be finite, got ${alpha}, ${beta}`);
  const [aRows, aCols] = transA ? [K, M] : [M, K];
  const [bRows, bCols] = transB ? [N, K] : [K, N];
  const lda = fits("A", A, aRows, aCols, shape.lda);
  const ldb = fits("B", B, bRows, bCols, shape.ldb);
  const ldc = fits("C", C, M, N, shape.ldc);
  check(!overlaps(C, A) && !overlaps(C, B), "BAD_ARGUMENT", "gemm: C must not share memory with A or B");
  const work = k.workspace(M === 1 ? K : 0);
  k.exports.sgemm(C.ptr, ldc, A.ptr, lda, B.ptr, ldb, M, N, K, +transA, +transB, alpha, beta, work);
}

// Checks that a (rows, cols) matrix with row stride ld fits the array, and returns ld.
function fits(name: string, a: HeapArray<"f32">, rows: number, cols: number, ld = Math.max(1, cols)): number {
  check(Number.isInteger(ld) && ld >= Math.max(1, cols), "BAD_SHAPE", `gemm: ld${name.toLowerCase()} = ${ld} is less than the ${cols} columns of ${name}`);
  const need = rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
  check(a.length >= need, "BAD_SHAPE", `gemm: ${name} is (${rows}, ${cols}) with row stride ${ld}, which needs ${need} floats; the array has ${a.length}`);
  return ld;
}

function overlaps(a: HeapArray<"f32">, b: HeapArray<"f32">): boolean {
  return a.ptr < b.ptr + b.length * 4 && b.ptr < a.ptr + a.length * 4 && a.length > 0 && b.length > 0;
}
