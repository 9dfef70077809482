import { check } from "../errors.js";
import type { Llama } from "../nn/llama.js";
import type { AdamW } from "../nn/optim.js";
import { Random } from "../util/random.js";

/** AdamW's step count and moment slabs (AdamW.state()). */
export interface AdamWState {
  t: number;
  m: Float32Array;
  v: Float32Array;
}

/**
 * What every training loop carries through a stop to continue bit for bit: its step, the parameters, AdamW's moments
 * and the data-order generator. Each loop's own state extends it with its history and data cursor (pretrain's
 * TrainState, sft's SftState); the file format of all of them is src/io/checkpoint.ts's training state file.
 */
export interface TrainStateBase {
  /** Optimizer steps taken. */
  step: number;
  params: Float32Array;
  /** Null before the first step (AdamW allocates its moments then). */
  optimizer: AdamWState | null;
  /** The data-order generator (Random.state()). */
  rng: [number, number, number, number];
}

/** The loop's common state at `step`, as copies (the caller adds its own fields). */
export function snapshotTrainState(step: number, model: Llama, opt: AdamW, rng: Random): TrainStateBase {
  return { step, params: model.params.toArray(), optimizer: opt.state(), rng: rng.state() };
}

/**
 * Puts a saved state's parameters into `model` and its moments into `opt`, after checking that they fit; returns the
 * data-order generator to continue with. `who` names the loop in the messages.
 */
export function restoreTrainState(who: string, model: Llama, opt: AdamW, state: TrainStateBase): Random {
  check(state !== null && typeof state === "object" && state.params instanceof Float32Array, "BAD_ARGUMENT", `${who}: the state to resume from has no parameters`);
  check(Number.isInteger(state.step) && state.step >= 0, "BAD_ARGUMENT", `${who}: the state's step must be a non-negative integer, got ${state.step}`);
  const n = model.params.length;
  check(state.params.length === n, "BAD_SHAPE", `${who}: the state holds ${state.params.length} parameters, this model has ${n}: it was saved from another model`);
  if (state.optimizer) {
    const { m, v } = state.optimizer;
    check(m instanceof Float32Array && v instanceof Float32Array && m.length === n && v.length === n, "BAD_SHAPE",
      `${who}: the state's AdamW moments do not hold one value per parameter (${n})`);
  }
  check(Array.isArray(state.rng), "BAD_ARGUMENT", `${who}: the state has no data-order generator state`);
  // Every check before the first change, so a rejected state leaves the model and optimizer as they were.
  const rng = Random.fromState(state.rng);
  if (state.optimizer) opt.loadState(model.k, state.optimizer);
  model.params.set(state.params);
  return rng;
}
