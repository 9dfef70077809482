import { check } from "../errors.js";
import type { Llama } from "../nn/llama.js";
import { Random } from "../util/random.js";
import { type SamplingOptions, checkSampling, pickToken } from "./sampling.js";

export interface GenerateOptions extends SamplingOptions {
  /** Tokens to generate at most. Default 64. */
  maxTokens?: number;
  /** Seed of the sampler (the same seed gives the same text). Default 0. */
  seed?: number;
  /** Stop when one of these ids is generated (it is not yielded). */
  stopIds?: readonly number[];
  /** Stop when the decoded continuation contains one of these; needs `decode`. The completing token is not yielded. */
  stopStrings?: readonly string[];
  /** Turns ids into text, for stopStrings (e.g. (ids) => tokenizer.decode(ids)). */
  decode?: (ids: number[]) => string;
  /**
   * When the context is full: "stop" (default) ends with finishReason "context"; "slide" keeps the last half of the
   * context and continues (the model then no longer sees the start).
   */
  onOverflow?: "stop" | "slide";
  signal?: AbortSignal;
}

export interface GenerateResult {
  /** The generated ids (without the prompt and without a stop token). */
  ids: number[];
  finishReason: "length" | "stop" | "context" | "aborted";
}

/**
 * The seed's 推理流程: predict the next token, append it, repeat — as an async iterator that yields each token id as it
 * is chosen and returns a GenerateResult. Uses a KV cache, so each new token costs one position of attention.
 *
 *     for await (const id of generate(model, tok.encode("Once upon"), { maxTokens: 50, temperature: 0.8 })) …
 */
export async function* generate(model: Llama, prompt: ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<number, GenerateResult> {
  checkSampling(options);
  const maxTokens = options.maxTokens ?? 64;
  check(Number.isInteger(maxTokens) && maxTokens >= 0, "BAD_ARGUMENT", `maxTokens must be a non-negative integer, got ${maxTokens}`);
  check(prompt.length >= 1, "BAD_ARGUMENT", "generate: the prompt is empty (give at least a BOS token)");
  const stopIds = new Set(options.stopIds ?? []);
  const stopStrings = options.stopStrings ?? [];
  check(stopStrings.length === 0 || typeof options.decode === "function", "BAD_ARGUMENT", "generate: stopStrings need a decode function");
  const overflow = options.onOverflow ?? "stop";
  check(overflow === "stop" || overflow === "slide", "BAD_ARGUMENT", `onOverflow must be "stop" or "slide", got ${overflow}`);
  const context = model.config.contextLength;
  check(prompt.length <= context || overflow === "slide", "OUT_OF_RANGE", `generate: the prompt (${prompt.length} tokens) is longer than the context (${context})`);

  const rng = new Random(options.seed ?? 0);
  const all = Array.from(prompt).slice(-context);
  const out: number[] = [];
  const cache = model.newCache();
  try {
    let logits = model.decode(all, cache);
    while (out.length < maxTokens) {
      if (options.signal?.aborted) return { ids: out, finishReason: "aborted" };
      const id = pickToken(logits, options, rng, all);
      if (stopIds.has(id)) return { ids: out, finishReason: "stop" };
      if (stopStrings.length > 0) {
        const text = options.decode!([...out, id]);
        if (stopStrings.some((s) => text.includes(s))) return { ids: out, finishReason: "stop" };
      }
      out.push(id);
      all.push(id);
      yield id;
      if (out.length === maxTokens) break;
      if (cache.length === cache.capacity) {
        if (overflow === "stop") return { ids: out, finishReason: "context" };
        // RoPE positions are baked into the cached keys, so sliding means recomputing the kept half from scratch.
        cache.reset();
        logits = model.decode(all.slice(-Math.ceil(context / 2)), cache);
      } else {
        logits = model.decode([id], cache);
      }
    }
    return { ids: out, finishReason: "length" };
  } finally {
    cache.free();
  }
}

/** Runs `generate` to the end and returns its result. */
export async function generateAll(model: Llama, prompt: ArrayLike<number>, options: GenerateOptions = {}): Promise<GenerateResult> {
  const it = generate(model, prompt, options);
  for (;;) {
    const r = await it.next();
    if (r.done) return r.value;
  }
}
