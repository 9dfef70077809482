import { TinyLMError, check } from "../errors.js";
import { f32Tensor, readSafetensors, tensorToF32, writeSafetensors } from "../io/safetensors.js";
import type { HeapArray } from "../kernels/heap.js";
import type { Kernels } from "../kernels/module.js";
import { AdamW, type AdamWConfig } from "../nn/optim.js";
import { Random } from "../util/random.js";

// A linear map from a transformer's final hidden state to one number: the reward model's score (read at the last
// token of prompt + response) and PPO's value head (read at every position). It sits on Llama.hidden() and hands its
// gradient back through Llama.backwardFrom({ dhidden }), so the body is the same code in every stage.
// The dot products are C long and there are B or B·T of them per step: plain JS, far below the body's cost.

/** Hidden states as Llama.hidden() returns them, or a heap array holding the same values. */
export type HiddenStates = Float32Array | Float64Array | HeapArray;

export interface ScalarHeadOptions {
  /** Standard deviation of the initial weights (the bias starts at 0). Default 0 (every score starts at 0). */
  std?: number;
  /** Seed of the initial weights. Default 0. */
  seed?: number;
  /** The head's own AdamW (weight decay applies to the weights, never the bias). Default lr 1e-3, decay 0. */
  optimizer?: Omit<AdamWConfig, "groups">;
}

/** score = w·h + b for a hidden state h of C values; weights and bias in one (C + 1) heap array, w first. */
export class ScalarHead {
  readonly k: Kernels;
  readonly C: number;
  /** (C + 1,): the weights, then the bias. */
  readonly params: HeapArray;
  /** Same layout; backward() accumulates into it, zeroGrad() clears it. */
  readonly grads: HeapArray;
  readonly optimizer: AdamW;

  constructor(k: Kernels, C: number, options: ScalarHeadOptions = {}) {
    check(Number.isInteger(C) && C >= 1, "BAD_SHAPE", `ScalarHead: the hidden size must be a positive integer, got ${C}`);
    const std = options.std ?? 0;
    check(Number.isFinite(std) && std >= 0, "BAD_ARGUMENT", `ScalarHead: std must be a non-negative number, got ${std}`);
    this.k = k;
    this.C = C;
    this.params = k.f32(C + 1);
    this.grads = k.f32(C + 1);
    if (std > 0) {
      const rng = new Random(options.seed ?? 0);
      const w = this.params.view;
      for (let c = 0; c < C; c++) w[c] = rng.normal(0, std);
    }
    const opt = options.optimizer ?? { lr: 1e-3 };
    const decay = opt.weightDecay ?? 0;
    this.optimizer = new AdamW({ ...opt, weightDecay: decay, groups: [{ offset: 0, size: C, weightDecay: decay }, { offset: C, size: 1, weightDecay: 0 }] });
  }

  /** Scores of B rows of (B, T, C) hidden states, row b read at position positions[b] (e.g. its last token). */
  forward(hidden: HiddenStates, B: number, T: number, positions: ArrayLike<number>): Float64Array {
    const h = this.checkPositions("forward", hidden, B, T, positions);
    const out = new Float64Array(B);
    for (let b = 0; b < B; b++) out[b] = this.score(h, (b * T + positions[b]) * this.C);
    return out;
  }

  /** One score per row of (rows, C) hidden states, e.g. a value at every position of a (B, T, C) batch. */
  forwardAll(hidden: HiddenStates): Float64Array {
    const h = this.checkRows("forwardAll", hidden);
    const rows = h.length / this.C, out = new Float64Array(rows);
    for (let r = 0; r < rows; r++) out[r] = this.score(h, r * this.C);
    return out;
  }

  /**
   * Accumulates dLoss/d(w, b) from dscores (B,) of forward(); returns dLoss/dhidden (B·T·C, zero except the read
   * positions), ready for Llama.backwardFrom({ dhidden }).
   */
  backward(dscores: ArrayLike<number>, hidden: HiddenStates, B: number, T: number, positions: ArrayLike<number>): Float32Array {
    const h = this.checkPositions("backward", hidden, B, T, positions);
    check(dscores.length === B, "BAD_SHAPE", `ScalarHead.backward: dscores must hold B = ${B} values, got ${dscores.length}`);
    const dhidden = new Float32Array(B * T * this.C);
    for (let b = 0; b < B; b++) this.backwardRow(dhidden, dscores[b], h, (b * T + positions[b]) * this.C, "backward", b);
    return dhidden;
  }

  /** backward() of forwardAll(): dscores (rows,), returns dhidden (rows·C). */
  backwardAll(dscores: ArrayLike<number>, hidden: HiddenStates): Float32Array {
    const h = this.checkRows("backwardAll", hidden);
    const rows = h.length / this.C;
    check(dscores.length === rows, "BAD_SHAPE", `ScalarHead.backwardAll: dscores must hold one value per row (${rows}), got ${dscores.length}`);
    const dhidden = new Float32Array(h.length);
    for (let r = 0; r < rows; r++) this.backwardRow(dhidden, dscores[r], h, r * this.C, "backwardAll", r);
    return dhidden;
  }

  zeroGrad(): void {
    this.grads.view.fill(0);
  }

  /** One AdamW step of the head's own parameters from its accumulated gradient. */
  step(): void {
    this.optimizer.step(this.k, this.params, this.grads);
  }

  /** The weights as a small safetensors file: "score.weight" (1, C) and "score.bias" (1,), HF's naming. */
  save(): Uint8Array {
    const v = this.params.view;
    return writeSafetensors({ "score.weight": f32Tensor([1, this.C], v.slice(0, this.C)), "score.bias": f32Tensor([1], v.slice(this.C)) }, { format: "pt" });
  }

  /** A head from save()'s bytes, on k's heap. */
  static load(k: Kernels, bytes: Uint8Array, options: Omit<ScalarHeadOptions, "std" | "seed"> = {}): ScalarHead {
    // A plain copy: a Node Buffer's slice() is a view into a shared pool, which tensorToF32 would read past.
    const file = readSafetensors(new Uint8Array(bytes));
    const w = file.tensors.get("score.weight"), b = file.tensors.get("score.bias");
    check(w !== undefined && b !== undefined, "BAD_FILE", "ScalarHead.load: the file needs tensors \"score.weight\" and \"score.bias\"");
    const C = w.shape[w.shape.length - 1];
    check(w.shape.length === 2 && w.shape[0] === 1 && b.shape.length === 1 && b.shape[0] === 1, "BAD_FILE",
      `ScalarHead.load: expected score.weight [1, C] and score.bias [1], got [${w.shape}] and [${b.shape}]`);
    const head = new ScalarHead(k, C, options);
    head.params.set(tensorToF32(w), 0);
    head.params.set(tensorToF32(b), C);
    return head;
  }

  free(): void {
    this.params.free();
    this.grads.free();
  }

  private score(h: ArrayLike<number>, at: number): number {
    const w = this.params.view, C = this.C;
    let s = w[C];
    for (let c = 0; c < C; c++) s += w[c] * h[at + c];
    if (!Number.isFinite(s)) throw new TinyLMError("NAN", `ScalarHead: a score is ${s} (non-finite hidden states or weights)`);
    return s;
  }

  private backwardRow(dhidden: Float32Array, g: number, h: ArrayLike<number>, at: number, fn: string, row: number): void {
    check(Number.isFinite(g), "NAN", `ScalarHead.${fn}: dscores[${row}] is ${g}`);
    if (g === 0) return;
    const w = this.params.view, dw = this.grads.view, C = this.C;
    for (let c = 0; c < C; c++) {
      dw[c] += g * h[at + c];
      dhidden[at + c] += g * w[c];
    }
    dw[C] += g;
  }

  private values(hidden: HiddenStates): ArrayLike<number> {
    return hidden instanceof Float32Array || hidden instanceof Float64Array ? hidden : hidden.view;
  }

  private checkPositions(fn: string, hidden: HiddenStates, B: number, T: number, positions: ArrayLike<number>): ArrayLike<number> {
    check(Number.isInteger(B) && B >= 1 && Number.isInteger(T) && T >= 1, "BAD_SHAPE", `ScalarHead.${fn}: B and T must be positive integers, got ${B} and ${T}`);
    const h = this.values(hidden);
    check(h.length === B * T * this.C, "BAD_SHAPE", `ScalarHead.${fn}: hidden holds ${h.length} values, expected B·T·C = ${B}·${T}·${this.C}`);
    check(positions.length === B, "BAD_SHAPE", `ScalarHead.${fn}: give one position per batch row (${B}), got ${positions.length}`);
    for (let b = 0; b < B; b++) {
      const p = positions[b];
      check(Number.isInteger(p) && p >= 0 && p < T, "OUT_OF_RANGE", `ScalarHead.${fn}: positions[${b}] = ${p} is not in [0, ${T})`);
    }
    return h;
  }

  private checkRows(fn: string, hidden: HiddenStates): ArrayLike<number> {
    const h = this.values(hidden);
    check(h.length > 0 && h.length % this.C === 0, "BAD_SHAPE", `ScalarHead.${fn}: hidden holds ${h.length} values, not a positive multiple of C = ${this.C}`);
    return h;
  }
}
