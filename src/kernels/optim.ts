// Validated wrapper over assembly/optim.ts.
import { check } from "../errors.js";
import type { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";
import { array, finite, options, separate } from "./validate.js";

export interface AdamWOptions {
  /** Learning rate γ (≥ 0). */
  lr: number;
  /** Default 0.9; in [0, 1). */
  beta1?: number;
  /** Default 0.999; in [0, 1). */
  beta2?: number;
  /** Default 1e-8; > 0 so that a parameter with zero gradients never computes 0/0. */
  eps?: number;
  /** Decoupled weight decay λ (≥ 0); default 0.01, as torch.optim.AdamW. */
  weightDecay?: number;
  /** The 1-based step number t used in the bias corrections 1 − β^t. */
  step: number;
}

/**
 * One AdamW step over n parameters, with PyTorch's semantics (torch.optim.AdamW, amsgrad off):
 * p ← p − lr·λ·p, then m ← β1·m + (1 − β1)·g, v ← β2·v + (1 − β2)·g², p ← p − lr·m̂ / (√v̂ + eps) with m̂ = m/(1 − β1^t),
 * v̂ = v/(1 − β2^t). params, m and v are updated in place; all four arrays have n elements and share no memory.
 */
export function adamw(k: Kernels, params: HeapArray<"f32">, grads: HeapArray<"f32">, m: HeapArray<"f32">,
  v: HeapArray<"f32">, opts: AdamWOptions): void {
  const fn = "adamw";
  const o = options(fn, opts);
  const lr = finite(fn, "lr", o.lr, 0);
  const beta1 = finite(fn, "beta1", o.beta1 ?? 0.9, 0);
  const beta2 = finite(fn, "beta2", o.beta2 ?? 0.999, 0);
  check(beta1 < 1 && beta2 < 1, "BAD_ARGUMENT", () => `${fn}: beta1 and beta2 must be below 1, got ${beta1} and ${beta2}`);
  const eps = finite(fn, "eps", o.eps ?? 1e-8);
  check(eps > 0, "BAD_ARGUMENT", () => `${fn}: eps must be > 0, got ${eps}`);
  const weightDecay = finite(fn, "weightDecay", o.weightDecay ?? 0.01, 0);
  const step = o.step;
  check(typeof step === "number" && Number.isInteger(step) && step >= 1 && step < 2 ** 31, "BAD_ARGUMENT",
    () => `${fn}: step must be an integer ≥ 1 (the count of steps taken, this one included), got ${String(step)}`);
  const p = array(k, fn, "params", params, "f32");
  const n = params.length;
  const g = array(k, fn, "grads", grads, "f32", n);
  const pm = array(k, fn, "m", m, "f32", n);
  const pv = array(k, fn, "v", v, "f32", n);
  separate(fn, "params", params, { grads, m, v });
  separate(fn, "grads", grads, { m, v });
  separate(fn, "m", m, { v });
  k.exports.adamw_step(p, g, pm, pv, n, lr, beta1, beta2, eps, weightDecay, step);
}
