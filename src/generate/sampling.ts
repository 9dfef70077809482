import { check } from "../errors.js";
import type { Random } from "../util/random.js";

export interface SamplingOptions {
  /** Softmax temperature; 0 picks the most probable token (greedy). Default 0. */
  temperature?: number;
  /** Keep only the k most probable tokens (0 = all). Default 0. */
  topK?: number;
  /** Keep the smallest set of most probable tokens whose probabilities sum to at least p (1 = all). Default 1. */
  topP?: number;
  /** Divide positive logits (multiply negative ones) of tokens already seen by this (CTRL / HF). 1 = off. */
  repetitionPenalty?: number;
}

export function checkSampling(o: SamplingOptions): Required<SamplingOptions> {
  const temperature = o.temperature ?? 0, topK = o.topK ?? 0, topP = o.topP ?? 1, repetitionPenalty = o.repetitionPenalty ?? 1;
  check(Number.isFinite(temperature) && temperature >= 0, "BAD_ARGUMENT", `temperature must be ≥ 0, got ${temperature}`);
  check(Number.isInteger(topK) && topK >= 0, "BAD_ARGUMENT", `topK must be a non-negative integer, got ${topK}`);
  check(topP > 0 && topP <= 1, "BAD_ARGUMENT", `topP must be in (0, 1], got ${topP}`);
  check(Number.isFinite(repetitionPenalty) && repetitionPenalty > 0, "BAD_ARGUMENT", `repetitionPenalty must be > 0, got ${repetitionPenalty}`);
  return { temperature, topK, topP, repetitionPenalty };
}

/**
 * Picks the next token from next-token logits: the seed's 输出预测 step. With temperature 0 it takes the highest
 * (probabilities a 0.8, b 0.15, c 0.05 → a); otherwise it samples from softmax(logits / temperature) restricted by
 * top-k and top-p. `seen` lists the tokens the repetition penalty applies to. Ties go to the lower id.
 */
export function pickToken(logits: Float32Array, options: SamplingOptions, rng: Random, seen: Iterable<number> = []): number {
  const { temperature, topK, topP, repetitionPenalty } = checkSampling(options);
  const x = Float64Array.from(logits);
  if (repetitionPenalty !== 1) {
    for (const id of new Set(seen)) if (id >= 0 && id < x.length) x[id] = x[id] > 0 ? x[id] / repetitionPenalty : x[id] * repetitionPenalty;
  }
  if (temperature === 0) return argmax(x);
  // Candidates sorted by logit, highest first, cut by top-k, then softmax and the top-p cut over what is left.
  let order = Array.from(x.keys()).sort((a, b) => x[b] - x[a] || a - b);
  if (topK > 0) order = order.slice(0, topK);
  const m = x[order[0]];
  const p = order.map((id) => Math.exp((x[id] - m) / temperature));
  const z = p.reduce((s, v) => s + v, 0);
  let keep = order.length, cumulative = 0;
  for (let i = 0; i < order.length; i++) {
    cumulative += p[i] / z;
    if (cumulative >= topP) {
      keep = i + 1;
      break;
    }
  }
  const kept = p.slice(0, keep);
  let r = rng.random() * kept.reduce((s, v) => s + v, 0);
  for (let i = 0; i < keep; i++) {
    r -= kept[i];
    if (r < 0) return order[i];
  }
  return order[keep - 1];
}

function argmax(x: Float64Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  check(!Number.isNaN(x[best]), "NAN", "the logits are NaN");
  return best;
}
