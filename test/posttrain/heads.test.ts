// The hooks later stages stand on, checked against the independent float64 reference (test/reference/llama64.ts):
// backward from an arbitrary gradient on the logits (PPO / DPO losses on log-probabilities), backward from a gradient
// on the final hidden states (a scalar head: reward model, value head), the masked SFT loss, and token log-probs.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { type LlamaConfig, llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { tokenLogProbs, tokenLogProbsBackward } from "../../src/posttrain/logprobs.js";
import { Random } from "../../src/util/random.js";
import * as ref from "../reference/llama64.js";
import { relativeError } from "../helpers.js";

// Untied, vocab ≥ dim, grouped-query: the shape the identity-lm_head trick below needs.
const config: LlamaConfig = llamaConfig({ vocabSize: 23, dim: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 24, contextLength: 16, tiedEmbeddings: false });
const B = 2, T = 6, C = config.dim, V = config.vocabSize;

function ids(seed: number): number[][] {
  const rng = new Random(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(V)));
}

async function modelWith(params: ref.Params): Promise<Llama> {
  const model = new Llama(await loadKernelsFromFiles("simd"), config);
  for (const t of model.tensors) model.params.view.set(params[t.name], t.offset);
  return model;
}

function expectGrads(model: Llama, want: ref.Params, skip: string[] = []) {
  for (const t of model.tensors) {
    if (skip.includes(t.name)) continue;
    const c = relativeError(model.grads!.view.subarray(t.offset, t.offset + t.size), want[t.name]);
    expect(c.rel, `${t.name}: ${c.head}`).toBeLessThan(1e-4);
  }
}

describe("Llama.backwardFrom against the float64 reference", () => {
  const params = ref.initParams(config, 3, 0.3);
  const x = ids(9);

  it("dlogits: every parameter gradient of an arbitrary loss on the logits", async () => {
    const rng = new Random(4);
    const dlogits = Float64Array.from({ length: B * T * V }, () => rng.normal());
    const model = await modelWith(params);
    model.forward(x.flat(), { B, T });
    model.zeroGrad();
    model.backwardFrom({ dlogits });
    expectGrads(model, ref.backwardFromLogits(params, config, x, dlogits));
  });

  it("dhidden: gradients from the final hidden states, and hidden() is the normed last layer", async () => {
    // With lm_head = [I; 0] the reference's logits are the hidden states and its dlogits = [dhidden, 0] is exactly a
    // gradient on them; every tensor but lm_head then gets what a scalar head's loss would give it.
    const p = { ...params, "lm_head.weight": new Float64Array(V * C) };
    for (let c = 0; c < C; c++) p["lm_head.weight"][c * C + c] = 1;
    const rng = new Random(5);
    const dhidden = Float64Array.from({ length: B * T * C }, () => rng.normal());
    const dlogits = new Float64Array(B * T * V);
    for (let n = 0; n < B * T; n++) dlogits.set(dhidden.subarray(n * C, (n + 1) * C), n * V);
    const model = await modelWith(p);
    model.forward(x.flat(), { B, T });
    const logits = ref.forward(p, config, x).logits;
    const hidden = model.hidden();
    const wantHidden = Float64Array.from({ length: B * T * C }, (_, i) => logits[Math.floor(i / C) * V + (i % C)]);
    expect(relativeError(hidden, wantHidden).rel).toBeLessThan(1e-5);
    model.zeroGrad();
    model.backwardFrom({ dhidden });
    expectGrads(model, ref.backwardFromLogits(p, config, x, dlogits), ["lm_head.weight"]);
    expect(relativeError(model.param("lm_head.weight").view, p["lm_head.weight"]).rel, "lm_head untouched").toBe(0);
    const dHead = model.grads!.view.subarray(model.tensors.find((t) => t.name === "lm_head.weight")!.offset);
    expect(Math.max(...dHead.subarray(0, V * C).map(Math.abs)), "no gradient reaches lm_head").toBe(0);
  });

  it("the SFT mask: only answer positions count (prompt and padding targets -1)", async () => {
    const targets = [[-1, -1, -1, 7, 2, -1], [-1, -1, 5, -1, -1, -1]];
    const model = await modelWith(params);
    const loss = model.forward(x.flat(), { B, T, targets: targets.flat() });
    const want = ref.forward(params, config, x, targets);
    expect(Math.abs(loss - want.loss!)).toBeLessThan(1e-5 * want.loss!);
    model.zeroGrad();
    model.backward();
    expectGrads(model, ref.backward(params, config, x, targets));
  });

  it("rejects a missing forward, wrong sizes and non-finite gradients", async () => {
    const model = await modelWith(params);
    model.zeroGrad();
    expect(() => model.backwardFrom({ dhidden: new Float32Array(B * T * C) })).toThrow(/forward first/);
    model.forward(x.flat(), { B, T });
    expect(() => model.backwardFrom({})).toThrow(TinyLMError);
    expect(() => model.backwardFrom({ dhidden: new Float32Array(3) })).toThrow(/B·T·C/);
    expect(() => model.backwardFrom({ dlogits: new Float32Array(B * T * V).fill(NaN) })).toThrow(/NaN/);
    model.decode([1, 2], model.newCache(4));
    expect(() => model.backwardFrom({ dhidden: new Float32Array(B * T * C) })).toThrow(/forward first/);
  });
});

describe("tokenLogProbs", () => {
  it("equals log(softmax) computed in float64 the direct way, skips -1, survives huge logits", () => {
    const rng = new Random(1);
    const N = 5, Vs = 7;
    const logits = Float64Array.from({ length: N * Vs }, () => rng.normal(0, 3));
    logits[3 * Vs + 2] = 1000; // exp(1000) overflows without the max subtraction
    const targets = [0, 6, -1, 2, 4];
    const got = tokenLogProbs(logits, targets, Vs);
    for (let n = 0; n < N; n++) {
      if (targets[n] === -1) { expect(got[n]).toBe(0); continue; }
      const row = Array.from(logits.subarray(n * Vs, (n + 1) * Vs));
      const want = n === 3 ? 0 : Math.log(Math.exp(row[targets[n]]) / row.reduce((s, z) => s + Math.exp(z), 0));
      expect(got[n]).toBeCloseTo(want, 10);
    }
    expect(() => tokenLogProbs(logits, [0, 1, 2, 3, 7], Vs)).toThrow(TinyLMError);
    expect(() => tokenLogProbs(logits, [0, 1], Vs)).toThrow(TinyLMError);
  });

  it("its backward matches central finite differences of Σ w·log p", () => {
    const rng = new Random(2);
    const N = 4, Vs = 6;
    const logits = Float64Array.from({ length: N * Vs }, () => rng.normal());
    const targets = [1, -1, 5, 0], w = [0.5, 3, -2, 1.5];
    const f = (z: Float64Array) => tokenLogProbs(z, targets, Vs).reduce((s, lp, n) => s + w[n] * lp, 0);
    const d = new Float64Array(N * Vs);
    tokenLogProbsBackward(d, w, logits, targets, Vs);
    for (let i = 0; i < logits.length; i++) {
      const h = 1e-6, up = Float64Array.from(logits), down = Float64Array.from(logits);
      up[i] += h;
      down[i] -= h;
      expect(d[i]).toBeCloseTo((f(up) - f(down)) / (2 * h), 6);
    }
  });
});
