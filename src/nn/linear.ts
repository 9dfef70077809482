import { check } from "../errors.js";
import { gemm } from "../kernels/gemm.js";
import type { HeapArray } from "../kernels/heap.js";
import type { Kernels } from "../kernels/module.js";
import { QuantizedMatrix, qmatmul } from "../kernels/quant.js";

/** A Linear weight (OC, C): f32 in the heap, or quantized blocks that qmatmul reads directly (inference only). */
export type Weight = HeapArray<"f32"> | QuantizedMatrix;

// A Linear layer, y = x·Wᵀ + b, with W stored (OC, C) as PyTorch's nn.Linear and llm.c's matmul keep it.
// The bias broadcast and its gradient are rank-1 GEMMs against a column of ones (B,), so the layer needs no kernel
// beyond the GEMM: out = ones·biasᵀ, then out += inp·Wᵀ; dbias += onesᵀ·dout.

// out is (B,OC), inp is (B,C), weight is (OC,C), bias is (OC,) or null, ones is (B,) of 1s.
export function linearForward(k: Kernels, out: HeapArray, inp: HeapArray, weight: HeapArray, bias: HeapArray | null,
  ones: HeapArray, B: number, C: number, OC: number): void {
  checkSizes("linearForward", B, C, OC);
  let beta = 0;
  if (bias !== null) {
    check(bias.length >= OC && ones.length >= B, "BAD_SHAPE", `linearForward: bias needs ${OC} floats and ones ${B}, got ${bias.length} and ${ones.length}`);
    gemm(k, out, ones, bias, { M: B, N: OC, K: 1 });
    beta = 1;
  }
  matmulForward(k, out, inp, weight, B, C, OC, beta === 1);
}

// out (B,OC) = inp (B,C)·weightᵀ, weight (OC,C); with accumulate, out += … (a residual add for free).
export function matmulForward(k: Kernels, out: HeapArray, inp: HeapArray, weight: Weight, B: number, C: number, OC: number,
  accumulate = false): void {
  if (!(weight instanceof QuantizedMatrix)) {
    gemm(k, out, inp, weight, { M: B, N: OC, K: C, transB: true, beta: accumulate ? 1 : 0 });
    return;
  }
  check(weight.rows === OC && weight.cols === C, "BAD_SHAPE", `matmulForward: the weight is (${weight.rows}, ${weight.cols}), expected (${OC}, ${C})`);
  qmatmul(k, out, inp, weight, B, { accumulate });
}

// dinp (B,C) += dout·weight, dweight (OC,C) += doutᵀ·inp; dinp may be null.
export function matmulBackward(k: Kernels, dinp: HeapArray | null, dweight: HeapArray, dout: HeapArray, inp: HeapArray,
  weight: Weight, B: number, C: number, OC: number): void {
  check(!(weight instanceof QuantizedMatrix), "UNSUPPORTED", "matmulBackward: quantized weights are for inference; train with f32 weights");
  if (dinp !== null) gemm(k, dinp, dout, weight, { M: B, N: C, K: OC, beta: 1 });
  gemm(k, dweight, dout, inp, { M: OC, N: C, K: B, transA: true, beta: 1 });
}

// dinp (B,C) += dout·W, dweight (OC,C) += doutᵀ·inp, dbias (OC,) += onesᵀ·dout. dinp may be null (the network's
// input needs no gradient); dbias is null when the layer has no bias.
export function linearBackward(k: Kernels, dinp: HeapArray | null, dweight: HeapArray, dbias: HeapArray | null,
  dout: HeapArray, inp: HeapArray, weight: HeapArray, ones: HeapArray, B: number, C: number, OC: number): void {
  checkSizes("linearBackward", B, C, OC);
  matmulBackward(k, dinp, dweight, dout, inp, weight, B, C, OC);
  if (dbias !== null) gemm(k, dbias, ones, dout, { M: 1, N: OC, K: B, beta: 1 });
}

function checkSizes(fn: string, B: number, C: number, OC: number): void {
  check([B, C, OC].every((n) => Number.isInteger(n) && n >= 1), "BAD_SHAPE", `${fn}: B, C and OC must be positive integers, got ${B}, ${C}, ${OC}`);
}
