import { TinyLMError, check } from "../errors.js";
import { generateAll } from "../generate/generate.js";
import { Llama } from "../nn/llama.js";
import { AdamW } from "../nn/optim.js";
import { clipGradients } from "../train/pretrain.js";
import { Random } from "../util/random.js";
import { ScalarHead } from "./head.js";
import { tokenLogProbs, tokenLogProbsBackward } from "./logprobs.js";

// The seed's 强化学习 step: the fine-tuned model answers prompts (rollouts), a reward judges each answer, and PPO
// (Schulman et al. 2017, as InstructGPT and TRL apply it to language models) moves the policy toward better-scored
// answers while a per-token KL penalty to the frozen SFT model keeps it from drifting into text the reward model
// was never shown. Each sampled token is one action; the state is the prompt plus the tokens before it.

/** The reward of a whole response, e.g. a reward model's score: (prompt ids, response ids without the end token). */
export type RewardFunction = (prompt: readonly number[], response: readonly number[]) => number | Promise<number>;

export interface PpoOptions {
  /** Rollout batches (each followed by `epochs` passes of minibatch updates). */
  steps: number;
  /** Prompts (so responses) per rollout batch. Default 8. */
  batchSize?: number;
  /** Responses per gradient step. Default batchSize / 2 (rounded up). */
  miniBatchSize?: number;
  /** Passes over each rollout batch. Default 4 (TRL). */
  epochs?: number;
  /** Most tokens sampled per response. Default 16. */
  maxNewTokens?: number;
  /** Sampling temperature of the rollouts. Default 1 (sampling from the policy itself, as PPO's ratio assumes). */
  temperature?: number;
  /** The end-of-answer token: sampling stops there and it is part of the response the policy is trained on. */
  endId?: number;
  /** Subtracted from the score of a response cut off before endId (TRL's missing_eos_penalty). Default 0. */
  missingEndPenalty?: number;
  /** AdamW learning rate of the body (the head steps with its own optimizer's). Default 1e-5 (TRL's 1.41e-5 range). */
  lr?: number;
  /** Policy ratio clip ε. Default 0.2. */
  clip?: number;
  /** Value clip around the rollout's values. Default 0.2. */
  clipValue?: number;
  /** Weight of the value loss. Default 0.1 (TRL). */
  vfCoef?: number;
  /** Discount γ. Default 1. */
  gamma?: number;
  /** GAE λ. Default 0.95. */
  lambda?: number;
  /** Initial (or fixed) KL coefficient β. Default 0.2 (TRL's init_kl_coef). */
  klCoef?: number;
  /** Target KL per response (nats): set it for Ziegler et al.'s adaptive β; leave it out for a fixed β. */
  targetKl?: number;
  /** Horizon of the adaptive controller, in responses. Default 10000. */
  klHorizon?: number;
  /** Global gradient-norm clip (0: none), body and head together. Default 1. */
  gradClip?: number;
  /** Whiten the advantages of each rollout batch (mean 0, std 1). Default true. */
  whiten?: boolean;
  /** Seed of prompt choice, sampling and minibatch order. Default 0. */
  seed?: number;
  onStep?: (log: PpoStepLog) => void;
  signal?: AbortSignal;
}

export interface PpoStepLog {
  step: number;
  /** Mean reward-function score of the batch's responses (before the KL penalty and the missing-end penalty). */
  reward: number;
  /** Mean over responses of Σ_tokens (log π − log π_ref) at sampling time. */
  kl: number;
  /** Mean per-token entropy of the policy over the sampled responses (nats). */
  entropy: number;
  /** Fraction of token updates whose ratio fell outside [1 − ε, 1 + ε]. */
  clipFrac: number;
  /** Mean of ½(log π − log π_old)² over the updates (TRL's approxkl). */
  approxKl: number;
  /** Mean clipped value loss over the updates. */
  valueLoss: number;
  /** Mean policy-gradient loss over the updates. */
  policyLoss: number;
  /** Mean response length in tokens (the end token included). */
  responseLength: number;
  /** KL coefficient β used for this batch's rewards. */
  klCoef: number;
}

/** Rows of prompt + response, padded: what one forward pass of the policy, the reference or an update sees. */
export interface PpoRows {
  B: number;
  T: number;
  /** (B, T) inputs, padding 0. */
  ids: Int32Array;
  /** (B, T) the next token where it is a response token (an action), -1 elsewhere. */
  targets: Int32Array;
}

/** The rollout data of an update: per position (B·T), with 0 where targets are -1. */
export interface PpoMinibatch extends PpoRows {
  oldLogp: Float64Array;
  oldValues: Float64Array;
  advantages: Float64Array;
  returns: Float64Array;
}

/**
 * Generalized advantage estimation over one trajectory (Schulman et al. 2016): δ_t = r_t + γ·V_{t+1} − V_t with
 * V after the last step 0, A_t = δ_t + γλ·A_{t+1}; returns = A + V (the value head's targets).
 */
export function gae(rewards: ArrayLike<number>, values: ArrayLike<number>, gamma: number, lambda: number): { advantages: Float64Array; returns: Float64Array } {
  const n = rewards.length;
  check(values.length === n, "BAD_SHAPE", `gae: ${n} rewards but ${values.length} values`);
  check(Number.isFinite(gamma) && gamma >= 0 && gamma <= 1, "BAD_ARGUMENT", `gae: gamma must be in [0, 1], got ${gamma}`);
  check(Number.isFinite(lambda) && lambda >= 0 && lambda <= 1, "BAD_ARGUMENT", `gae: lambda must be in [0, 1], got ${lambda}`);
  const advantages = new Float64Array(n), returns = new Float64Array(n);
  let next = 0;
  for (let t = n - 1; t >= 0; t--) {
    const delta = rewards[t] + gamma * (t + 1 < n ? values[t + 1] : 0) - values[t];
    next = delta + gamma * lambda * next;
    advantages[t] = next;
    returns[t] = next + values[t];
  }
  return { advantages, returns };
}

/**
 * PPO's clipped surrogate, mean over the unmasked positions: max(−A·ρ, −A·clip(ρ, 1 − ε, 1 + ε)) with ρ =
 * exp(logp − oldLogp). Returns the loss, dL/dlogp (0 where masked, or where the clipped branch is the larger), the
 * clip fraction and the approximate KL ½(logp − oldLogp)².
 */
export function clippedPolicyLoss(logp: ArrayLike<number>, oldLogp: ArrayLike<number>, advantages: ArrayLike<number>, targets: ArrayLike<number>, clip: number): { loss: number; dlogp: Float64Array; clipFrac: number; approxKl: number } {
  const N = targets.length;
  check(logp.length === N && oldLogp.length === N && advantages.length === N, "BAD_SHAPE", `clippedPolicyLoss: logp, oldLogp and advantages must hold one value per target (${N})`);
  check(Number.isFinite(clip) && clip > 0 && clip < 1, "BAD_ARGUMENT", `clippedPolicyLoss: clip must be in (0, 1), got ${clip}`);
  const count = countActions(targets);
  const dlogp = new Float64Array(N);
  let loss = 0, clipped = 0, approxKl = 0;
  for (let n = 0; n < N; n++) {
    if (targets[n] === -1) continue;
    const d = logp[n] - oldLogp[n], ratio = Math.exp(d), A = advantages[n];
    const plain = -A * ratio, bounded = -A * Math.min(Math.max(ratio, 1 - clip), 1 + clip);
    loss += Math.max(plain, bounded);
    // The clipped branch is flat in logp; where it is the larger one the token gives no gradient.
    if (plain >= bounded) dlogp[n] = plain / count;
    if (Math.abs(ratio - 1) > clip) clipped++;
    approxKl += 0.5 * d * d;
  }
  return { loss: loss / count, dlogp, clipFrac: clipped / count, approxKl: approxKl / count };
}

/**
 * The clipped value loss, mean over the unmasked positions: ½·max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²).
 * Returns the loss and dL/dvalues.
 */
export function clippedValueLoss(values: ArrayLike<number>, oldValues: ArrayLike<number>, returns: ArrayLike<number>, targets: ArrayLike<number>, clip: number): { loss: number; dvalues: Float64Array } {
  const N = targets.length;
  check(values.length === N && oldValues.length === N && returns.length === N, "BAD_SHAPE", `clippedValueLoss: values, oldValues and returns must hold one value per target (${N})`);
  check(Number.isFinite(clip) && clip > 0, "BAD_ARGUMENT", `clippedValueLoss: clip must be positive, got ${clip}`);
  const count = countActions(targets);
  const dvalues = new Float64Array(N);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    if (targets[n] === -1) continue;
    const v = values[n], old = oldValues[n], R = returns[n];
    const vc = old + Math.min(Math.max(v - old, -clip), clip);
    const plain = (v - R) ** 2, bounded = (vc - R) ** 2;
    loss += 0.5 * Math.max(plain, bounded);
    if (plain >= bounded) dvalues[n] = (v - R) / count;
    else if (Math.abs(v - old) < clip) dvalues[n] = (vc - R) / count;
  }
  return { loss: loss / count, dvalues };
}

/**
 * One forward pass of `model` and `head` over a minibatch, the PPO loss policy + vfCoef·value, and with `backward`
 * its gradients: model.zeroGrad(), head.zeroGrad(), then both losses in one backwardFrom({ dlogits, dhidden }).
 */
export function ppoLoss(model: Llama, head: ScalarHead, mb: PpoMinibatch, options: { clip?: number; clipValue?: number; vfCoef?: number; backward?: boolean } = {}): { loss: number; policyLoss: number; valueLoss: number; clipFrac: number; approxKl: number } {
  const { B, T } = mb, V = model.config.vocabSize, N = B * T;
  check(mb.ids.length === N && mb.targets.length === N && mb.oldLogp.length === N && mb.oldValues.length === N && mb.advantages.length === N && mb.returns.length === N,
    "BAD_SHAPE", `ppoLoss: every array of the minibatch must hold B·T = ${N} values`);
  check(head instanceof ScalarHead && head.C === model.config.dim, "BAD_ARGUMENT", `ppoLoss: the value head must be a ScalarHead over the model's ${model.config.dim} hidden channels`);
  const clip = options.clip ?? 0.2, clipValue = options.clipValue ?? 0.2, vfCoef = options.vfCoef ?? 0.1;
  check(Number.isFinite(vfCoef) && vfCoef >= 0, "BAD_ARGUMENT", `ppoLoss: vfCoef must be ≥ 0, got ${vfCoef}`);
  model.forward(mb.ids, { B, T });
  const logits = model.logits(), hidden = model.hidden();
  const logp = tokenLogProbs(logits, mb.targets, V);
  const values = head.forwardAll(hidden);
  const pg = clippedPolicyLoss(logp, mb.oldLogp, mb.advantages, mb.targets, clip);
  const vf = clippedValueLoss(values, mb.oldValues, mb.returns, mb.targets, clipValue);
  if (options.backward) {
    const dlogits = new Float32Array(N * V);
    tokenLogProbsBackward(dlogits, pg.dlogp, logits, mb.targets, V);
    for (let n = 0; n < N; n++) vf.dvalues[n] *= vfCoef;
    model.zeroGrad();
    head.zeroGrad();
    const dhidden = head.backwardAll(vf.dvalues, hidden);
    model.backwardFrom({ dlogits, dhidden });
  }
  return { loss: pg.loss + vfCoef * vf.loss, policyLoss: pg.loss, valueLoss: vf.loss, clipFrac: pg.clipFrac, approxKl: pg.approxKl };
}

/**
 * PPO of `model` (the policy, trained in place) with `head` as its value head, on `prompts` (token ids, e.g. a chat
 * template's generation prompt) scored by `reward`. The frozen reference is a copy of `model`'s parameters when
 * ppo() starts. Per step: sample batchSize responses (temperature 1, KV cache), one forward over prompt + response
 * rows for log π, log π_ref and values, rewards = −β·(log π − log π_ref) per token plus the score on the last token,
 * GAE, whitened advantages, then `epochs` passes of minibatch updates (clipped ratio, clipped value loss, gradient
 * clipping, AdamW), and with targetKl the adaptive β of Ziegler et al. (2019).
 */
export async function ppo(model: Llama, head: ScalarHead, prompts: readonly (readonly number[])[], reward: RewardFunction, options: PpoOptions): Promise<{ train: PpoStepLog[] }> {
  const o = resolve(model, head, prompts, reward, options);
  const rng = new Random(o.seed);
  const reference = new Llama(model.k, model.config, model.k.f32(model.params.length));
  reference.params.view.set(model.params.view);
  const opt = new AdamW({ lr: o.lr, weightDecay: 0 });
  const history: PpoStepLog[] = [];
  let beta = o.klCoef;
  // Prompts in epochs, each a fresh shuffle: every prompt is practised equally often, as TRL's dataloader does.
  const order = prompts.map((_, i) => i);
  let cursor = order.length;
  const nextPrompt = (): readonly number[] => {
    if (cursor === order.length) {
      rng.shuffle(order);
      cursor = 0;
    }
    return prompts[order[cursor++]];
  };
  try {
    for (let step = 0; step < o.steps; step++) {
      if (o.signal?.aborted) throw new TinyLMError("BAD_ARGUMENT", "ppo: aborted");
      const batch = await rollout(model, reference, head, nextPrompt, reward, o, beta, rng);
      const stats = { clipFrac: 0, approxKl: 0, valueLoss: 0, policyLoss: 0, updates: 0 };
      for (let epoch = 0; epoch < o.epochs; epoch++) {
        const order = rng.shuffle(Array.from({ length: o.batchSize }, (_, i) => i));
        for (let start = 0; start < order.length; start += o.miniBatchSize) {
          const mb = select(batch, order.slice(start, start + o.miniBatchSize));
          const r = ppoLoss(model, head, mb, { clip: o.clip, clipValue: o.clipValue, vfCoef: o.vfCoef, backward: true });
          // One norm over body and head, as a single torch model with clip_grad_norm_ would have.
          const bodyNorm = clipGradients(model, 0);
          const dw = head.grads.view;
          let headSq = 0;
          for (let i = 0; i < dw.length; i++) headSq += dw[i] * dw[i];
          const norm = Math.sqrt(bodyNorm * bodyNorm + headSq);
          if (!Number.isFinite(norm)) throw new TinyLMError("NAN", `ppo: the gradient norm is ${norm}: training diverged (lower the learning rate)`);
          const scale = o.gradClip > 0 && norm > o.gradClip ? o.gradClip / norm : 1;
          if (scale !== 1) {
            const g = model.grads!.view;
            for (let i = 0; i < g.length; i++) g[i] *= scale;
            for (let i = 0; i < dw.length; i++) dw[i] *= scale;
          }
          opt.step(model.k, model.params, model.grads!);
          head.step();
          stats.clipFrac += r.clipFrac;
          stats.approxKl += r.approxKl;
          stats.valueLoss += r.valueLoss;
          stats.policyLoss += r.policyLoss;
          stats.updates++;
        }
      }
      const log: PpoStepLog = {
        step: step + 1, reward: batch.meanScore, kl: batch.meanKl, entropy: batch.entropy,
        clipFrac: stats.clipFrac / stats.updates, approxKl: stats.approxKl / stats.updates,
        valueLoss: stats.valueLoss / stats.updates, policyLoss: stats.policyLoss / stats.updates,
        responseLength: batch.meanLength, klCoef: beta,
      };
      history.push(log);
      o.onStep?.(log);
      if (o.targetKl !== undefined) {
        // Ziegler et al.'s proportional controller: the error is clipped to ±0.2 so one noisy batch moves β little.
        const error = Math.min(Math.max(batch.meanKl / o.targetKl - 1, -0.2), 0.2);
        beta *= 1 + (error * o.batchSize) / o.klHorizon;
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  } finally {
    reference.free();
  }
  return { train: history };
}

interface Rollout extends PpoMinibatch {
  meanScore: number;
  meanKl: number;
  entropy: number;
  meanLength: number;
}

async function rollout(model: Llama, reference: Llama, head: ScalarHead, nextPrompt: () => readonly number[], reward: RewardFunction, o: Resolved, beta: number, rng: Random): Promise<Rollout> {
  const rows: { prompt: number[]; response: number[] }[] = [];
  let scores = 0;
  const scoreOf: number[] = [];
  for (let b = 0; b < o.batchSize; b++) {
    const prompt = Array.from(nextPrompt());
    const room = model.config.contextLength + 1 - prompt.length;
    const r = await generateAll(model, prompt, {
      temperature: o.temperature, seed: rng.int(2 ** 31), maxTokens: Math.min(o.maxNewTokens, room),
      stopIds: o.endId === undefined ? [] : [o.endId], signal: o.signal,
    });
    const ended = r.finishReason === "stop";
    const score = await o.reward(prompt, r.ids);
    check(Number.isFinite(score), "NAN", `ppo: the reward function returned ${score}`);
    scores += score;
    scoreOf.push(score - (o.endId !== undefined && !ended ? o.missingEndPenalty : 0));
    const response = ended && r.ids.length + 1 <= room ? [...r.ids, o.endId!] : r.ids;
    rows.push({ prompt, response });
  }
  const batch = pad(rows);
  const { B, T } = batch, V = model.config.vocabSize, N = B * T;
  if (batch.targets.every((t) => t === -1)) throw new TinyLMError("BAD_ARGUMENT", "ppo: every sampled response is empty (maxNewTokens 0 or prompts filling the context)");
  reference.forward(batch.ids, { B, T });
  const refLogp = tokenLogProbs(reference.logits(), batch.targets, V);
  model.forward(batch.ids, { B, T });
  const logits = model.logits();
  const oldLogp = tokenLogProbs(logits, batch.targets, V);
  const oldValues = head.forwardAll(model.hidden());
  const entropy = meanEntropy(logits, batch.targets, V);

  const advantages = new Float64Array(N), returns = new Float64Array(N);
  let kl = 0, tokens = 0;
  for (let b = 0; b < B; b++) {
    const at: number[] = [];
    for (let t = 0; t < T; t++) if (batch.targets[b * T + t] !== -1) at.push(b * T + t);
    if (at.length === 0) continue;
    const rewards = at.map((n) => -beta * (oldLogp[n] - refLogp[n]));
    rewards[rewards.length - 1] += scoreOf[b];
    for (const n of at) kl += oldLogp[n] - refLogp[n];
    tokens += at.length;
    const g = gae(rewards, at.map((n) => oldValues[n]), o.gamma, o.lambda);
    at.forEach((n, i) => { advantages[n] = g.advantages[i]; returns[n] = g.returns[i]; });
  }
  if (o.whiten) whiten(advantages, batch.targets);
  for (let n = 0; n < N; n++) if (batch.targets[n] === -1) oldValues[n] = 0;
  return { ...batch, oldLogp, oldValues, advantages, returns, meanScore: scores / B, meanKl: kl / B, entropy, meanLength: tokens / B };
}

// Each row is prompt + response shifted by one: position t predicts token t + 1, a target only where that token was
// sampled. The value at that position is the value of the state before the action, which is what GAE pairs it with.
function pad(rows: { prompt: number[]; response: number[] }[]): PpoRows {
  const B = rows.length, T = Math.max(1, ...rows.map((r) => r.prompt.length + r.response.length - 1));
  const ids = new Int32Array(B * T), targets = new Int32Array(B * T).fill(-1);
  rows.forEach(({ prompt, response }, b) => {
    const all = [...prompt, ...response];
    for (let t = 0; t + 1 < all.length; t++) {
      ids[b * T + t] = all[t];
      if (t + 1 >= prompt.length) targets[b * T + t] = all[t + 1];
    }
  });
  return { B, T, ids, targets };
}

// The rows `picked` of a rollout, cut to the longest of them.
function select(r: Rollout, picked: number[]): PpoMinibatch {
  let T = 1;
  for (const b of picked) for (let t = 0; t < r.T; t++) if (r.targets[b * r.T + t] !== -1) T = Math.max(T, t + 1);
  const B = picked.length;
  const take = <A extends Int32Array | Float64Array>(src: A, make: (n: number) => A) => {
    const out = make(B * T);
    picked.forEach((b, i) => out.set(src.subarray(b * r.T, b * r.T + T), i * T));
    return out;
  };
  const i32 = (n: number) => new Int32Array(n), f64 = (n: number) => new Float64Array(n);
  return {
    B, T, ids: take(r.ids, i32), targets: take(r.targets, i32), oldLogp: take(r.oldLogp, f64),
    oldValues: take(r.oldValues, f64), advantages: take(r.advantages, f64), returns: take(r.returns, f64),
  };
}

function whiten(x: Float64Array, targets: ArrayLike<number>): void {
  let n = 0, mean = 0, sq = 0;
  for (let i = 0; i < x.length; i++) if (targets[i] !== -1) { n++; mean += x[i]; }
  mean /= n;
  for (let i = 0; i < x.length; i++) if (targets[i] !== -1) sq += (x[i] - mean) ** 2;
  // With one action the variance is 0; centring alone is then all whitening can do.
  const std = n > 1 ? Math.sqrt(sq / (n - 1)) : 0;
  for (let i = 0; i < x.length; i++) x[i] = targets[i] === -1 ? 0 : (x[i] - mean) / (std + 1e-8);
}

// logits (N, V): mean entropy of softmax(logits[n]) over the positions with a target.
function meanEntropy(logits: Float32Array, targets: ArrayLike<number>, V: number): number {
  let total = 0, count = 0;
  for (let n = 0; n < targets.length; n++) {
    if (targets[n] === -1) continue;
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[n * V + j]);
    let sum = 0, dot = 0;
    for (let j = 0; j < V; j++) {
      const z = logits[n * V + j] - max, e = Math.exp(z);
      sum += e;
      dot += e * z;
    }
    total += Math.log(sum) - dot / sum;
    count++;
  }
  return count > 0 ? total / count : 0;
}

function countActions(targets: ArrayLike<number>): number {
  let count = 0;
  for (let n = 0; n < targets.length; n++) if (targets[n] !== -1) count++;
  check(count > 0, "BAD_ARGUMENT", "ppo: every position is masked (-1); there is no action to train on");
  return count;
}

type Resolved = Required<Omit<PpoOptions, "endId" | "targetKl" | "onStep" | "signal">> & Pick<PpoOptions, "endId" | "targetKl" | "onStep" | "signal"> & { reward: RewardFunction };

function resolve(model: Llama, head: ScalarHead, prompts: readonly (readonly number[])[], reward: RewardFunction, p: PpoOptions): Resolved {
  check(model instanceof Llama, "BAD_ARGUMENT", "ppo: the policy must be a Llama");
  check(head instanceof ScalarHead && head.C === model.config.dim, "BAD_ARGUMENT", `ppo: the value head must be a ScalarHead over the model's ${model.config.dim} hidden channels`);
  check(typeof reward === "function", "BAD_ARGUMENT", "ppo: reward must be a function (prompt ids, response ids) → number");
  check(p !== null && typeof p === "object", "BAD_ARGUMENT", "ppo: options must be an object");
  const V = model.config.vocabSize, context = model.config.contextLength;
  check(Array.isArray(prompts) && prompts.length > 0, "BAD_ARGUMENT", "ppo: no prompts");
  prompts.forEach((q, i) => {
    check(Array.isArray(q) && q.length >= 1, "BAD_ARGUMENT", `ppo: prompt ${i} is empty (give at least a BOS token)`);
    check(q.length < context, "BAD_ARGUMENT", `ppo: prompt ${i} is ${q.length} tokens, leaving no room in the context of ${context}`);
    check(q.every((t) => Number.isInteger(t) && t >= 0 && t < V), "OUT_OF_RANGE", `ppo: prompt ${i} holds an id outside [0, ${V})`);
  });
  const int = (name: string, v: number | undefined, dflt: number, min: number) => {
    const x = v ?? dflt;
    check(Number.isInteger(x) && x >= min, "BAD_ARGUMENT", `ppo: ${name} must be an integer ≥ ${min}, got ${x}`);
    return x;
  };
  const num = (name: string, v: number | undefined, dflt: number, ok: (x: number) => boolean, want: string) => {
    const x = v ?? dflt;
    check(typeof x === "number" && Number.isFinite(x) && ok(x), "BAD_ARGUMENT", `ppo: ${name} must be ${want}, got ${x}`);
    return x;
  };
  const batchSize = int("batchSize", p.batchSize, 8, 1);
  const miniBatchSize = int("miniBatchSize", p.miniBatchSize, Math.ceil(batchSize / 2), 1);
  check(miniBatchSize <= batchSize, "BAD_ARGUMENT", `ppo: miniBatchSize ${miniBatchSize} exceeds batchSize ${batchSize}`);
  check(p.endId === undefined || (Number.isInteger(p.endId) && p.endId >= 0 && p.endId < V), "OUT_OF_RANGE", `ppo: endId ${p.endId} is not a token id in [0, ${V})`);
  const positive = (x: number) => x > 0, nonNegative = (x: number) => x >= 0, unit = (x: number) => x >= 0 && x <= 1;
  return {
    reward,
    steps: int("steps", p.steps, NaN, 1),
    batchSize, miniBatchSize,
    epochs: int("epochs", p.epochs, 4, 1),
    maxNewTokens: int("maxNewTokens", p.maxNewTokens, 16, 1),
    temperature: num("temperature", p.temperature, 1, positive, "positive"),
    endId: p.endId,
    missingEndPenalty: num("missingEndPenalty", p.missingEndPenalty, 0, nonNegative, "≥ 0"),
    lr: num("lr", p.lr, 1e-5, positive, "positive"),
    clip: num("clip", p.clip, 0.2, (x) => x > 0 && x < 1, "in (0, 1)"),
    clipValue: num("clipValue", p.clipValue, 0.2, positive, "positive"),
    vfCoef: num("vfCoef", p.vfCoef, 0.1, nonNegative, "≥ 0"),
    gamma: num("gamma", p.gamma, 1, unit, "in [0, 1]"),
    lambda: num("lambda", p.lambda, 0.95, unit, "in [0, 1]"),
    klCoef: num("klCoef", p.klCoef, 0.2, nonNegative, "≥ 0"),
    targetKl: p.targetKl === undefined ? undefined : num("targetKl", p.targetKl, NaN, positive, "positive"),
    klHorizon: num("klHorizon", p.klHorizon, 10000, positive, "positive"),
    gradClip: num("gradClip", p.gradClip, 1, nonNegative, "≥ 0"),
    whiten: p.whiten ?? true,
    seed: int("seed", p.seed, 0, 0),
    onStep: p.onStep,
    signal: p.signal,
  };
}
