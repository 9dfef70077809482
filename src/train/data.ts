import { check } from "../errors.js";
import { Random } from "../util/random.js";

/** A token stream split into a training and a held-out part. */
export interface TokenSplits {
  train: Int32Array;
  val: Int32Array;
}

/** The last `valFraction` of the tokens is held out (a contiguous tail, so no window straddles both parts). */
export function splitTokens(tokens: Int32Array, valFraction = 0.1): TokenSplits {
  check(valFraction > 0 && valFraction < 1, "BAD_ARGUMENT", `valFraction must be in (0, 1), got ${valFraction}`);
  const cut = Math.floor(tokens.length * (1 - valFraction));
  return { train: tokens.subarray(0, cut), val: tokens.subarray(cut) };
}

/** B windows of T+1 consecutive tokens: ids are the first T, targets the last T (the next token at each position). */
export interface Batch {
  B: number;
  T: number;
  ids: Int32Array;
  targets: Int32Array;
}

/** Random windows from `tokens`, reproducible from the seed and resumable from `rng.state()`. */
export function randomBatch(tokens: Int32Array, B: number, T: number, rng: Random): Batch {
  check(tokens.length > T + 1, "BAD_ARGUMENT", `the token stream (${tokens.length}) is shorter than one window of ${T + 1}`);
  const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const start = rng.int(tokens.length - T);
    ids.set(tokens.subarray(start, start + T), b * T);
    targets.set(tokens.subarray(start + 1, start + T + 1), b * T);
  }
  return { B, T, ids, targets };
}

/** `count` windows evenly spaced over `tokens`: the same held-out batches at every evaluation. */
export function evenBatches(tokens: Int32Array, B: number, T: number, count: number): Batch[] {
  check(tokens.length > T + 1, "BAD_ARGUMENT", `the held-out stream (${tokens.length}) is shorter than one window of ${T + 1}`);
  const windows = B * count;
  const stride = Math.max(1, Math.floor((tokens.length - T - 1) / windows));
  const batches: Batch[] = [];
  for (let c = 0; c < count; c++) {
    const ids = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const start = Math.min(((c * B + b) * stride) % (tokens.length - T - 1), tokens.length - T - 1);
      ids.set(tokens.subarray(start, start + T), b * T);
      targets.set(tokens.subarray(start + 1, start + T + 1), b * T);
    }
    batches.push({ B, T, ids, targets });
  }
  return batches;
}

/**
 * Token ids of text given as a string, lines, or an (async) iterable of lines — a file read line by line, a stream —
 * each line after the first prefixed by "\n" and, when given, `separator` (an end-of-text special token between documents).
 */
export async function encodeLines(
  tokenizer: { encode(text: string, options?: { allowedSpecial?: string[] }): number[] },
  input: string | Iterable<string> | AsyncIterable<string>,
  options: { separator?: string } = {},
): Promise<Int32Array> {
  const lines: AsyncIterable<string> | Iterable<string> = typeof input === "string" ? input.split("\n") : input;
  check(lines !== null && typeof lines === "object" && (Symbol.iterator in lines || Symbol.asyncIterator in lines), "BAD_ARGUMENT",
    "encodeLines: input must be a string or an iterable of lines");
  const separator = options.separator;
  const parts: number[][] = [];
  let total = 0, first = true;
  for await (const line of lines) {
    check(typeof line === "string", "BAD_ARGUMENT", `encodeLines: every line must be a string, got ${typeof line}`);
    const text = first ? line : `${separator === undefined ? "\n" : `\n${separator}`}${line}`;
    first = false;
    const ids = tokenizer.encode(text, separator === undefined ? {} : { allowedSpecial: [separator] });
    parts.push(ids);
    total += ids.length;
  }
  const out = new Int32Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
