import { check } from "../errors.js";
import { sigmoid, sigmoidBackward } from "../kernels/activations.js";
import { HeapArray } from "../kernels/heap.js";
import type { Kernels } from "../kernels/module.js";
import { Random } from "../util/random.js";
import { linearBackward, linearForward } from "./linear.js";
import { mseBackward, mseLoss } from "./loss.js";
import type { Optimizer } from "./optim.js";

export interface MLPOptions {
  /** Layer widths from input to output, at least two: [2, 2, 1] is the seed's 2-2-1 network. */
  sizes: readonly number[];
  /** Whether each layer adds a bias. Default true; the seed's worked example has none. */
  bias?: boolean;
  /** The output layer's activation: "sigmoid" (default, as in the seed) or "linear". Hidden layers are sigmoid. */
  outputActivation?: "sigmoid" | "linear";
  /** The largest batch `forward` accepts; the activation slabs are sized for it. Default 1. */
  maxBatch?: number;
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
}

/** Where layer l's tensors start, in floats, inside the parameter slab and the activation slab. */
interface LayerOffsets {
  C: number; // input width
  OC: number; // output width
  weight: number; // (OC, C) in params / grads
  bias: number; // (OC,) in params / grads, or -1
  z: number; // (maxBatch, OC) pre-activation, in acts / dacts
  a: number; // (maxBatch, OC) post-activation; equals z for a linear output layer
}

/**
 * A multilayer perceptron with sigmoid activations, the network of the seed's 神经网络 section, as a real module: any
 * layer sizes, batches of examples as rows, forward / backward per layer in the style of llm.c's train_gpt2.c.
 *
 * Memory: parameters live in one slab (each layer's weight (OC, C) then its bias (OC,)), gradients in a second slab
 * with the same offsets, activations for `maxBatch` rows in a third and their gradients in a fourth. A checkpoint is
 * one copy of `params` and an optimizer step is one kernel call over the whole slab.
 *
 *     const mlp = new MLP(k, { sizes: [2, 16, 1], maxBatch: 64, seed: 1 });
 *     const y = mlp.forward(x);                  // (B, 1), B = x.length / 2
 *     const loss = mlp.trainStep(x, target, new SGD({ lr: 0.5 }));
 */
export class MLP {
  readonly k: Kernels;
  readonly sizes: readonly number[];
  readonly hasBias: boolean;
  readonly outputActivation: "sigmoid" | "linear";
  readonly maxBatch: number;
  /** Every parameter, layer after layer: weight (OC, C) then bias (OC,). */
  readonly params: HeapArray;
  /** Gradients of the parameters, same layout; accumulated by `backward`, cleared by `zeroGrad`. */
  readonly grads: HeapArray;
  private readonly acts: HeapArray; // ones (maxBatch,), input (maxBatch, sizes[0]), then z and a of each layer
  private readonly dacts: HeapArray; // gradients of the activations, same layout as acts
  private readonly layers: LayerOffsets[];
  private readonly inputOffset: number;
  private lastBatch = 0; // rows of the last forward pass; 0 when backward has nothing to differentiate

  constructor(k: Kernels, options: MLPOptions) {
    const sizes = options?.sizes;
    check(Array.isArray(sizes) && sizes.length >= 2, "BAD_SHAPE", "MLP: sizes must list at least an input and an output width, e.g. [2, 2, 1]");
    check(sizes.every((n) => Number.isInteger(n) && n >= 1), "BAD_SHAPE", `MLP: every layer width must be a positive integer, got [${sizes.join(", ")}]`);
    const maxBatch = options.maxBatch ?? 1;
    check(Number.isInteger(maxBatch) && maxBatch >= 1, "BAD_ARGUMENT", `MLP: maxBatch must be a positive integer, got ${maxBatch}`);
    const outputActivation = options.outputActivation ?? "sigmoid";
    check(outputActivation === "sigmoid" || outputActivation === "linear", "BAD_ARGUMENT", `MLP: outputActivation must be "sigmoid" or "linear", got "${outputActivation}"`);
    const bias = options.bias ?? true;
    check(typeof bias === "boolean", "BAD_ARGUMENT", "MLP: bias must be true or false");
    this.k = k;
    this.sizes = [...sizes];
    this.hasBias = bias;
    this.outputActivation = outputActivation;
    this.maxBatch = maxBatch;

    let nParams = 0;
    let nActs = maxBatch; // the column of ones the bias broadcast multiplies
    this.inputOffset = nActs;
    nActs += maxBatch * sizes[0];
    this.layers = [];
    for (let l = 1; l < sizes.length; l++) {
      const C = sizes[l - 1];
      const OC = sizes[l];
      const weight = nParams;
      nParams += OC * C;
      const biasOffset = bias ? nParams : -1;
      if (bias) nParams += OC;
      const z = nActs;
      nActs += maxBatch * OC;
      const linearOut = l === sizes.length - 1 && outputActivation === "linear";
      const a = linearOut ? z : nActs;
      if (!linearOut) nActs += maxBatch * OC;
      this.layers.push({ C, OC, weight, bias: biasOffset, z, a });
    }
    this.params = k.f32(nParams);
    this.grads = k.f32(nParams);
    this.acts = k.f32(nActs);
    this.dacts = k.f32(nActs);
    this.acts.view.fill(1, 0, maxBatch);
    this.init(options.seed ?? 0);
  }

  /** Number of layers with weights (the 2-2-1 network has 2). */
  get numLayers(): number {
    return this.layers.length;
  }

  get parameterCount(): number {
    return this.params.length;
  }

  /** Layer l's weight (OC, C) inside the parameter slab (l = 0 maps the input to the first hidden layer). */
  weight(l: number): HeapArray {
    const L = this.layer(l);
    return this.params.subarray(L.weight, L.OC * L.C);
  }

  /** Layer l's bias (OC,) inside the parameter slab. */
  bias(l: number): HeapArray {
    const L = this.layer(l);
    check(L.bias >= 0, "BAD_ARGUMENT", "MLP: this network was built with bias: false");
    return this.params.subarray(L.bias, L.OC);
  }

  /** Gradient of layer l's weight (OC, C) inside the gradient slab. */
  weightGrad(l: number): HeapArray {
    const L = this.layer(l);
    return this.grads.subarray(L.weight, L.OC * L.C);
  }

  /** Gradient of layer l's bias (OC,) inside the gradient slab. */
  biasGrad(l: number): HeapArray {
    const L = this.layer(l);
    check(L.bias >= 0, "BAD_ARGUMENT", "MLP: this network was built with bias: false");
    return this.grads.subarray(L.bias, L.OC);
  }

  /**
   * Layer l's activation (sigmoid output, or the linear output layer's z) of the last forward pass, (B, OC).
   * The seed's hidden values h1, h2 are activation(0).
   */
  activation(l: number): HeapArray {
    const L = this.layer(l);
    check(this.lastBatch > 0, "BAD_ARGUMENT", "MLP: no forward pass has run yet");
    return this.acts.subarray(L.a, this.lastBatch * L.OC);
  }

  /** Layer l's pre-activation z = x·Wᵀ + b of the last forward pass, (B, OC). */
  preActivation(l: number): HeapArray {
    const L = this.layer(l);
    check(this.lastBatch > 0, "BAD_ARGUMENT", "MLP: no forward pass has run yet");
    return this.acts.subarray(L.z, this.lastBatch * L.OC);
  }

  /**
   * x is (B, sizes[0]) row-major, B = x.length / sizes[0] ≤ maxBatch: returns the output (B, sizes.at(-1)), a view
   * into the activation slab that the next forward pass overwrites (copy it with toArray() to keep it).
   */
  forward(x: ArrayLike<number> | HeapArray): HeapArray {
    const C0 = this.sizes[0];
    const values = x instanceof HeapArray ? x.view : x;
    check(values !== null && typeof values === "object" && typeof values.length === "number", "BAD_ARGUMENT", "MLP.forward: x must be an array of numbers");
    const B = values.length / C0;
    check(Number.isInteger(B) && B >= 1, "BAD_SHAPE", `MLP.forward: ${values.length} inputs do not split into rows of ${C0}`);
    check(B <= this.maxBatch, "BAD_SHAPE", `MLP.forward: a batch of ${B} rows exceeds maxBatch = ${this.maxBatch}`);
    checkFinite("MLP.forward: x", values);
    this.lastBatch = 0; // a failure below leaves no half-run pass for backward to use
    this.acts.set(values, this.inputOffset);
    const ones = this.acts.subarray(0, B);
    let inp = this.acts.subarray(this.inputOffset, B * C0);
    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];
      const z = this.acts.subarray(L.z, B * L.OC);
      const bias = L.bias >= 0 ? this.params.subarray(L.bias, L.OC) : null;
      linearForward(this.k, z, inp, this.params.subarray(L.weight, L.OC * L.C), bias, ones, B, L.C, L.OC);
      inp = z;
      if (L.a !== L.z) {
        inp = this.acts.subarray(L.a, B * L.OC);
        sigmoid(this.k, inp, z);
      }
    }
    this.lastBatch = B;
    return inp;
  }

  /**
   * Backpropagates dout = ∂loss/∂output, (B, sizes.at(-1)) for the last forward pass's B, and ADDS the parameter
   * gradients to `grads` (call zeroGrad first, or accumulate over micro-batches on purpose).
   */
  backward(dout: ArrayLike<number>): void {
    const B = this.lastBatch;
    check(B > 0, "BAD_ARGUMENT", "MLP.backward: run forward first");
    const last = this.layers[this.layers.length - 1];
    check(dout !== null && typeof dout === "object" && dout.length === B * last.OC, "BAD_SHAPE",
      `MLP.backward: dout must hold ${B}×${last.OC} = ${B * last.OC} values (the last forward's output), got ${dout?.length}`);
    checkFinite("MLP.backward: dout", dout);
    // Every activation gradient below is accumulated (+=), as in llm.c, so the slab starts from zero.
    this.dacts.view.fill(0);
    this.dacts.set(dout, last.a);
    const ones = this.acts.subarray(0, B);
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const L = this.layers[l];
      const dz = this.dacts.subarray(L.z, B * L.OC);
      if (L.a !== L.z) sigmoidBackward(this.k, dz, this.acts.subarray(L.a, B * L.OC), this.dacts.subarray(L.a, B * L.OC));
      const inpOffset = l === 0 ? this.inputOffset : this.layers[l - 1].a;
      const dinp = l === 0 ? null : this.dacts.subarray(inpOffset, B * L.C);
      const dbias = L.bias >= 0 ? this.grads.subarray(L.bias, L.OC) : null;
      linearBackward(this.k, dinp, this.grads.subarray(L.weight, L.OC * L.C), dbias, dz,
        this.acts.subarray(inpOffset, B * L.C), this.params.subarray(L.weight, L.OC * L.C), ones, B, L.C, L.OC);
    }
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    this.grads.view.fill(0);
  }

  /** Applies one optimizer step to the whole parameter slab. */
  step(optimizer: Optimizer): void {
    check(optimizer !== null && typeof optimizer?.step === "function", "BAD_ARGUMENT", "MLP.step: expected an optimizer such as new SGD({ lr })");
    optimizer.step(this.k, this.params, this.grads);
  }

  /** One training step on the MSE loss: forward, loss, zeroGrad, backward, optimizer step. Returns the loss before the step. */
  trainStep(x: ArrayLike<number> | HeapArray, target: ArrayLike<number>, optimizer: Optimizer): number {
    const y = this.forward(x).view;
    const B = this.lastBatch;
    const loss = mseLoss(y, target, B);
    const dout = new Float32Array(y.length);
    mseBackward(dout, y, target, B);
    this.zeroGrad();
    this.backward(dout);
    this.step(optimizer);
    return loss;
  }

  /** Returns the heap memory of all four slabs; the module is unusable afterwards. */
  free(): void {
    for (const a of [this.params, this.grads, this.acts, this.dacts]) a.free();
  }

  // Glorot (Xavier) normal weights, std = √(2 / (C + OC)): keeps the sigmoid's inputs in its non-flat range at the
  // start whatever the widths. Biases start at zero.
  private init(seed: number): void {
    const rng = new Random(seed);
    const p = this.params.view;
    for (const L of this.layers) {
      const std = Math.sqrt(2 / (L.C + L.OC));
      for (let i = 0; i < L.OC * L.C; i++) p[L.weight + i] = rng.normal(0, std);
    }
  }

  private layer(l: number): LayerOffsets {
    check(Number.isInteger(l) && l >= 0 && l < this.layers.length, "OUT_OF_RANGE", `MLP: layer ${l} does not exist; this network has layers 0..${this.layers.length - 1}`);
    return this.layers[l];
  }
}

function checkFinite(what: string, values: ArrayLike<number>): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) check(false, "NAN", `${what}[${i}] is ${values[i]}; every value must be finite`);
  }
}
