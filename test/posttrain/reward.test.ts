// The reward model: the pairwise loss against its formula and finite differences, the whole model's gradient by finite
// differences on a tiny model, the scripted labeler, and end to end: rankings of an SFT model's sampled answers teach a
// reward model to order held-out answers it never saw.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { arithmeticSplits, problemToChat } from "../../src/posttrain/arithmetic.js";
import { ScalarHead } from "../../src/posttrain/head.js";
import { readPreferenceJsonl } from "../../src/posttrain/jsonl.js";
import { rankingsToJsonl, sampleRankings, scriptedRanking } from "../../src/posttrain/preference.js";
import { RewardModel, pairwiseAccuracy, pairwiseLoss, trainRewardModel } from "../../src/posttrain/reward.js";
import { prepareChatModel, sft } from "../../src/posttrain/sft.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";
import { directionalError, tinyConfig, tinyItem, tinyModel } from "./gradcheck.js";

describe("pairwiseLoss", () => {
  it("is the mean of −log σ(s_b − s_w − m) + λ(s_b + s_w)² over the pairs, with the matching gradient", () => {
    const s = [0.3, -1.2, 2.0], pairs: [number, number][] = [[2, 0], [2, 1], [0, 1]];
    const opts = { margin: 0.5, centering: 0.1 };
    const f = (x: number[]) => pairs.reduce((a, [b, w]) => a + Math.log(1 + Math.exp(-(x[b] - x[w] - 0.5))) + 0.1 * (x[b] + x[w]) ** 2, 0) / 3;
    const r = pairwiseLoss(s, pairs, opts);
    expect(r.loss).toBeCloseTo(f(s), 12);
    expect(r.correct).toBe(3);
    for (let i = 0; i < 3; i++) {
      const up = [...s], down = [...s];
      up[i] += 1e-6;
      down[i] -= 1e-6;
      expect(r.dscores[i]).toBeCloseTo((f(up) - f(down)) / 2e-6, 7);
    }
    // Equal scores: log 2 whatever K; huge gaps neither overflow nor lose the gradient's sign.
    expect(pairwiseLoss([1, 1, 1], pairs).loss).toBeCloseTo(Math.LN2, 12);
    const far = pairwiseLoss([0, 800], [[0, 1]]);
    expect(far.loss).toBeCloseTo(800, 9);
    expect(far.dscores[0]).toBeCloseTo(-1, 12);
    expect(() => pairwiseLoss([0, 1], [[0, 2]])).toThrow(TinyLMError);
    expect(() => pairwiseLoss([0, NaN], [[0, 1]])).toThrow(/NaN/);
  });
});

describe("RewardModel", () => {
  it("the pairwise loss's gradient (body and head, with margin and centering) matches finite differences", async () => {
    const sftModel = await tinyModel(1);
    const rm = new RewardModel(new Llama(sftModel.k, tinyConfig, sftModel.k.f32(sftModel.params.view)), new ScalarHead(sftModel.k, tinyConfig.dim, { std: 0.5, seed: 2 }), undefined as never);
    const item = tinyItem(3), opts = { margin: 0.2, centering: 0.05 };
    const loss = () => pairwiseLoss(rm.scoreItem(item), item.pairs, opts).loss;
    rm.zeroGrad();
    rm.lossAndBackward(item, opts);
    expect(Math.max(...rm.body.grads!.view.map(Math.abs))).toBeGreaterThan(1e-3);
    expect(directionalError(rm.body.params.view, rm.body.grads!.view, loss, 4, 5)).toBeLessThan(0.02);
    expect(directionalError(rm.head.params.view, rm.head.grads.view, loss, 4, 6)).toBeLessThan(0.02);
    // The SFT model it was copied from is untouched, and the next-token head gets no gradient.
    expect(Array.from(sftModel.params.view)).toEqual(Array.from((await tinyModel(1)).params.view));
    const lmHead = rm.body.tensors.find((t) => t.name === "lm_head.weight")!;
    expect(Math.max(...rm.body.grads!.view.subarray(lmHead.offset, lmHead.offset + lmHead.size).map(Math.abs))).toBe(0);
  });

  it("scripted labeler: right, then nearer numbers, then non-numbers, then shorter; ties kept once; JSONL round-trips", () => {
    const r = scriptedRanking("What is 2 plus 3?", "5", ["7", "5", " 5", "15", "five", "5.", "", "3", "8", "2+3"])!;
    // "3" is as far from 5 as "7": the labeler cannot tell them apart and keeps the first.
    expect(r.responses).toEqual(["7", "5", "15", "five", "5.", "8", "2+3"]);
    expect(r.ranking.map((i) => r.responses[i])).toEqual(["5", "5.", "7", "8", "15", "2+3", "five"]);
    expect(scriptedRanking("q", "5", ["5", "5 ", ""])).toBeNull();
    // Any grade can replace the arithmetic one: here longer is better.
    const longest = scriptedRanking("q", "", ["a", "abc", "ab"], (out) => [out.length])!;
    expect(longest.ranking.map((i) => longest.responses[i])).toEqual(["abc", "ab", "a"]);
    const back = readPreferenceJsonl(rankingsToJsonl([r]));
    expect(back[0]).toMatchObject({ prompt: r.prompt, responses: r.responses, ranking: r.ranking });
  });

  it("learns the labeler's order from an SFT model's sampled answers: held-out pairwise accuracy ≥ 75%", async () => {
    const k = await loadKernelsFromFiles("simd");
    const { train, heldOut } = arithmeticSplits({ seed: 1, maxOperand: 9, ops: ["plus", "minus"], train: 105, heldOut: 50, wordsFraction: 0 });
    const base = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train([...train, ...heldOut].map((p) => `${p.prompt} ${p.answer}`)));
    const config = llamaConfig({ vocabSize: base.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 176, contextLength: 32 });
    const { model, tokenizer } = prepareChatModel(Llama.init(k, config, { seed: 1 }), base);
    // A half-trained SFT model: its samples are a mix of right and wrong answers, so rankings carry information.
    await sft(model, tokenizer, train.map(problemToChat), { steps: 120, batchSize: 16, lr: 3e-3 });
    const sample = (items: typeof train, seed: number) => sampleRankings(model, tokenizer, items, { K: 4, temperature: 1, maxTokens: 4, seed });
    const trainRanks = await sample(train, 0), heldRanks = await sample(heldOut, 1000);
    // Temperatures cycle sample by sample: near-greedy samples alone are all alike (nothing to rank), hot ones in between are not.
    const few = train.slice(0, 10);
    expect(await sampleRankings(model, tokenizer, few, { K: 4, temperature: [1e-3], maxTokens: 4 })).toEqual([]);
    expect((await sampleRankings(model, tokenizer, few, { K: 4, temperature: [1e-3, 5], maxTokens: 4 })).length).toBeGreaterThan(5);
    for (const temperature of [[], [1, -1], [Number.NaN]]) {
      await expect(sampleRankings(model, tokenizer, few, { K: 4, temperature })).rejects.toThrow(/temperature must be/);
    }
    expect(trainRanks.length).toBeGreaterThan(40);
    const rm = RewardModel.fromSft(model, tokenizer, { head: { optimizer: { lr: 1e-2 } } });
    const before = pairwiseAccuracy(rm, heldRanks);
    expect(before.loss).toBeCloseTo(Math.LN2, 6); // a zero head scores every answer 0
    const logs = await trainRewardModel(rm, trainRanks, { steps: 300, batchSize: 8, lr: 1e-3, centering: 0.01 });
    const after = pairwiseAccuracy(rm, heldRanks);
    console.log(`reward model: ${trainRanks.length} train / ${heldRanks.length} held-out prompts, ${after.pairs} held-out pairs; accuracy ${after.accuracy.toFixed(3)}, loss ${before.loss.toFixed(3)} → ${after.loss.toFixed(3)}; last train loss ${logs.at(-1)!.loss.toFixed(3)}`);
    expect(after.accuracy).toBeGreaterThanOrEqual(0.75);
    expect(after.loss).toBeLessThan(before.loss);
  }, 60_000);
});
