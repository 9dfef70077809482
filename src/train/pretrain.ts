import { TinyLMError, check } from "../errors.js";
import { scale } from "../kernels/elementwise.js";
import { headSize } from "../nn/config.js";
import type { Llama } from "../nn/llama.js";
import { AdamW } from "../nn/optim.js";
import { Random } from "../util/random.js";
import { type Batch, type TokenSplits, evenBatches, randomBatch } from "./data.js";
import { learningRate } from "./schedule.js";
import { type TrainStateBase, restoreTrainState, snapshotTrainState } from "./state.js";

export interface PretrainOptions {
  /** Optimizer steps to reach (counting steps already taken when resuming). */
  steps: number;
  /** Sequences per micro-batch. Default 8. */
  batchSize?: number;
  /** Tokens per sequence. Default the model's context length. */
  seqLen?: number;
  /** Micro-batches whose gradients are summed into one step. Default 1. */
  gradAccumulation?: number;
  /** Peak learning rate. Default 3e-3 (small models tolerate large rates). */
  lr?: number;
  /** Default lr / 10. */
  minLr?: number;
  /** Default min(100, steps / 10). */
  warmupSteps?: number;
  /** AdamW decoupled weight decay of the matrices (norm gains get none). Default 0.1. */
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  /** Clip the global gradient norm to this (0 disables). Default 1. */
  gradClip?: number;
  /** Evaluate held-out loss every this many steps (and at the end). Default 100; 0 disables. */
  evalEvery?: number;
  /** Held-out batches per evaluation. Default 8. */
  evalBatches?: number;
  /** Call onCheckpoint every this many steps. Default 0 (never). */
  checkpointEvery?: number;
  /** Seed of the data order. Default 0. */
  seed?: number;
  /** Our GEMM's GFLOP/s on this machine (npm run bench); with it, each log carries model FLOPs utilisation. */
  gemmGflops?: number;
  onStep?: (log: StepLog) => void;
  onEval?: (log: EvalLog) => void;
  onCheckpoint?: (state: TrainState) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface StepLog {
  /** 1-based index of the step just taken. */
  step: number;
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  tokensPerSecond: number;
  /** Model FLOPs per second over gemmGflops (undefined without it). */
  mfu?: number;
}

export interface EvalLog {
  step: number;
  valLoss: number;
  perplexity: number;
}

/** Everything a pretraining run needs to continue exactly where it stopped. */
export interface TrainState extends TrainStateBase {
  history: { train: { step: number; loss: number }[]; val: EvalLog[] };
}

/**
 * Model FLOPs per trained token: 6 per weight that takes part in a matrix product (forward 2, backward 4) plus
 * attention's 12·layers·T·C (PaLM's formula; we compute the full T×T square, so that is also what we do).
 */
export function flopsPerToken(model: Llama, T: number): number {
  const c = model.config;
  const matmulWeights = model.tensors
    .filter((t) => t.shape.length === 2 && (t.name !== "model.embed_tokens.weight" || c.tiedEmbeddings))
    .reduce((n, t) => n + t.size, 0);
  return 6 * matmulWeights + 12 * c.nLayers * T * headSize(c) * c.nHeads;
}

/**
 * Pretrains `model` on next-token prediction over random windows of `data.train`: AdamW, linear warm-up then cosine
 * decay, gradient clipping and accumulation, periodic held-out loss. Resumes exactly from a TrainState (same
 * losses as an uninterrupted run). Returns the final state.
 */
export async function pretrain(model: Llama, data: TokenSplits, options: PretrainOptions, resume?: TrainState): Promise<TrainState> {
  const o = resolve(model, options);
  const { B, T } = o;
  check(data.train.length > T + 1, "BAD_ARGUMENT", `pretrain: ${data.train.length} training tokens are fewer than one window of ${T + 1}`);
  const k = model.k;
  const opt = new AdamW({ lr: o.lr, beta1: options.beta1, beta2: options.beta2, groups: model.parameterGroups(o.weightDecay) });
  let rng = new Random(o.seed);
  let history: TrainState["history"] = { train: [], val: [] };
  let step = 0;
  if (resume) {
    check(Array.isArray(resume.history?.train) && Array.isArray(resume.history.val), "BAD_ARGUMENT",
      "pretrain: the state to resume from has no pretraining history (train and val losses): give a pretraining state, not an SFT one");
    rng = restoreTrainState("pretrain", model, opt, resume);
    step = resume.step;
    history = structuredClone(resume.history);
  }
  const evalSet = o.evalEvery > 0 ? evenBatches(data.val, B, T, o.evalBatches) : [];
  const flops = flopsPerToken(model, T);
  const snapshot = (): TrainState => ({ ...snapshotTrainState(step, model, opt, rng), history: structuredClone(history) });

  while (step < o.steps) {
    if (o.signal?.aborted) throw new TinyLMError("BAD_ARGUMENT", "pretrain: aborted");
    const started = performance.now();
    opt.lr = learningRate(step, { lr: o.lr, minLr: o.minLr, warmupSteps: o.warmupSteps, totalSteps: o.steps });
    model.zeroGrad();
    let loss = 0;
    for (let micro = 0; micro < o.accumulation; micro++) {
      const batch = randomBatch(data.train, B, T, rng);
      loss += model.forward(batch.ids, { B, T, targets: batch.targets }) / o.accumulation;
      model.backward(1 / o.accumulation);
    }
    const gradNorm = clipGradients(model, o.gradClip);
    opt.step(k, model.params, model.grads!);
    step++;
    const seconds = (performance.now() - started) / 1000;
    const tokensPerSecond = (B * T * o.accumulation) / seconds;
    history.train.push({ step, loss });
    o.onStep?.({ step, loss, lr: opt.lr, gradNorm, tokensPerSecond, mfu: o.gemmGflops ? (flops * tokensPerSecond) / (o.gemmGflops * 1e9) : undefined });
    if (o.evalEvery > 0 && (step % o.evalEvery === 0 || step === o.steps)) {
      const valLoss = evaluate(model, evalSet);
      const log = { step, valLoss, perplexity: Math.exp(valLoss) };
      history.val.push(log);
      o.onEval?.(log);
    }
    if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0) await o.onCheckpoint?.(snapshot());
    // Let timers, signals and progress output run between steps.
    await new Promise((r) => setTimeout(r, 0));
  }
  return snapshot();
}

/** Mean loss of `model` over the batches (held-out loss; perplexity is its exp). */
export function evaluate(model: Llama, batches: Batch[]): number {
  check(batches.length > 0, "BAD_ARGUMENT", "evaluate: no batches");
  let sum = 0;
  for (const b of batches) sum += model.forward(b.ids, { B: b.B, T: b.T, targets: b.targets });
  return sum / batches.length;
}

/** Scales the gradients so their global L2 norm is at most maxNorm (0: no clipping); returns the norm before. */
export function clipGradients(model: Llama, maxNorm: number): number {
  const g = model.grads!.view;
  let sum = 0;
  for (let i = 0; i < g.length; i++) sum += g[i] * g[i];
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm)) throw new TinyLMError("NAN", `the gradient norm is ${norm}: training diverged (lower the learning rate)`);
  if (maxNorm > 0 && norm > maxNorm) scale(model.k, model.grads!, maxNorm / norm);
  return norm;
}

function resolve(model: Llama, p: PretrainOptions) {
  check(p !== null && typeof p === "object", "BAD_ARGUMENT", "pretrain: options must be an object");
  const int = (name: string, v: number | undefined, dflt: number, min: number) => {
    const x = v ?? dflt;
    check(Number.isInteger(x) && x >= min, "BAD_ARGUMENT", `pretrain: ${name} must be an integer ≥ ${min}, got ${x}`);
    return x;
  };
  const steps = int("steps", p.steps, NaN, 1);
  const T = int("seqLen", p.seqLen, model.config.contextLength, 1);
  check(T <= model.config.contextLength, "BAD_ARGUMENT", `pretrain: seqLen ${T} exceeds the context length ${model.config.contextLength}`);
  const lr = p.lr ?? 3e-3;
  check(Number.isFinite(lr) && lr > 0, "BAD_ARGUMENT", `pretrain: lr must be positive, got ${lr}`);
  return {
    steps, T, lr,
    B: int("batchSize", p.batchSize, 8, 1),
    accumulation: int("gradAccumulation", p.gradAccumulation, 1, 1),
    minLr: p.minLr ?? lr / 10,
    warmupSteps: int("warmupSteps", p.warmupSteps, Math.min(100, Math.floor(steps / 10)), 0),
    weightDecay: p.weightDecay ?? 0.1,
    gradClip: p.gradClip ?? 1,
    evalEvery: int("evalEvery", p.evalEvery, 100, 0),
    evalBatches: int("evalBatches", p.evalBatches, 8, 1),
    checkpointEvery: int("checkpointEvery", p.checkpointEvery, 0, 0),
    seed: p.seed ?? 0,
    gemmGflops: p.gemmGflops,
    onStep: p.onStep, onEval: p.onEval, onCheckpoint: p.onCheckpoint, signal: p.signal,
  };
}
