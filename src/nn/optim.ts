import { check } from "../errors.js";
import { axpy } from "../kernels/elementwise.js";
import { adamw } from "../kernels/optim.js";
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

/** A contiguous run of the parameter slab with its own weight decay (norm gains and biases usually get none). */
export interface ParamGroup {
  offset: number;
  size: number;
  weightDecay: number;
}

export interface AdamWConfig {
  lr: number;
  /** Default 0.9. */
  beta1?: number;
  /** Default 0.95 (the value LLM pretraining uses; PyTorch's default is 0.999). */
  beta2?: number;
  /** Default 1e-8. */
  eps?: number;
  /** Decoupled weight decay for parameters outside `groups`. Default 0.1. */
  weightDecay?: number;
  /** Runs of the slab with their own decay, e.g. Llama.parameterGroups(); default: the whole slab at weightDecay. */
  groups?: ParamGroup[];
}

/**
 * AdamW (PyTorch semantics) over a whole parameter slab. Its two moment slabs are allocated on the first step;
 * `state()` / `loadState()` carry them through a checkpoint so a resumed run takes exactly the same steps.
 */
export class AdamW implements Optimizer {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly groups: ParamGroup[] | undefined;
  private moments: { m: HeapArray; v: HeapArray } | null = null;
  /** Steps taken so far. */
  t = 0;

  constructor(config: AdamWConfig) {
    check(Number.isFinite(config?.lr) && config.lr >= 0, "BAD_ARGUMENT", `AdamW: lr must be a non-negative number, got ${config?.lr}`);
    this.lr = config.lr;
    this.beta1 = config.beta1 ?? 0.9;
    this.beta2 = config.beta2 ?? 0.95;
    this.eps = config.eps ?? 1e-8;
    this.weightDecay = config.weightDecay ?? 0.1;
    this.groups = config.groups;
  }

  step(k: Kernels, params: HeapArray, grads: HeapArray): void {
    check(params.length === grads.length, "BAD_SHAPE", `AdamW: ${params.length} parameters but ${grads.length} gradients`);
    if (this.moments === null) this.moments = { m: k.f32(params.length), v: k.f32(params.length) };
    const { m, v } = this.moments;
    check(m.length === params.length, "BAD_SHAPE", `AdamW: the optimizer state holds ${m.length} values, the model ${params.length}`);
    this.t++;
    const groups = this.groups ?? [{ offset: 0, size: params.length, weightDecay: this.weightDecay }];
    const settings = { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, step: this.t };
    for (const g of groups) {
      const part = (a: HeapArray) => a.subarray(g.offset, g.size);
      adamw(k, part(params), part(grads), part(m), part(v), { ...settings, weightDecay: g.weightDecay });
    }
  }

  /** Step count and moment slabs, as copies (for a checkpoint). */
  state(): { t: number; m: Float32Array; v: Float32Array } | null {
    return this.moments && { t: this.t, m: this.moments.m.toArray(), v: this.moments.v.toArray() };
  }

  /** Restores `state()` output; the moments are copied onto k's heap. */
  loadState(k: Kernels, state: { t: number; m: Float32Array; v: Float32Array }): void {
    check(Number.isInteger(state.t) && state.t >= 0 && state.m.length === state.v.length, "BAD_ARGUMENT", "AdamW.loadState: malformed optimizer state");
    this.moments?.m.free();
    this.moments?.v.free();
    this.moments = { m: k.f32(state.m), v: k.f32(state.v) };
    this.t = state.t;
  }
}
