import { check } from "../errors.js";

/**
 * A small seeded PRNG: xoshiro128** (Blackman & Vigna), state expanded from one 32-bit seed with splitmix32.
 *
 * Why not Math.random: every stage of tinylm promises "same seed, same model on every runtime", and Math.random can
 * be neither seeded nor reproduced. Why xoshiro128** over mulberry32: 128 bits of state (period 2^128 − 1) and it
 * passes BigCrush, for four 32-bit integer ops more per number — nothing next to the kernels it feeds.
 */
export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | undefined; // Box–Muller makes normals in pairs; the second waits here

  constructor(seed = 0) {
    check(Number.isInteger(seed), "BAD_ARGUMENT", `a random seed must be an integer, got ${seed}`);
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** A generator resumed from `state()` (four 32-bit words, not all zero), e.g. from a checkpoint. */
  static fromState(state: readonly number[]): Random {
    check(state.length === 4 && state.every((w) => Number.isInteger(w)) && state.some((w) => w >>> 0 !== 0), "BAD_ARGUMENT",
      "a xoshiro128** state is four 32-bit integers, not all zero");
    const r = new Random(0);
    [r.s0, r.s1, r.s2, r.s3] = state.map((w) => w | 0);
    return r;
  }

  /** The four state words (the pending Box–Muller spare is not part of it). */
  state(): [number, number, number, number] {
    return [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0];
  }

  /** A uniform integer in [0, 2^32). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  random(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform float in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.random();
  }

  /** A uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    check(Number.isInteger(n) && n > 0 && n <= 4294967296, "BAD_ARGUMENT", `int(n) needs an integer n in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n); // reject the top sliver that would favour small results
    let u: number;
    do u = this.nextU32();
    while (u >= limit);
    return u % n;
  }

  /** A normal sample N(mean, std²) by the Box–Muller transform. */
  normal(mean = 0, std = 1): number {
    if (this.spare !== undefined) {
      const z = this.spare;
      this.spare = undefined;
      return mean + std * z;
    }
    const u1 = 1 - this.random(); // in (0, 1], so the log is finite
    const u2 = this.random();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return mean + std * r * Math.cos(2 * Math.PI * u2);
  }

  /** Fills `out` with N(mean, std²) samples and returns it. */
  fillNormal<T extends Float32Array | Float64Array>(out: T, mean = 0, std = 1): T {
    for (let i = 0; i < out.length; i++) out[i] = this.normal(mean, std);
    return out;
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
