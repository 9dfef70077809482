import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { Llama } from "../../src/nn/llama.js";
import { AdamW } from "../../src/nn/optim.js";
import { llamaConfig } from "../../src/nn/config.js";
import { pretrain, type TrainState, type StepLog } from "../../src/train/pretrain.js";
import { learningRate } from "../../src/train/schedule.js";
import { splitTokens } from "../../src/train/data.js";
import * as ref from "../reference/llama64.js";

const config = llamaConfig({ vocabSize: 23, dim: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 24, contextLength: 8, tiedEmbeddings: false });

// A learnable stream: token t+1 follows t with a little noise.
function stream(n: number): Int32Array {
  let s = 7;
  return Int32Array.from({ length: n }, (_, i) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % 10 === 0 ? s % 23 : (i * 3) % 23));
}

describe("pretraining, the llm.c way", () => {
  it("the first 10 AdamW steps give the losses of the float64 reference with a float64 AdamW", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = new Llama(k, config);
    const params = ref.initParams(config, 3, 0.2);
    for (const t of model.tensors) model.params.view.set(params[t.name], t.offset);
    const opt = new AdamW({ lr: 1e-2, weightDecay: 0.1, groups: model.parameterGroups(0.1) });
    // The reference optimizer, from torch.optim.AdamW's documented update, written out here in float64.
    const m: ref.Params = {}, v: ref.Params = {};
    for (const [n, p] of Object.entries(params)) { m[n] = new Float64Array(p.length); v[n] = new Float64Array(p.length); }
    const [b1, b2, eps] = [0.9, 0.95, 1e-8];

    const data = stream(400);
    const B = 2, T = 8;
    const ours: number[] = [], theirs: number[] = [];
    for (let step = 1; step <= 10; step++) {
      const ids: number[][] = [], targets: number[][] = [];
      for (let b = 0; b < B; b++) {
        const s = (step * 37 + b * 101) % (data.length - T - 1);
        ids.push(Array.from(data.subarray(s, s + T)));
        targets.push(Array.from(data.subarray(s + 1, s + T + 1)));
      }
      ours.push(model.forward(ids.flat(), { B, T, targets: targets.flat() }));
      model.zeroGrad();
      model.backward();
      opt.step(k, model.params, model.grads!);

      theirs.push(ref.forward(params, config, ids, targets).loss!);
      const grads = ref.backward(params, config, ids, targets);
      for (const [n, p] of Object.entries(params)) {
        const wd = n.endsWith("norm.weight") ? 0 : 0.1;
        for (let i = 0; i < p.length; i++) {
          const g = grads[n][i];
          p[i] -= 1e-2 * wd * p[i];
          m[n][i] = b1 * m[n][i] + (1 - b1) * g;
          v[n][i] = b2 * v[n][i] + (1 - b2) * g * g;
          p[i] -= (1e-2 * (m[n][i] / (1 - b1 ** step))) / (Math.sqrt(v[n][i] / (1 - b2 ** step)) + eps);
        }
      }
    }
    for (let i = 0; i < 10; i++) expect(Math.abs(ours[i] - theirs[i]), `step ${i + 1}: ${ours[i]} vs ${theirs[i]}`).toBeLessThan(2e-4 * theirs[i]);
    expect(ours[9]).toBeLessThan(ours[0] - 0.3);
  });

  it("resumes exactly: a run stopped at a checkpoint and resumed logs the same losses as one that was not", async () => {
    const k = await loadKernelsFromFiles("simd");
    const data = splitTokens(stream(3000), 0.2);
    const options = { steps: 8, batchSize: 2, lr: 5e-3, warmupSteps: 2, evalEvery: 4, evalBatches: 2, seed: 9 };
    const losses = (logs: StepLog[]) => logs.map((l) => l.loss);

    const straight: StepLog[] = [];
    await pretrain(Llama.init(k, config, { seed: 1 }), data, { ...options, onStep: (l) => straight.push(l) });

    let saved: TrainState | undefined;
    const first: StepLog[] = [];
    await pretrain(Llama.init(k, config, { seed: 1 }), data, { ...options, steps: 8, checkpointEvery: 3, onStep: (l) => first.push(l),
      onCheckpoint: (s) => { if (s.step === 3) saved = s; } });
    const resumed: StepLog[] = [];
    const end = await pretrain(Llama.init(k, config, { seed: 42 }), data, { ...options, onStep: (l) => resumed.push(l) }, saved);
    expect(losses(resumed)).toEqual(losses(straight).slice(3));
    expect(end.history.train.map((h) => h.loss)).toEqual(losses(straight));
    expect(end.history.val.length).toBe(2);
    expect(straight[7].loss).toBeLessThan(straight[0].loss);
  });

  it("learning-rate schedule: linear warm-up then cosine to the floor", () => {
    const s = { lr: 1, minLr: 0.1, warmupSteps: 10, totalSteps: 110 };
    expect(learningRate(0, s)).toBeCloseTo(0.1, 12);
    expect(learningRate(9, s)).toBeCloseTo(1, 12);
    expect(learningRate(10, s)).toBeCloseTo(1, 12);
    expect(learningRate(60, s)).toBeCloseTo(0.55, 12); // halfway down the cosine
    expect(learningRate(110, s)).toBeCloseTo(0.1, 12);
    expect(learningRate(500, s)).toBeCloseTo(0.1, 12);
  });

  it("rejects bad options with TinyLMError", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config);
    const data = splitTokens(stream(500), 0.2);
    await expect(pretrain(model, data, { steps: 0 })).rejects.toThrow(/steps/);
    await expect(pretrain(model, data, { steps: 2, seqLen: 100 })).rejects.toThrow(/context length/);
    await expect(pretrain(model, data, { steps: 2, lr: -1 })).rejects.toThrow(/lr/);
  });
});
