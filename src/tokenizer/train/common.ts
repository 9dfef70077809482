import { check } from "../../errors.js";

/**
 * What a trainer reads. A string is cut into lines that keep their "\n" (what Hugging Face's
 * `train_from_files` feeds its trainers, so the two see the same pre-tokens); an array or an
 * (async) iterable yields one sequence per element, used as given.
 */
export type TrainerInput = string | readonly string[] | Iterable<string> | AsyncIterable<string>;

export interface TrainProgress {
  /** The phase running now, e.g. "count words", "merges", "em". */
  stage: string;
  done: number;
  total: number;
}

/** Options every trainer accepts, in its constructor or per `train()` call. */
export interface TrainRunOptions {
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
}

/**
 * The tokenizer.json object a trainer returns: plain JSON in the schema of Hugging Face's Rust
 * `tokenizers` (version "1.0"), so `JSON.stringify` of it loads in `Tokenizer.fromString`.
 */
export interface TokenizerJson {
  version: "1.0";
  truncation: null;
  padding: null;
  added_tokens: AddedTokenJson[];
  normalizer: Record<string, unknown> | null;
  pre_tokenizer: Record<string, unknown> | null;
  post_processor: Record<string, unknown> | null;
  decoder: Record<string, unknown> | null;
  model: Record<string, unknown>;
}

export interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export function addedTokens(specials: readonly string[], idOf: (s: string) => number): AddedTokenJson[] {
  return specials.map((content) => ({
    id: idOf(content),
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
}

export function emptyTokenizerJson(): Omit<TokenizerJson, "model"> {
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
  };
}

/**
 * Counts the pre-tokens of every sequence of `input` with `count`, reporting progress. Strings,
 * arrays and sync iterables are walked synchronously (a promise per line would cost more than the
 * counting); only an async iterable is awaited element by element.
 */
export async function countWords(
  input: TrainerInput,
  who: string,
  ticker: Ticker,
  count: (counts: Map<string, number>, seq: string) => void,
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (typeof input === "string") {
    for (let start = 0; start < input.length; ) {
      const nl = input.indexOf("\n", start);
      const end = nl < 0 ? input.length : nl + 1;
      count(counts, input.slice(start, end));
      if (ticker.due(1 + ((end - start) >> 6))) {
        ticker.report("count words", end, input.length);
        await ticker.pause();
      }
      start = end;
    }
    ticker.report("count words", input.length, input.length);
    return counts;
  }
  const isAsync = input != null && typeof (input as AsyncIterable<string>)[Symbol.asyncIterator] === "function";
  const isSync = input != null && typeof (input as Iterable<string>)[Symbol.iterator] === "function";
  check(isAsync || isSync, "BAD_ARGUMENT", `${who}: input must be a string, an array of strings or an (async) iterable of strings`);
  const total = Array.isArray(input) ? input.length : 0;
  let i = 0;
  const one = async (s: unknown): Promise<void> => {
    check(typeof s === "string", "BAD_ARGUMENT", () => `${who}: input element ${i} is ${typeof s}, not a string`);
    count(counts, s);
    i++;
    if (ticker.due()) {
      ticker.report("count words", i, total || i);
      await ticker.pause();
    }
  };
  if (isSync) {
    for (const s of input as Iterable<unknown>) await one(s);
  } else {
    for await (const s of input as AsyncIterable<unknown>) await one(s);
  }
  ticker.report("count words", i, total || i);
  return counts;
}

/**
 * Reports progress, honours the AbortSignal and hands the event loop back now and then so that
 * an abort or a UI update can happen during a long synchronous phase. Checking the clock every
 * call would cost more than the work in the hottest loops, hence the call-count stride.
 */
export class Ticker {
  private last = Date.now();
  private calls = 0;
  constructor(private readonly opts: TrainRunOptions) {
    opts.signal?.throwIfAborted();
  }

  report(stage: string, done: number, total: number): void {
    this.opts.onProgress?.({ stage, done, total });
  }

  /**
   * True about every 50 ms of work (the clock is read once per 4096 units of `work`); the caller
   * then awaits `pause()`. Split in two so the hot loops pay no promise per call.
   */
  due(work = 1): boolean {
    this.calls += work;
    if (this.calls < 4096) return false;
    this.calls = 0;
    const now = Date.now();
    if (now - this.last < 50) return false;
    this.last = now;
    return true;
  }

  /** Hands the event loop back once; throws the signal's reason if it was aborted. */
  async pause(): Promise<void> {
    this.opts.signal?.throwIfAborted();
    await new Promise<void>((r) => setTimeout(r, 0));
    this.opts.signal?.throwIfAborted();
  }
}

export function checkInt(who: string, name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  check(typeof v === "number" && Number.isInteger(v) && v >= min && v <= max, "BAD_ARGUMENT", () =>
    `${who}: ${name} must be an integer in [${min}, ${max}], got ${String(v)}`,
  );
  return v as number;
}

export function checkTokens(who: string, name: string, v: unknown): string[] {
  check(Array.isArray(v), "BAD_ARGUMENT", `${who}: ${name} must be an array of strings`);
  const seen = new Set<string>();
  for (const t of v as unknown[]) {
    check(typeof t === "string" && t.length > 0, "BAD_ARGUMENT", () => `${who}: ${name} must hold non-empty strings, got ${JSON.stringify(t)}`);
    check(!seen.has(t), "BAD_ARGUMENT", () => `${who}: ${name} lists ${JSON.stringify(t)} twice`);
    seen.add(t);
  }
  return [...(v as string[])];
}

/** Validates a `train()` call's run options and returns the Ticker for the run (per-call options win). */
export function startRun(who: string, run: TrainRunOptions, defaults: TrainRunOptions): Ticker {
  checkKnownKeys(who, run, ["onProgress", "signal"]);
  checkRunOptions(who, run);
  return new Ticker({ onProgress: run.onProgress ?? defaults.onProgress, signal: run.signal ?? defaults.signal });
}

export function checkAlphabet(who: string, v: unknown): string[] {
  check(Array.isArray(v), "BAD_ARGUMENT", `${who}: initialAlphabet must be an array of single characters`);
  for (const c of v as unknown[]) {
    check(typeof c === "string" && [...c].length === 1, "BAD_ARGUMENT", () =>
      `${who}: initialAlphabet must hold single characters, got ${JSON.stringify(c)}`,
    );
  }
  return [...(v as string[])];
}

/** {token: id}; built with fromEntries so that a token named "__proto__" stays an ordinary key. */
export function vocabObject(vocab: readonly string[]): Record<string, number> {
  return Object.fromEntries(vocab.map((t, id) => [t, id]));
}

export function checkRunOptions(who: string, o: TrainRunOptions): TrainRunOptions {
  check(o.onProgress === undefined || typeof o.onProgress === "function", "BAD_ARGUMENT", `${who}: onProgress must be a function`);
  check(
    o.signal === undefined || (typeof o.signal === "object" && o.signal !== null && typeof o.signal.throwIfAborted === "function"),
    "BAD_ARGUMENT",
    `${who}: signal must be an AbortSignal`,
  );
  return o;
}

export function checkKnownKeys(who: string, o: object, known: readonly string[]): void {
  check(typeof o === "object" && o !== null && !Array.isArray(o), "BAD_ARGUMENT", `${who}: options must be an object`);
  for (const k of Object.keys(o)) {
    check(known.includes(k), "BAD_ARGUMENT", () => `${who}: unknown option "${k}" (known: ${known.join(", ")})`);
  }
}

/** A 32-bit hash of a pair of ints whose low bits depend on every input bit (a table mask keeps the low bits). */
export function mix(a: number, b: number): number {
  let x = Math.imul(a, 0x9e3779b1) + b;
  x = Math.imul(x ^ (x >>> 15), 0x85ebca6b);
  return (x ^ (x >>> 13)) >>> 0;
}
