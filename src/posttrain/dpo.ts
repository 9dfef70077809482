import { TinyLMError, check } from "../errors.js";
import type { Llama } from "../nn/llama.js";
import { AdamW } from "../nn/optim.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { clipGradients } from "../train/pretrain.js";
import { Random } from "../util/random.js";
import { ChatTemplate } from "./chat.js";
import type { RankingExample } from "./jsonl.js";
import { tokenLogProbs, tokenLogProbsBackward } from "./logprobs.js";
import { type PreferenceItem, preferenceBatch, tokenizePreference } from "./preference.js";
import { type EvalItem, type ExactMatchResult, exactMatch } from "./sft.js";

// Direct Preference Optimization (Rafailov et al. 2023): the same ranking files as the reward model, but no reward
// model and no sampling. The policy's implicit reward of a response is β·(log π(y) − log π_ref(y)), summed over the
// response's tokens, and the Bradley–Terry loss is applied to it directly: −log σ(β[(log π(y_w) − log π_ref(y_w)) −
// (log π(y_l) − log π_ref(y_l))]). The frozen reference (the SFT model) keeps the policy from drifting anywhere the
// rankings say nothing about.

/**
 * The DPO loss of one prompt's K responses from their summed log-probabilities under the policy and the reference:
 * mean over its (better, worse) pairs. Returns the loss, dLoss/dpolicyLogp (K), pairs whose implicit reward is ordered
 * right, and the mean implicit reward margin β·(Δ_better − Δ_worse).
 */
export function dpoLoss(policyLogp: ArrayLike<number>, refLogp: ArrayLike<number>, pairs: readonly (readonly [number, number])[], beta: number): { loss: number; dlogp: Float64Array; correct: number; margin: number } {
  const K = policyLogp.length;
  check(refLogp.length === K, "BAD_SHAPE", `dpoLoss: ${K} policy log-probs but ${refLogp.length} reference ones`);
  check(Number.isFinite(beta) && beta > 0, "BAD_ARGUMENT", `dpoLoss: beta must be positive, got ${beta}`);
  check(pairs.length > 0, "BAD_ARGUMENT", "dpoLoss: no pairs");
  const dlogp = new Float64Array(K), P = pairs.length;
  let loss = 0, correct = 0, margin = 0;
  for (const [b, w] of pairs) {
    check(Number.isInteger(b) && Number.isInteger(w) && b >= 0 && w >= 0 && b < K && w < K && b !== w, "OUT_OF_RANGE",
      `dpoLoss: pair (${b}, ${w}) is not two different indices into ${K} responses`);
    const z = beta * ((policyLogp[b] - refLogp[b]) - (policyLogp[w] - refLogp[w]));
    loss += (Math.max(-z, 0) + Math.log1p(Math.exp(-Math.abs(z)))) / P;
    const g = (-beta * (z >= 0 ? Math.exp(-z) / (1 + Math.exp(-z)) : 1 / (1 + Math.exp(z)))) / P;
    dlogp[b] += g;
    dlogp[w] -= g;
    if (z > 0) correct++;
    margin += z / P;
  }
  if (!Number.isFinite(loss)) throw new TinyLMError("NAN", `dpoLoss: the loss is ${loss} (non-finite log-probabilities)`);
  return { loss, dlogp, correct, margin };
}

/** Each row's summed log-probability of its answer tokens (the batch's targets that are not −1), from a forward pass. */
export function sequenceLogProbs(model: Llama, item: PreferenceItem): Float64Array {
  const batch = preferenceBatch(item);
  model.forward(batch.ids, { B: batch.B, T: batch.T });
  return rowSums(tokenLogProbs(model.logits(), batch.targets, model.config.vocabSize), batch.B, batch.T);
}

/**
 * Forward and backward of one item's DPO loss for `policy`, times `scale`; refLogp are the reference's
 * sequenceLogProbs of the same item. Accumulates into policy.grads (zeroGrad first).
 */
export function dpoLossAndBackward(policy: Llama, item: PreferenceItem, refLogp: ArrayLike<number>, beta: number, scale = 1): { loss: number; correct: number; margin: number; pairs: number } {
  const batch = preferenceBatch(item), V = policy.config.vocabSize;
  policy.forward(batch.ids, { B: batch.B, T: batch.T });
  const logits = policy.logits();
  const logp = rowSums(tokenLogProbs(logits, batch.targets, V), batch.B, batch.T);
  const r = dpoLoss(logp, refLogp, item.pairs, beta);
  const dtok = new Float64Array(batch.B * batch.T);
  for (let b = 0; b < batch.B; b++) for (let t = 0; t < batch.T; t++) dtok[b * batch.T + t] = r.dlogp[b] * scale;
  const dlogits = new Float32Array(logits.length);
  tokenLogProbsBackward(dlogits, dtok, logits, batch.targets, V);
  policy.backwardFrom({ dlogits });
  return { loss: r.loss, correct: r.correct, margin: r.margin, pairs: item.pairs.length };
}

export interface DpoOptions {
  steps: number;
  /** Prompts (each with all its pairs) per step. Default 8. */
  batchSize?: number;
  /** Default 1e-4. */
  lr?: number;
  /** Strength of the tie to the reference. Default 0.1 (the paper's and TRL's). */
  beta?: number;
  /** Global gradient-norm clip (0: none). Default 1. */
  gradClip?: number;
  seed?: number;
  template?: ChatTemplate;
  /** Held-out questions: exact-match accuracy of greedy answers after training. */
  eval?: readonly EvalItem[];
  isRight?: (output: string, answer: string) => boolean;
  onStep?: (log: DpoStepLog) => void;
  signal?: AbortSignal;
}

export interface DpoStepLog {
  step: number;
  loss: number;
  /** Fraction of this step's pairs whose implicit reward is ordered right (before the step). */
  accuracy: number;
  /** Mean β·(Δ_better − Δ_worse) of this step's pairs. */
  margin: number;
  gradNorm: number;
}

/**
 * DPO of `policy` in place (initialise it from the SFT model) against a frozen `reference` (the SFT model, read only).
 * The reference's log-probabilities are computed once, before the first step.
 */
export async function dpo(policy: Llama, reference: Llama, tok: Tokenizer, examples: readonly RankingExample[], options: DpoOptions): Promise<{ train: DpoStepLog[]; eval?: ExactMatchResult }> {
  check(options !== null && typeof options === "object", "BAD_ARGUMENT", "dpo: options must be an object");
  check(policy !== reference, "BAD_ARGUMENT", "dpo: the policy and the reference must be different models (copy the SFT model for the policy)");
  check(policy.config.vocabSize === reference.config.vocabSize, "BAD_ARGUMENT", "dpo: the policy and the reference have different vocabularies");
  const steps = options.steps, B = options.batchSize ?? 8, lr = options.lr ?? 1e-4, beta = options.beta ?? 0.1;
  check(Number.isInteger(steps) && steps >= 1 && Number.isInteger(B) && B >= 1, "BAD_ARGUMENT", `dpo: steps and batchSize must be positive integers, got ${steps} and ${B}`);
  check(Number.isFinite(lr) && lr > 0, "BAD_ARGUMENT", `dpo: lr must be positive, got ${lr}`);
  const template = options.template ?? new ChatTemplate();
  const items = tokenizePreference(examples, tok, template, Math.min(policy.config.contextLength, reference.config.contextLength));
  const refLogps = new Map(items.map((item) => [item, sequenceLogProbs(reference, item)]));
  const rng = new Random(options.seed ?? 0);
  const order = rng.shuffle([...items]);
  const opt = new AdamW({ lr, groups: policy.parameterGroups(0) });
  const train: DpoStepLog[] = [];
  let cursor = 0;
  for (let step = 0; step < steps; step++) {
    if (options.signal?.aborted) throw new TinyLMError("BAD_ARGUMENT", "dpo: aborted");
    policy.zeroGrad();
    let loss = 0, correct = 0, pairs = 0, margin = 0;
    for (let i = 0; i < B; i++) {
      if (cursor === order.length) {
        rng.shuffle(order);
        cursor = 0;
      }
      const item = order[cursor++];
      const r = dpoLossAndBackward(policy, item, refLogps.get(item)!, beta, 1 / B);
      loss += r.loss / B;
      margin += r.margin / B;
      correct += r.correct;
      pairs += r.pairs;
    }
    const gradNorm = clipGradients(policy, options.gradClip ?? 1);
    opt.step(policy.k, policy.params, policy.grads!);
    const log = { step: step + 1, loss, accuracy: correct / pairs, margin, gradNorm };
    train.push(log);
    options.onStep?.(log);
    await new Promise((r) => setTimeout(r, 0));
  }
  if (!options.eval || options.eval.length === 0) return { train };
  return { train, eval: await exactMatch(policy, tok, options.eval, { template, isRight: options.isRight, signal: options.signal }) };
}

// (B·T) per-token values → (B) row sums.
function rowSums(values: Float64Array, B: number, T: number): Float64Array {
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) out[b] += values[b * T + t];
  return out;
}
