// PPO: GAE against a hand-computed trajectory, the clipped policy and value losses' gradients against central finite
// differences through a tiny model and value head, a short run that must raise a toy reward, and option checks.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { ScalarHead } from "../../src/posttrain/head.js";
import { tokenLogProbs } from "../../src/posttrain/logprobs.js";
import { type PpoMinibatch, type PpoStepLog, clippedPolicyLoss, clippedValueLoss, gae, ppo, ppoLoss } from "../../src/posttrain/ppo.js";
import { Random } from "../../src/util/random.js";

const config = llamaConfig({ vocabSize: 8, dim: 16, nLayers: 2, nHeads: 2, nKvHeads: 1, ffnDim: 32, contextLength: 16, tiedEmbeddings: false });

describe("gae", () => {
  it("matches a 3-step trajectory worked by hand (γ 0.9, λ 0.8)", () => {
    // δ2 = 2 − 0.2 = 1.8;  δ1 = 0 + 0.9·0.2 − 1 = −0.82;  δ0 = 1 + 0.9·1 − 0.5 = 1.4
    // A2 = 1.8;  A1 = −0.82 + 0.72·1.8 = 0.476;  A0 = 1.4 + 0.72·0.476 = 1.74272;  R = A + V
    const { advantages, returns } = gae([1, 0, 2], [0.5, 1.0, 0.2], 0.9, 0.8);
    [1.74272, 0.476, 1.8].forEach((a, i) => expect(advantages[i]).toBeCloseTo(a, 12));
    [2.24272, 1.476, 2.0].forEach((r, i) => expect(returns[i]).toBeCloseTo(r, 12));
  });

  it("refuses γ or λ outside [0, 1] and mismatched lengths", () => {
    expect(() => gae([1], [0], 1.5, 0.9)).toThrow(TinyLMError);
    expect(() => gae([1], [0], 1, -0.1)).toThrow(TinyLMError);
    expect(() => gae([1, 2], [0], 1, 0.9)).toThrow(TinyLMError);
  });

  it("the loss helpers refuse mismatched lengths, bad clips and all-masked targets", () => {
    expect(() => clippedPolicyLoss([0, 0], [0], [1, 1], [1, 2], 0.2)).toThrow(TinyLMError);
    expect(() => clippedPolicyLoss([0], [0], [1], [1], 1)).toThrow(TinyLMError);
    expect(() => clippedPolicyLoss([0], [0], [1], [-1], 0.2)).toThrow(TinyLMError);
    expect(() => clippedValueLoss([0], [0], [1], [1], 0)).toThrow(TinyLMError);
    expect(() => clippedValueLoss([0], [0, 1], [1], [1], 0.2)).toThrow(TinyLMError);
  });
});

// Two rows of 6 positions; actions (targets) on the last 3 and 4 positions, the rest masked.
async function setup() {
  const k = await loadKernelsFromFiles("simd");
  const model = Llama.init(k, config, { seed: 3, initStd: 0.3 });
  const head = new ScalarHead(k, config.dim, { std: 0.3, seed: 5 });
  const rng = new Random(7);
  const B = 2, T = 6;
  const ids = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
  const targets = Int32Array.from({ length: B * T }, (_, n) => (n % T >= (n < T ? 3 : 2) ? rng.int(config.vocabSize) : -1));
  model.forward(ids, { B, T });
  const logp = tokenLogProbs(model.logits(), targets, config.vocabSize);
  const values = head.forwardAll(model.hidden());
  return { model, head, rng, B, T, ids, targets, logp, values };
}

// Central differences of ppoLoss over a sample of body parameters and every head parameter, against the analytic
// gradients of one backward pass.
function checkGradients(model: Llama, head: ScalarHead, mb: PpoMinibatch, opts: { vfCoef: number }, rng: Random) {
  const r = ppoLoss(model, head, mb, { ...opts, backward: true });
  const body = model.grads!.view.slice(), hg = head.grads.view.slice();
  const loss = () => ppoLoss(model, head, mb, opts).loss;
  const fd = (view: Float32Array, i: number) => {
    const h = 1e-3, x = view[i];
    view[i] = x + h;
    const up = loss();
    view[i] = x - h;
    const down = loss();
    view[i] = x;
    return (up - down) / (2 * h);
  };
  const pairs: [number, number][] = [];
  for (let j = 0; j < 40; j++) {
    const i = rng.int(body.length);
    pairs.push([fd(model.params.view, i), body[i]]);
  }
  const headPairs: [number, number][] = [];
  for (let i = 0; i < hg.length; i++) headPairs.push([fd(head.params.view, i), hg[i]]);
  return { r, pairs, headPairs };
}

function expectClose(pairs: [number, number][], what: string) {
  const scale = Math.max(...pairs.map(([, a]) => Math.abs(a)));
  const worst = Math.max(...pairs.map(([f, a]) => Math.abs(f - a)));
  expect(scale, `${what}: the gradient is all zero`).toBeGreaterThan(1e-3);
  expect(worst, `${what}: max |fd − analytic| ${worst} at scale ${scale}; first ${pairs.slice(0, 3).map(([f, a]) => `${f.toFixed(5)}/${a.toFixed(5)}`).join(" ")}`).toBeLessThan(2e-2 * scale + 1e-4);
}

describe("ppoLoss gradients against central finite differences (tiny model + value head)", () => {
  it("clipped policy objective: ratios inside and outside [0.8, 1.2], both advantage signs", async () => {
    const { model, head, rng, B, T, ids, targets, logp, values } = await setup();
    // Old log-probs 0 or ±0.5 from the current ones: ratios of 1 (unclipped) and e^±0.5 (clipped or not by A's sign).
    const shifts = [0, 0.5, -0.5];
    const oldLogp = logp.map((x, n) => (targets[n] === -1 ? 0 : x + shifts[n % 3]));
    const advantages = Float64Array.from(targets, (t) => (t === -1 ? 0 : rng.normal()));
    const mb: PpoMinibatch = { B, T, ids, targets, oldLogp, oldValues: Float64Array.from(values), advantages, returns: Float64Array.from(values) };
    const { r, pairs } = checkGradients(model, head, mb, { vfCoef: 0 }, rng);
    expect(r.clipFrac).toBeGreaterThan(0);
    expect(r.clipFrac).toBeLessThan(1);
    expectClose(pairs, "policy loss, body");
  });

  it("clipped value loss: values inside and outside the clip range, through the head into the body", async () => {
    const { model, head, rng, B, T, ids, targets, logp, values } = await setup();
    const shifts = [0, 0.05, -0.6];
    const oldValues = values.map((v, n) => (targets[n] === -1 ? 0 : v + shifts[n % 3]));
    const returns = Float64Array.from(targets, (t) => (t === -1 ? 0 : rng.normal()));
    const mb: PpoMinibatch = { B, T, ids, targets, oldLogp: logp, oldValues, advantages: new Float64Array(B * T), returns };
    const { r, pairs, headPairs } = checkGradients(model, head, mb, { vfCoef: 1 }, rng);
    expect(r.policyLoss).toBe(0);
    expectClose(pairs, "value loss, body");
    expectClose(headPairs, "value loss, head");
  });
});

describe("ppo", () => {
  it("raises a toy reward (count of token 5 in the response) within 20 steps, fixed seed", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config, { seed: 1 });
    const head = new ScalarHead(k, config.dim, { optimizer: { lr: 1e-2 } });
    const logs: PpoStepLog[] = [];
    const count = (_: readonly number[], response: readonly number[]) => response.filter((t) => t === 5).length;
    await ppo(model, head, [[0], [1], [2, 3]], count, {
      steps: 20, batchSize: 16, miniBatchSize: 8, maxNewTokens: 8, lr: 3e-3, klCoef: 0.02, seed: 1, onStep: (l) => logs.push(l),
    });
    const mean = (xs: PpoStepLog[]) => xs.reduce((s, l) => s + l.reward, 0) / xs.length;
    const first = mean(logs.slice(0, 3)), last = mean(logs.slice(-3));
    // At the start the 8 tokens are near-uniform, so about 1 of 8 is a 5.
    expect(first).toBeLessThan(2);
    expect(last, `reward ${logs.map((l) => l.reward.toFixed(2)).join(" ")}`).toBeGreaterThan(first + 1.5);
    for (const l of logs) {
      for (const v of [l.kl, l.entropy, l.clipFrac, l.approxKl, l.valueLoss, l.responseLength]) expect(Number.isFinite(v)).toBe(true);
      expect(l.responseLength).toBe(8);
    }
    expect(logs[logs.length - 1].kl).toBeGreaterThan(0);
  }, 30_000);

  it("learns to end early with an end token and a missing-end penalty; the adaptive β grows while KL exceeds its target", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config, { seed: 2 });
    const head = new ScalarHead(k, config.dim, { optimizer: { lr: 1e-2 } });
    const logs: PpoStepLog[] = [];
    // Score: −length; a response cut off at maxNewTokens also loses missingEndPenalty.
    await ppo(model, head, [[0], [1]], (_, response) => -response.length, {
      steps: 15, batchSize: 16, maxNewTokens: 8, endId: 7, missingEndPenalty: 2, lr: 3e-3, klCoef: 0.05, targetKl: 0.01, klHorizon: 16, seed: 2,
      onStep: (l) => logs.push(l),
    });
    const len = (xs: PpoStepLog[]) => xs.reduce((s, l) => s + l.responseLength, 0) / xs.length;
    expect(len(logs.slice(-3)), `lengths ${logs.map((l) => l.responseLength.toFixed(2)).join(" ")}`).toBeLessThan(len(logs.slice(0, 3)) - 1);
    // The end token counts in the length: a response that ended holds at least it.
    expect(Math.min(...logs.map((l) => l.responseLength))).toBeGreaterThanOrEqual(1);
    // Once KL ≫ 0.01 each step multiplies β by 1 + 0.2·16/16 (the first step, at KL 0, divides it by 1.2).
    expect(logs[logs.length - 1].klCoef).toBeGreaterThan(0.05 * 1.2 ** 5);
  }, 30_000);

  it("draws prompts in shuffled epochs: each equally often, in a different order each epoch", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config, { seed: 3 });
    const head = new ScalarHead(k, config.dim);
    const seen: number[] = [];
    const prompts = [[0], [1], [2], [3], [4], [5]];
    await ppo(model, head, prompts, (prompt) => (seen.push(prompt[0]), 0), { steps: 5, batchSize: 3, maxNewTokens: 2, seed: 4 });
    expect(seen.length).toBe(15);
    for (let epoch = 0; epoch < 2; epoch++) expect([...seen.slice(6 * epoch, 6 * epoch + 6)].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(seen.slice(0, 6)).not.toEqual(seen.slice(6, 12));
    head.free();
  });

  it("refuses malformed options, prompts and heads with TinyLMError", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, config, { seed: 1 });
    const head = new ScalarHead(k, config.dim);
    const r = () => 0;
    const bad = async (f: () => Promise<unknown>) => expect(f()).rejects.toThrow(TinyLMError);
    await bad(() => ppo(model, head, [[0]], r, { steps: 0 }));
    await bad(() => ppo(model, head, [[0]], r, { steps: 1, clip: 1.5 }));
    await bad(() => ppo(model, head, [[0]], r, { steps: 1, batchSize: 2, miniBatchSize: 3 }));
    await bad(() => ppo(model, head, [[0]], r, { steps: 1, lambda: 2 }));
    await bad(() => ppo(model, head, [[0]], r, { steps: 1, endId: 99 }));
    await bad(() => ppo(model, head, [[0]], r, { steps: 1, targetKl: -1 }));
    await bad(() => ppo(model, head, [[]], r, { steps: 1 }));
    await bad(() => ppo(model, head, [new Array(16).fill(0)], r, { steps: 1 }));
    await bad(() => ppo(model, head, [[9]], r, { steps: 1 }));
    await bad(() => ppo(model, new ScalarHead(k, 4), [[0]], r, { steps: 1 }));
    await bad(() => ppo(model, head, [[0]], () => NaN, { steps: 1, maxNewTokens: 2 }));
  });
});
