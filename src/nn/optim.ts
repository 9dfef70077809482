import { check } from "../errors.js";
import { axpy } from "../kernels/elementwise.js";
import type { HeapArray } from "../kernels/heap.js";
import type { Kernels } from "../kernels/module.js";

/**
 * Updates a model's whole parameter slab from its whole gradient slab. Because parameters and gradients each live in
 * one contiguous region, an optimizer is one kernel call per step whatever the model's shape; one that keeps state
 * (AdamW's moments) allocates slabs of the same length on its first step.
 */
export interface Optimizer {
  // params and grads are (n,): params ← update(params, grads).
  step(k: Kernels, params: HeapArray, grads: HeapArray): void;
}

/** Plain stochastic gradient descent: params −= lr·grads. */
export class SGD implements Optimizer {
  lr: number;

  constructor(options: { lr: number }) {
    check(Number.isFinite(options?.lr) && options.lr > 0, "BAD_ARGUMENT", `SGD: the learning rate must be a positive number, got ${options?.lr}`);
    this.lr = options.lr;
  }

  step(k: Kernels, params: HeapArray, grads: HeapArray): void {
    check(params.length === grads.length, "BAD_SHAPE", `SGD: ${params.length} parameters but ${grads.length} gradients`);
    axpy(k, params, -this.lr, grads);
  }
}
