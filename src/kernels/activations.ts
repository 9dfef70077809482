// Validated wrappers over assembly/activations.ts. Each takes the Kernels object, then arrays of its heap (outputs
// first, inputs next), then an options object for sizes and settings; it checks every length, size and option and
// throws TinyLMError before any pointer reaches the wasm. Hot paths that have already checked their shapes call
// k.exports.* directly with pointers (see KernelExports in module.ts).
import type { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";
import { array, disjoint } from "./validate.js";

type F32 = HeapArray<"f32">;

/** out = e^inp elementwise (the exp softmax, sigmoid, SiLU and cross-entropy share; ≤ 1 ulp, see assembly/). */
export function exp(k: Kernels, out: F32, inp: F32): void {
  const i = array(k, "exp", "inp", inp, "f32");
  const n = inp.length;
  const o = array(k, "exp", "out", out, "f32", n);
  disjoint("exp", { out, inp });
  k.exports.vec_exp(o, i, n);
}

/** out = σ(inp) = 1 / (1 + e^−inp) elementwise; out and inp have equal lengths (out may be inp). */
export function sigmoid(k: Kernels, out: F32, inp: F32): void {
  const i = array(k, "sigmoid", "inp", inp, "f32");
  const n = inp.length;
  const o = array(k, "sigmoid", "out", out, "f32", n);
  disjoint("sigmoid", { out, inp });
  k.exports.sigmoid_forward(o, i, n);
}

/** dinp += dout · out · (1 − out), from the saved forward output out = σ(inp). All four lengths are equal. */
export function sigmoidBackward(k: Kernels, dinp: F32, out: F32, dout: F32): void {
  const o = array(k, "sigmoidBackward", "out", out, "f32");
  const n = out.length;
  const d = array(k, "sigmoidBackward", "dinp", dinp, "f32", n);
  const g = array(k, "sigmoidBackward", "dout", dout, "f32", n);
  disjoint("sigmoidBackward", { dinp, out, dout });
  k.exports.sigmoid_backward(d, o, g, n);
}

// The elementwise ops live in elementwise.ts; they are re-exported here because layers that use the activations
// (src/nn) usually need them too.
export { add, scale, axpy } from "./elementwise.js";
