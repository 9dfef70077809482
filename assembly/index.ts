// The kernel ABI: every export takes byte offsets into this module's linear memory and sizes, allocates nothing,
// and documents its shapes in a one-line comment. The TypeScript twins in src/kernels/ check shapes and own memory.
export { sgemm, sgemm_workspace_floats, dot } from "./gemm";
export {
  vec_exp, sigmoid_forward, sigmoid_backward, silu_forward, silu_backward, swiglu_forward, swiglu_backward,
  softmax_forward, softmax_backward, log_softmax_forward, crossentropy_forward, rmsnorm_forward, rmsnorm_backward,
} from "./activations";
export { adamw_step } from "./optim";
export { attention_forward, attention_backward } from "./attention";
export { rope } from "./rope";
export { embedding_forward, embedding_backward } from "./embedding";
export { vec_add, vec_scale, vec_axpy } from "./elementwise";
export { bpe_merge_batch, bpe_work_ints, bpe_gather } from "./bpe";
export { quantize_rows, dequantize_rows, quant_pack, quant_unpack, packed_row_bytes, qmatmul, qmatmul_work_bytes } from "./quant";

/** First byte after static data; the TypeScript heap hands out memory from here. */
export function heap_base(): usize {
  return __heap_base;
}
