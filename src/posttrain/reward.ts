import { TinyLMError, check } from "../errors.js";
import { Llama } from "../nn/llama.js";
import { AdamW } from "../nn/optim.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { clipGradients } from "../train/pretrain.js";
import { Random } from "../util/random.js";
import { ChatTemplate } from "./chat.js";
import { ScalarHead, type ScalarHeadOptions } from "./head.js";
import type { RankingExample } from "./jsonl.js";
import { type PreferenceItem, preferenceBatch, tokenizePreference } from "./preference.js";

// The seed's 奖励建模: a copy of the SFT model whose next-token head is set aside for a scalar head read at the last
// token of prompt + response. It learns from rankings only — "this answer is better than that one" — through the
// Bradley–Terry loss −log σ(r_better − r_worse), so only differences of scores mean anything; the optional centering
// term λ·(r_better + r_worse)² pins their level near 0 (as PPO wants its rewards).

export interface PairwiseOptions {
  /** Required score gap: −log σ(r_better − r_worse − margin). Default 0. */
  margin?: number;
  /** λ of the reward-centering term λ·(r_better + r_worse)². Default 0. */
  centering?: number;
}

/**
 * The InstructGPT ranking loss of one prompt's K scores: the mean over its (better, worse) pairs of
 * −log σ(s_b − s_w − margin) + λ(s_b + s_w)². Returns the loss, dLoss/dscores (K) and how many pairs are ordered right.
 */
export function pairwiseLoss(scores: ArrayLike<number>, pairs: readonly (readonly [number, number])[], options: PairwiseOptions = {}): { loss: number; dscores: Float64Array; correct: number } {
  const K = scores.length, margin = options.margin ?? 0, lambda = options.centering ?? 0;
  check(pairs.length > 0, "BAD_ARGUMENT", "pairwiseLoss: no pairs");
  check(Number.isFinite(margin) && Number.isFinite(lambda) && lambda >= 0, "BAD_ARGUMENT", `pairwiseLoss: margin must be finite and centering ≥ 0, got ${margin} and ${lambda}`);
  const dscores = new Float64Array(K), P = pairs.length;
  let loss = 0, correct = 0;
  for (const [b, w] of pairs) {
    check(Number.isInteger(b) && Number.isInteger(w) && b >= 0 && w >= 0 && b < K && w < K && b !== w, "OUT_OF_RANGE",
      `pairwiseLoss: pair (${b}, ${w}) is not two different indices into ${K} scores`);
    const z = scores[b] - scores[w] - margin, sum = scores[b] + scores[w];
    // −log σ(z) = softplus(−z), written so exp never overflows.
    loss += (Math.max(-z, 0) + Math.log1p(Math.exp(-Math.abs(z))) + lambda * sum * sum) / P;
    const g = -sigmoid(-z) / P, c = (2 * lambda * sum) / P;
    dscores[b] += g + c;
    dscores[w] += -g + c;
    if (scores[b] > scores[w]) correct++;
  }
  if (!Number.isFinite(loss)) throw new TinyLMError("NAN", `pairwiseLoss: the loss is ${loss} (non-finite scores)`);
  return { loss, dscores, correct };
}

/** A transformer body and a scalar head: score(prompt, response) is the head at the response's final token. */
export class RewardModel {
  readonly body: Llama;
  readonly head: ScalarHead;
  readonly tokenizer: Tokenizer;
  readonly template: ChatTemplate;

  constructor(body: Llama, head: ScalarHead, tokenizer: Tokenizer, template: ChatTemplate = new ChatTemplate()) {
    check(body instanceof Llama && head instanceof ScalarHead && head.C === body.config.dim, "BAD_ARGUMENT",
      "RewardModel: give a Llama body and a ScalarHead of its hidden size");
    this.body = body;
    this.head = head;
    this.tokenizer = tokenizer;
    this.template = template;
  }

  /** A reward model initialised from the SFT model: a copy of its parameters (the SFT model is not touched) and a new head. */
  static fromSft(sft: Llama, tokenizer: Tokenizer, options: { template?: ChatTemplate; head?: ScalarHeadOptions } = {}): RewardModel {
    check(sft instanceof Llama, "BAD_ARGUMENT", "RewardModel.fromSft: give the SFT Llama");
    const body = new Llama(sft.k, sft.config, sft.k.f32(sft.params.view));
    return new RewardModel(body, new ScalarHead(sft.k, sft.config.dim, options.head), tokenizer, options.template);
  }

  /** Ranking examples as token rows for this model's template and context. */
  tokenize(examples: readonly RankingExample[]): PreferenceItem[] {
    return tokenizePreference(examples, this.tokenizer, this.template, this.body.config.contextLength);
  }

  /** The scores of one item's responses, in its order. */
  scoreItem(item: PreferenceItem): Float64Array {
    const batch = preferenceBatch(item);
    this.body.forward(batch.ids, { B: batch.B, T: batch.T });
    return this.head.forward(this.body.hidden(), batch.B, batch.T, batch.last);
  }

  /** Scores of responses to one prompt. */
  score(prompt: string, responses: readonly string[]): Float64Array {
    check(Array.isArray(responses) && responses.length >= 1, "BAD_ARGUMENT", "RewardModel.score: give at least one response");
    const rows = responses.map((r) => this.template.encode(this.tokenizer, [{ role: "user", content: prompt }, { role: "assistant", content: r }]));
    rows.forEach((r, i) => check(r.ids.length <= this.body.config.contextLength, "BAD_ARGUMENT",
      `RewardModel.score: responses[${i}] with its prompt is ${r.ids.length} tokens, longer than the context of ${this.body.config.contextLength}`));
    return this.scoreItem({ rows, pairs: [] });
  }

  /**
   * Forward and backward of one item's pairwise loss, times `scale` (1 / prompts per step): accumulates into the
   * body's and the head's gradients (zeroGrad both first). Returns the unscaled loss and the pairs ordered right.
   */
  lossAndBackward(item: PreferenceItem, options: PairwiseOptions = {}, scale = 1): { loss: number; correct: number; pairs: number } {
    const batch = preferenceBatch(item);
    this.body.forward(batch.ids, { B: batch.B, T: batch.T });
    const hidden = this.body.hidden();
    const scores = this.head.forward(hidden, batch.B, batch.T, batch.last);
    const { loss, dscores, correct } = pairwiseLoss(scores, item.pairs, options);
    const dhidden = this.head.backward(dscores.map((d) => d * scale), hidden, batch.B, batch.T, batch.last);
    this.body.backwardFrom({ dhidden });
    return { loss, correct, pairs: item.pairs.length };
  }

  zeroGrad(): void {
    this.body.zeroGrad();
    this.head.zeroGrad();
  }

  free(): void {
    this.body.free();
    this.head.free();
  }
}

export interface RewardTrainOptions extends PairwiseOptions {
  steps: number;
  /** Prompts (each with all its pairs) per step. Default 8. */
  batchSize?: number;
  /** Learning rate of the body. Default 1e-4. The head's is its own optimizer's (ScalarHeadOptions.optimizer). */
  lr?: number;
  /** Global gradient-norm clip of the body (0: none). Default 1. */
  gradClip?: number;
  /** Seed of the example order. Default 0. */
  seed?: number;
  onStep?: (log: RewardStepLog) => void;
  signal?: AbortSignal;
}

export interface RewardStepLog {
  step: number;
  loss: number;
  /** Fraction of this step's pairs the model orders right (before the step). */
  accuracy: number;
  gradNorm: number;
}

/** Trains a reward model in place on ranking examples. */
export async function trainRewardModel(rm: RewardModel, examples: readonly RankingExample[], options: RewardTrainOptions): Promise<RewardStepLog[]> {
  check(options !== null && typeof options === "object", "BAD_ARGUMENT", "trainRewardModel: options must be an object");
  const steps = options.steps, B = options.batchSize ?? 8, lr = options.lr ?? 1e-4;
  check(Number.isInteger(steps) && steps >= 1 && Number.isInteger(B) && B >= 1, "BAD_ARGUMENT",
    `trainRewardModel: steps and batchSize must be positive integers, got ${steps} and ${B}`);
  check(Number.isFinite(lr) && lr > 0, "BAD_ARGUMENT", `trainRewardModel: lr must be positive, got ${lr}`);
  const items = rm.tokenize(examples);
  const rng = new Random(options.seed ?? 0);
  const order = rng.shuffle([...items]);
  const opt = new AdamW({ lr, groups: rm.body.parameterGroups(0) });
  const logs: RewardStepLog[] = [];
  let cursor = 0;
  for (let step = 0; step < steps; step++) {
    if (options.signal?.aborted) throw new TinyLMError("BAD_ARGUMENT", "trainRewardModel: aborted");
    rm.zeroGrad();
    let loss = 0, correct = 0, pairs = 0;
    for (let i = 0; i < B; i++) {
      if (cursor === order.length) {
        rng.shuffle(order);
        cursor = 0;
      }
      const r = rm.lossAndBackward(order[cursor++], options, 1 / B);
      loss += r.loss / B;
      correct += r.correct;
      pairs += r.pairs;
    }
    const gradNorm = clipGradients(rm.body, options.gradClip ?? 1);
    opt.step(rm.body.k, rm.body.params, rm.body.grads!);
    rm.head.step();
    const log = { step: step + 1, loss, accuracy: correct / pairs, gradNorm };
    logs.push(log);
    options.onStep?.(log);
    await new Promise((r) => setTimeout(r, 0));
  }
  return logs;
}

/** Fraction of all (better, worse) pairs of held-out examples that the reward model scores in the right order, and their mean loss. */
export function pairwiseAccuracy(rm: RewardModel, examples: readonly RankingExample[], options: PairwiseOptions = {}): { accuracy: number; pairs: number; loss: number } {
  const items = rm.tokenize(examples);
  let correct = 0, pairs = 0, loss = 0;
  for (const item of items) {
    const r = pairwiseLoss(rm.scoreItem(item), item.pairs, options);
    correct += r.correct;
    pairs += item.pairs.length;
    loss += r.loss / items.length;
  }
  return { accuracy: correct / pairs, pairs, loss };
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}
