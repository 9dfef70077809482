// The llm.c test_gpt2.c pattern: the same parameters in the wasm model and in an independent float64 reference
// (test/reference/llama64.ts, itself checked by finite differences), then logits, loss and every parameter gradient
// compared with stated tolerances.
import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { Llama } from "../../src/nn/llama.js";
import { llamaConfig, type LlamaConfig } from "../../src/nn/config.js";
import { TinyLMError } from "../../src/errors.js";
import * as ref from "../reference/llama64.js";
import { relativeError } from "../helpers.js";

function batch(B: number, T: number, V: number, seed: number) {
  const ids: number[][] = [], targets: number[][] = [];
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % V;
  for (let b = 0; b < B; b++) {
    ids.push(Array.from({ length: T }, next));
    targets.push(Array.from({ length: T }, (_, t) => (t === 1 ? -1 : next()))); // one masked position per row
  }
  return { ids, targets };
}

const configs: [string, LlamaConfig][] = [
  ["untied, grouped-query", llamaConfig({ vocabSize: 37, dim: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 24, contextLength: 16, tiedEmbeddings: false })],
  ["tied, multi-head", llamaConfig({ vocabSize: 29, dim: 12, nLayers: 3, nHeads: 3, nKvHeads: 3, ffnDim: 20, contextLength: 16, tiedEmbeddings: true })],
];

describe.each(configs)("Llama (%s) against the float64 reference", (_, config) => {
  const B = 2, T = 7;
  // std 0.3 rather than 0.02: with tiny weights every layer is close to the identity and a wrong layer would hide.
  const params = ref.initParams(config, 11, 0.3);
  const { ids, targets } = batch(B, T, config.vocabSize, 5);

  it("logits, loss and every parameter gradient agree", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = new Llama(k, config);
    const slab = model.params.view;
    for (const t of model.tensors) slab.set(params[t.name], t.offset);

    const loss = model.forward(ids.flat(), { B, T, targets: targets.flat() });
    const want = ref.forward(params, config, ids, targets);
    const logits = relativeError(model.logits(), want.logits);
    expect(logits.rel, `logits ${logits.head}`).toBeLessThan(1e-5);
    expect(Math.abs(loss - want.loss!)).toBeLessThan(1e-5 * want.loss!);

    model.zeroGrad();
    model.backward();
    const grads = ref.backward(params, config, ids, targets);
    const g = model.grads!.view;
    for (const t of model.tensors) {
      const c = relativeError(g.subarray(t.offset, t.offset + t.size), grads[t.name]);
      // f32 accumulation through 2–3 layers: 1e-4 relative to the tensor's largest gradient.
      expect(c.rel, `${t.name}: ${c.head}`).toBeLessThan(1e-4);
    }
  });

  it("gradient accumulation: two half-weighted backward passes equal one", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = new Llama(k, config);
    for (const t of model.tensors) model.params.view.set(params[t.name], t.offset);
    model.forward(ids.flat(), { B, T, targets: targets.flat() });
    model.zeroGrad();
    model.backward();
    const once = model.grads!.toArray();
    model.zeroGrad();
    for (let i = 0; i < 2; i++) {
      model.forward(ids.flat(), { B, T, targets: targets.flat() });
      model.backward(0.5);
    }
    expect(relativeError(model.grads!.view, once).rel).toBeLessThan(1e-6);
  });
});

describe("Llama input validation", () => {
  it("rejects token ids out of range, wrong lengths, overlong sequences and backward without a loss", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, llamaConfig({ vocabSize: 10, dim: 8, nLayers: 1, nHeads: 2, ffnDim: 8, contextLength: 4 }));
    const cases: [string, () => unknown][] = [
      ["id ≥ vocab", () => model.forward([1, 2, 10])],
      ["negative id", () => model.forward([1, -1])],
      ["fractional id", () => model.forward([1.5])],
      ["target out of range", () => model.forward([1, 2], { targets: [3, 12] })],
      ["ids not B·T", () => model.forward([1, 2, 3], { B: 2, T: 2 })],
      ["T beyond context", () => model.forward([1, 2, 3, 4, 5])],
      ["all targets masked", () => model.forward([1, 2], { targets: [-1, -1] })],
    ];
    for (const [what, call] of cases) expect(call, what).toThrow(TinyLMError);
    model.forward([1, 2, 3]);
    model.zeroGrad();
    expect(() => model.backward()).toThrow(/targets/);
  });
});

describe("KV-cache decoding", () => {
  it("prefill + one token at a time gives the logits of a full forward pass at every position", async () => {
    for (const [, config] of configs) {
      const k = await loadKernelsFromFiles("simd");
      const model = Llama.init(k, config, { seed: 4, initStd: 0.3 });
      const ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
      model.forward(ids);
      const full = model.logits();
      const V = config.vocabSize;
      const cache = model.newCache(12);
      const steps: Float32Array[] = [model.decode(ids.slice(0, 4), cache)];
      for (let t = 4; t < ids.length; t++) steps.push(model.decode([ids[t]], cache));
      expect(cache.length).toBe(ids.length);
      steps.forEach((logits, i) => {
        const pos = i + 3;
        const c = relativeError(logits, full.subarray(pos * V, (pos + 1) * V));
        expect(c.rel, `position ${pos}: ${c.head}`).toBeLessThan(1e-5);
      });
      expect(() => model.decode([1, 2, 3], cache)).toThrow(/exceed/);
      cache.reset();
      expect(relativeError(model.decode(ids.slice(0, 4), cache), steps[0]).rel).toBe(0);
    }
  });
});
