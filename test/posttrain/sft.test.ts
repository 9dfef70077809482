// SFT end to end on a tiny model: the simpler variant of the arithmetic task (one-digit operands, "plus", digits
// only), because a 2-layer width-64 model learns it in a few hundred steps (~2 s); the tour runs the full task.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { arithmeticSplits, problemToChat } from "../../src/posttrain/arithmetic.js";
import { type SftStepLog, exactMatch, prepareChatModel, sft } from "../../src/posttrain/sft.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

async function setup() {
  const k = await loadKernelsFromFiles("simd");
  const { train, heldOut } = arithmeticSplits({ seed: 1, maxOperand: 9, ops: ["plus"], train: 80, heldOut: 20, wordsFraction: 0 });
  const base = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train([...train, ...heldOut].map((p) => `${p.prompt} ${p.answer}`)));
  const config = llamaConfig({ vocabSize: base.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 176, contextLength: 32 });
  const { model, tokenizer } = prepareChatModel(Llama.init(k, config, { seed: 1 }), base);
  return { model, tokenizer, train: train.map(problemToChat), heldOut: heldOut.map((p) => ({ prompt: p.prompt, answer: p.answer })) };
}

describe("sft", () => {
  it("raises held-out exact match from 0 to at least 60% in 300 steps (fixed seed), logging every metric", async () => {
    const { model, tokenizer, train, heldOut } = await setup();
    const before = await exactMatch(model, tokenizer, heldOut);
    expect(before.accuracy).toBe(0);
    const steps: SftStepLog[] = [];
    const history = await sft(model, tokenizer, train, { steps: 300, batchSize: 16, lr: 3e-3, seed: 0, eval: heldOut, evalEvery: 150, onStep: (s) => steps.push(s) });
    expect(steps).toHaveLength(300);
    expect(history.eval.map((e) => e.step)).toEqual([150, 300]);
    const after = history.eval[1].exactMatch;
    expect(after).toBeGreaterThanOrEqual(0.6);
    expect((await exactMatch(model, tokenizer, heldOut)).accuracy).toBe(after);
    const mean = (xs: SftStepLog[], f: (s: SftStepLog) => number) => xs.reduce((a, s) => a + f(s), 0) / xs.length;
    expect(mean(steps.slice(-20), (s) => s.loss)).toBeLessThan(0.3 * mean(steps.slice(0, 20), (s) => s.loss));
    expect(mean(steps.slice(-20), (s) => s.tokenAccuracy)).toBeGreaterThan(0.9);
    // Each row trains exactly the answer's digits and the end marker: 2 or 3 tokens.
    expect(steps[0].tokensSeen).toBeGreaterThanOrEqual(16 * 2);
    expect(steps[0].tokensSeen).toBeLessThanOrEqual(16 * 3);
    expect(steps[299].tokensSeen).toBeGreaterThan(299 * 16 * 2);
    expect(steps[299].lr).toBeCloseTo(3e-4, 6); // cosine decay to minLr = lr / 10
    expect(steps[0].lr).toBeCloseTo(3e-3 / 30, 8); // first of 30 warm-up steps
    expect(steps.every((s) => Number.isFinite(s.gradNorm) && s.gradNorm > 0)).toBe(true);
    const sample = history.eval[1].samples[0];
    expect(Object.keys(sample).sort()).toEqual(["answer", "correct", "output", "prompt"]);
  }, 60_000);

  it("packing trains several conversations per row", async () => {
    const { model, tokenizer, train } = await setup();
    const losses: number[] = [], seen: number[] = [];
    await sft(model, tokenizer, train, { steps: 40, batchSize: 2, seqLen: 32, pack: true, lr: 3e-3, onStep: (s) => { losses.push(s.loss); seen.push(s.tokensSeen); } });
    // A packed 32-position row holds several ~13-token conversations, so a step of 2 rows sees > 2 answers.
    expect(seen[0]).toBeGreaterThan(2 * 3);
    expect(losses[39]).toBeLessThan(losses[0]);
  }, 30_000);

  it("validates its input", async () => {
    const { model, tokenizer, train } = await setup();
    const raw = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 260 }).train(["a b c"]));
    await expect(sft(model, raw, train, { steps: 1 })).rejects.toThrow(/prepareChatModel/);
    await expect(sft(model, tokenizer, train, { steps: 0 })).rejects.toThrow(TinyLMError);
    await expect(sft(model, tokenizer, train, { steps: 1, seqLen: 4 })).rejects.toThrow(/more than seqLen 4/);
    await expect(sft(model, tokenizer, [], { steps: 1 })).rejects.toThrow(/no examples/);
  });
});
