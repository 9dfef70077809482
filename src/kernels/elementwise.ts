// Validated wrappers over assembly/elementwise.ts: f32 arrays of equal length, outputs first.
import type { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";
import { array, disjoint, finite } from "./validate.js";

type F32 = HeapArray<"f32">;

/** out = a + b elementwise; all three have equal lengths (out may be a or b). */
export function add(k: Kernels, out: F32, a: F32, b: F32): void {
  const pa = array(k, "add", "a", a, "f32");
  const n = a.length;
  const pb = array(k, "add", "b", b, "f32", n);
  const po = array(k, "add", "out", out, "f32", n);
  disjoint("add", { out, a, b });
  k.exports.vec_add(po, pa, pb, n);
}

/** x *= alpha in place. */
export function scale(k: Kernels, x: F32, alpha: number): void {
  const px = array(k, "scale", "x", x, "f32");
  k.exports.vec_scale(px, finite("scale", "alpha", alpha), x.length);
}

/** y += alpha·x; x and y have equal lengths. */
export function axpy(k: Kernels, y: F32, alpha: number, x: F32): void {
  const px = array(k, "axpy", "x", x, "f32");
  const py = array(k, "axpy", "y", y, "f32", x.length);
  disjoint("axpy", { y, x });
  k.exports.vec_axpy(py, finite("axpy", "alpha", alpha), px, x.length);
}
