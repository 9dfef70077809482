import { check } from "../errors.js";

/**
 * A bigram language model with interpolated absolute discounting (Kneser–Ney's discount, d = 0.75, backing off to a
 * add-one unigram), counted on training tokens: the baseline a transformer's held-out perplexity should beat.
 */
export class BigramModel {
  private readonly pair = new Map<number, number>(); // prev·V + next → count
  private readonly prevCount: Float64Array; // c(prev, ·)
  private readonly followers: Float64Array; // distinct tokens seen after prev
  private readonly unigram: Float64Array; // add-one smoothed P(next)
  private readonly V: number;
  private static readonly d = 0.75;

  constructor(tokens: ArrayLike<number>, vocabSize: number) {
    check(tokens.length >= 2, "BAD_ARGUMENT", "BigramModel: need at least two tokens");
    this.V = vocabSize;
    this.prevCount = new Float64Array(vocabSize);
    this.followers = new Float64Array(vocabSize);
    const uni = new Float64Array(vocabSize).fill(1);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      check(Number.isInteger(t) && t >= 0 && t < vocabSize, "OUT_OF_RANGE", `BigramModel: token ${t} at ${i} is outside [0, ${vocabSize})`);
      uni[t]++;
      if (i === 0) continue;
      const key = tokens[i - 1] * vocabSize + t;
      const c = this.pair.get(key) ?? 0;
      if (c === 0) this.followers[tokens[i - 1]]++;
      this.pair.set(key, c + 1);
      this.prevCount[tokens[i - 1]]++;
    }
    const total = uni.reduce((s, x) => s + x, 0);
    this.unigram = uni.map((x) => x / total);
  }

  /** P(next | prev). */
  probability(prev: number, next: number): number {
    const n = this.prevCount[prev];
    if (n === 0) return this.unigram[next];
    const c = this.pair.get(prev * this.V + next) ?? 0;
    const d = BigramModel.d;
    return Math.max(c - d, 0) / n + ((d * this.followers[prev]) / n) * this.unigram[next];
  }

  /** Mean −log P over the (prev, next) pairs given as ids (B·T) and targets (B·T). */
  crossEntropy(ids: ArrayLike<number>, targets: ArrayLike<number>): number {
    let sum = 0;
    for (let i = 0; i < ids.length; i++) sum -= Math.log(this.probability(ids[i], targets[i]));
    return sum / ids.length;
  }
}
