// The comparison both llama.cpp interop tests run: llama.cpp (node-llama-cpp's prebuilt binary, 1 thread, flash
// attention off, F32 KV cache — its default F16 cache alone moves log-probabilities by ~1e-3) loads a GGUF file; for
// each prompt it must tokenize as we do and continue greedily with the tokens we pick from the same file.
import { expect } from "vitest";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import type { Llama } from "../../src/nn/llama.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

export const PROMPTS = ["the dog sat on", "a cat and a dog met", "on the mat."];

/** A 300-token byte-level BPE trained on a few sentences: enough vocabulary for the prompts. */
export async function tinyTokenizer(): Promise<Tokenizer> {
  const text = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n".repeat(20);
  return Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train(text));
}

function logProbabilities(logits: Float32Array): Float64Array {
  const m = Math.max(...logits);
  const z = logits.reduce((s, x) => s + Math.exp(x - m), 0);
  return Float64Array.from(logits, (x) => x - m - Math.log(z));
}

/**
 * Runs every prompt for `steps` greedy steps in llama.cpp and in `model` (loaded from the same file), asserting equal
 * token ids and equal greedy tokens; returns |Δ log-prob| of llama.cpp's top tokens (those whose f32 probability has not
 * underflowed) at every step, for the caller's tolerance.
 */
export async function compareWithLlamaCpp(path: string, model: Llama, tok: Tokenizer, steps = 8): Promise<{ where: string; d: number }[]> {
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
  const theirModel = await llama.loadModel({ modelPath: path });
  const context = await theirModel.createContext({ contextSize: 64, threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
  const diffs: { where: string; d: number }[] = [];
  try {
    for (const prompt of PROMPTS) {
      const ids = tok.encode(prompt);
      expect(Array.from(theirModel.tokenize(prompt)), prompt).toEqual(ids);
      const sequence = context.getSequence();
      const theirs: { token: number; probabilities: Map<number, number> }[] = [];
      for await (const o of sequence.evaluateWithMetadata(ids, { probabilities: true }, { temperature: 0 })) {
        theirs.push({ token: o.token as number, probabilities: o.probabilities as Map<number, number> });
        if (theirs.length === steps) break;
      }
      sequence.dispose();

      const cache = model.newCache();
      let logits = model.decode(ids, cache);
      for (const [step, t] of theirs.entries()) {
        const lp = logProbabilities(logits);
        expect(lp.indexOf(Math.max(...lp)), `${prompt}: step ${step}`).toBe(t.token);
        const top = [...t.probabilities.entries()].sort((a, b) => b[1] - a[1]).slice(0, 5).filter(([, q]) => q > 1e-6);
        for (const [id, q] of top) diffs.push({ where: `${prompt}: step ${step}, token ${id}`, d: Math.abs(lp[id] - Math.log(q)) });
        logits = model.decode([t.token], cache);
      }
      cache.free();
    }
  } finally {
    await context.dispose();
    await theirModel.dispose();
  }
  return diffs;
}
