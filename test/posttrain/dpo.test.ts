// DPO: the loss against its formula and finite differences, the policy's gradient by finite differences on a tiny
// model, and a short run on a toy preference that must raise the preferred answer's margin over the reference.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { type DpoStepLog, dpo, dpoLoss, dpoLossAndBackward, sequenceLogProbs } from "../../src/posttrain/dpo.js";
import { tokenizePreference } from "../../src/posttrain/preference.js";
import { ChatTemplate } from "../../src/posttrain/chat.js";
import { prepareChatModel } from "../../src/posttrain/sft.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";
import { directionalError, tinyItem, tinyModel } from "./gradcheck.js";

describe("dpoLoss", () => {
  it("is the mean of −log σ(β[(π_b − ref_b) − (π_w − ref_w)]) over the pairs, with the matching gradient", () => {
    const pi = [-3.1, -5.0, -2.2], ref = [-3.0, -4.0, -2.5], pairs: [number, number][] = [[2, 0], [2, 1], [0, 1]], beta = 0.5;
    const f = (x: number[]) => pairs.reduce((a, [b, w]) => a + Math.log(1 + Math.exp(-beta * ((x[b] - ref[b]) - (x[w] - ref[w])))), 0) / 3;
    const r = dpoLoss(pi, ref, pairs, beta);
    expect(r.loss).toBeCloseTo(f(pi), 12);
    for (let i = 0; i < 3; i++) {
      const up = [...pi], down = [...pi];
      up[i] += 1e-6;
      down[i] -= 1e-6;
      expect(r.dlogp[i]).toBeCloseTo((f(up) - f(down)) / 2e-6, 7);
    }
    // Policy = reference: every implicit reward is 0, the loss log 2.
    expect(dpoLoss(ref, ref, pairs, beta).loss).toBeCloseTo(Math.LN2, 12);
    expect(() => dpoLoss(pi, ref, pairs, 0)).toThrow(TinyLMError);
    expect(() => dpoLoss(pi, [1], pairs, 1)).toThrow(/reference/);
  });

  it("the policy's gradient through the log-probs and the logits matches finite differences", async () => {
    const reference = await tinyModel(1), policy = await tinyModel(2);
    const item = tinyItem(3), beta = 0.7;
    const refLogp = sequenceLogProbs(reference, item);
    const loss = () => dpoLoss(sequenceLogProbs(policy, item), refLogp, item.pairs, beta).loss;
    policy.zeroGrad();
    dpoLossAndBackward(policy, item, refLogp, beta);
    expect(Math.max(...policy.grads!.view.map(Math.abs))).toBeGreaterThan(1e-3);
    expect(directionalError(policy.params.view, policy.grads!.view, loss, 6, 4)).toBeLessThan(0.02);
    // Only the answer tokens count: the summed log-prob equals the answer's, token by token through the KV-cache path.
    const row = item.rows[1], first = row.train.indexOf(true), cache = policy.newCache();
    let logits = policy.decode(row.ids.slice(0, first), cache), want = 0;
    for (let t = first; t < row.ids.length; t++) {
      const max = Math.max(...logits);
      want += logits[row.ids[t]] - max - Math.log(logits.reduce((s, z) => s + Math.exp(z - max), 0));
      if (t + 1 < row.ids.length) logits = policy.decode([row.ids[t]], cache);
    }
    expect(sequenceLogProbs(policy, item)[1]).toBeCloseTo(want, 4);
  });

  it("a short run on a toy preference raises the preferred answer's margin over the reference", async () => {
    const k = await loadKernelsFromFiles("simd");
    const texts = Array.from({ length: 10 }, (_, i) => `What is ${i} plus 1? ${i + 1}`);
    const base = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 280, specialTokens: ["<|endoftext|>"] }).train(texts));
    const config = llamaConfig({ vocabSize: base.vocabSize, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64, contextLength: 32 });
    const { model: reference, tokenizer } = prepareChatModel(Llama.init(k, config, { seed: 1 }), base);
    const policy = new Llama(k, reference.config, k.f32(reference.params.view));
    // Preferred: the right answer; rejected: the answer one too high.
    const examples = Array.from({ length: 8 }, (_, i) => ({ prompt: `What is ${i} plus 1?`, responses: [`${i + 1}`, `${i + 2}`], ranking: [0, 1] }));
    const items = tokenizePreference(examples, tokenizer, new ChatTemplate(), 32);
    const margin = () => items.reduce((s, item) => {
      const p = sequenceLogProbs(policy, item), r = sequenceLogProbs(reference, item);
      return s + ((p[0] - r[0]) - (p[1] - r[1])) / items.length;
    }, 0);
    expect(margin()).toBe(0);
    const refBefore = Array.from(reference.params.view);
    const logs: DpoStepLog[] = [];
    await dpo(policy, reference, tokenizer, examples, { steps: 30, batchSize: 4, lr: 3e-3, beta: 0.1, seed: 0, onStep: (l) => logs.push(l) });
    expect(margin()).toBeGreaterThan(1);
    expect(logs.at(-1)!.loss).toBeLessThan(logs[0].loss);
    expect(logs[0].loss).toBeCloseTo(Math.LN2, 5);
    expect(logs.at(-1)!.accuracy).toBe(1);
    expect(Array.from(reference.params.view)).toEqual(refBefore);
    await expect(dpo(policy, policy, tokenizer, examples, { steps: 1 })).rejects.toThrow(/different models/);
  }, 30_000);
});
