import { describe, expect, it } from "vitest";
import { pickToken } from "../../src/generate/sampling.js";
import { generateAll } from "../../src/generate/generate.js";
import { Random } from "../../src/util/random.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { Llama } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/config.js";
import { TinyLMError } from "../../src/errors.js";

const seedExample = Float32Array.from([0.8, 0.15, 0.05].map(Math.log)); // a, b, c

function frequencies(logits: Float32Array, options: Parameters<typeof pickToken>[1], n = 20000): number[] {
  const rng = new Random(1), counts = new Array(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[pickToken(logits, options, rng)]++;
  return counts.map((c) => c / n);
}

describe("picking the next token", () => {
  it("greedy picks the most probable token (the seed: a 0.8, b 0.15, c 0.05 → a)", () => {
    expect(pickToken(seedExample, {}, new Random(0))).toBe(0);
    expect(pickToken(Float32Array.from([1, 3, 3]), { temperature: 0 }, new Random(0))).toBe(1); // ties: lower id
  });

  it("temperature 1 samples the softmax distribution; top-k and top-p cut it", () => {
    const f = frequencies(seedExample, { temperature: 1 });
    [0.8, 0.15, 0.05].forEach((p, i) => expect(Math.abs(f[i] - p)).toBeLessThan(0.01));
    expect(frequencies(seedExample, { temperature: 1, topK: 1 })).toEqual([1, 0, 0]);
    expect(frequencies(seedExample, { temperature: 1, topP: 0.8 })).toEqual([1, 0, 0]);
    const two = frequencies(seedExample, { temperature: 1, topP: 0.9 });
    expect(Math.abs(two[0] - 0.8 / 0.95)).toBeLessThan(0.01);
    expect(two[2]).toBe(0);
    // A high temperature flattens: c gets more than its 5%.
    expect(frequencies(seedExample, { temperature: 3 })[2]).toBeGreaterThan(0.15);
  });

  it("the repetition penalty demotes tokens already seen", () => {
    const logits = Float32Array.from([2, 1.9, -1]);
    expect(pickToken(logits, {}, new Random(0), [0])).toBe(0);
    expect(pickToken(logits, { repetitionPenalty: 1.2 }, new Random(0), [0])).toBe(1);
  });

  it("rejects bad options", () => {
    for (const bad of [{ temperature: -1 }, { topK: 1.5 }, { topP: 0 }, { repetitionPenalty: 0 }]) {
      expect(() => pickToken(seedExample, bad, new Random(0))).toThrow(TinyLMError);
    }
  });
});

describe("generate with a KV cache", () => {
  const config = llamaConfig({ vocabSize: 31, dim: 16, nLayers: 2, nHeads: 2, ffnDim: 24, contextLength: 12 });

  it("greedy generation equals argmax over full forward passes without a cache", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config, { seed: 3, initStd: 0.5 });
    const prompt = [1, 2, 3];
    const got: number[] = [];
    for await (const id of model.generate(prompt, { maxTokens: 6 })) got.push(id);
    const ids = [...prompt];
    for (let i = 0; i < 6; i++) {
      model.forward(ids);
      const logits = model.logits().subarray((ids.length - 1) * 31);
      ids.push(logits.indexOf(Math.max(...logits)));
    }
    expect(got).toEqual(ids.slice(3));
  });

  it("stops on a stop id, a stop string, the token limit, or a full context; slides when asked", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config, { seed: 3, initStd: 0.5 });
    const free = await generateAll(model, [1, 2, 3], { maxTokens: 5 });
    expect(free).toMatchObject({ finishReason: "length" });
    expect(free.ids).toHaveLength(5);
    const stopped = await generateAll(model, [1, 2, 3], { maxTokens: 5, stopIds: [free.ids[2]] });
    expect(stopped).toEqual({ ids: free.ids.slice(0, free.ids.indexOf(free.ids[2])), finishReason: "stop" });
    const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(97 + (i % 26))).join("");
    const byString = await generateAll(model, [1, 2, 3], { maxTokens: 5, decode, stopStrings: [decode(free.ids.slice(1, 3))] });
    expect(byString.finishReason).toBe("stop");
    expect(byString.ids.length).toBeLessThanOrEqual(2);
    const full = await generateAll(model, [1, 2, 3], { maxTokens: 50 });
    expect(full).toMatchObject({ finishReason: "context" });
    expect(full.ids).toHaveLength(12 - 3 + 1);
    const slid = await generateAll(model, [1, 2, 3], { maxTokens: 30, onOverflow: "slide" });
    expect(slid).toMatchObject({ finishReason: "length" });
    expect(slid.ids).toHaveLength(30);
  });

  it("sampling is reproducible from the seed", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config, { seed: 3, initStd: 0.5 });
    const a = await generateAll(model, [1], { maxTokens: 10, temperature: 1, seed: 5 });
    const b = await generateAll(model, [1], { maxTokens: 10, temperature: 1, seed: 5 });
    const c = await generateAll(model, [1], { maxTokens: 10, temperature: 1, seed: 6 });
    expect(a).toEqual(b);
    expect(a.ids).not.toEqual(c.ids);
  });

  it("rejects an empty or overlong prompt and out-of-range ids", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config);
    await expect(generateAll(model, [])).rejects.toThrow(TinyLMError);
    await expect(generateAll(model, new Array(13).fill(1))).rejects.toThrow(/longer than the context/);
    await expect(generateAll(model, [40])).rejects.toThrow(/token id/);
  });
});
