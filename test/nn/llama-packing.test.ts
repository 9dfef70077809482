// Packed rows (forward's `segments`): several sequences in one row of T positions, each attending only to itself with
// positions restarting at 0. Checked two ways: against the float64 reference given the same segments (itself checked
// by finite differences in test/reference), and by the property that defines packing — a packed row computes what its
// sequences compute one by one.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { type LlamaConfig, llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import * as ref from "../reference/llama64.js";
import { relativeError } from "../helpers.js";

function tokens(n: number, V: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % V);
}

const configs: [string, LlamaConfig][] = [
  ["untied, grouped-query", llamaConfig({ vocabSize: 37, dim: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 24, contextLength: 16, tiedEmbeddings: false })],
  ["tied, multi-head", llamaConfig({ vocabSize: 29, dim: 12, nLayers: 3, nHeads: 3, nKvHeads: 3, ffnDim: 20, contextLength: 16, tiedEmbeddings: true })],
];

async function modelWith(config: LlamaConfig, params: ref.Params, flavor: "simd" | "relaxed" = "simd"): Promise<Llama> {
  const model = new Llama(await loadKernelsFromFiles(flavor), config);
  for (const t of model.tensors) model.params.view.set(params[t.name], t.offset);
  return model;
}

describe.each(configs)("packed Llama (%s)", (_, config) => {
  const V = config.vocabSize;
  // std 0.3: large enough that attention to another sequence, or a wrong position, changes the logits visibly.
  const params = ref.initParams(config, 21, 0.3);

  it("logits, loss and every gradient agree with the float64 reference given the same segments", async () => {
    const B = 2, T = 9;
    const segments = [[0, 0, 0, 1, 1, 1, 1, 2, 2], [3, 3, 3, 3, 3, 8, 8, 8, 8]];
    const ids = [tokens(T, V, 1), tokens(T, V, 2)];
    const targets = [tokens(T, V, 3), tokens(T, V, 4)];
    targets[0][2] = -1; // the last position of a sequence is not trained in packed SFT
    targets[1][4] = -1;
    const model = await modelWith(config, params);
    const loss = model.forward(ids.flat(), { B, T, targets: targets.flat(), segments: segments.flat() });
    const want = ref.forward(params, config, ids, targets, segments);
    const logits = relativeError(model.logits(), want.logits);
    expect(logits.rel, `logits ${logits.head}`).toBeLessThan(1e-5);
    expect(Math.abs(loss - want.loss!)).toBeLessThan(1e-5 * want.loss!);
    model.zeroGrad();
    model.backward();
    const grads = ref.backward(params, config, ids, targets, segments);
    for (const t of model.tensors) {
      const c = relativeError(model.grads!.view.subarray(t.offset, t.offset + t.size), grads[t.name]);
      expect(c.rel, `${t.name}: ${c.head}`).toBeLessThan(1e-4);
    }
    // The reference without segments differs: the comparison above can tell packing from plain causal attention.
    expect(relativeError(model.logits(), ref.forward(params, config, ids).logits).rel).toBeGreaterThan(1e-2);
  });

  it("a packed row's logits, loss and gradients equal its sequences run alone (gradients summed)", async () => {
    for (const flavor of ["simd", "relaxed"] as const) {
      const lengths = [4, 3, 6, 2];
      const T = lengths.reduce((a, b) => a + b, 0);
      const ids = tokens(T, V, 7), targets = tokens(T, V, 8);
      const segments: number[] = [];
      lengths.forEach((n, s) => segments.push(...new Array(n).fill(s)));
      let start = 0;
      for (const n of lengths) {
        targets[start + n - 1] = -1; // as sftBatch does: no target across a boundary
        start += n;
      }
      const model = await modelWith(config, params, flavor);
      const loss = model.forward(ids, { T, targets, segments });
      const packedLogits = model.logits();
      model.zeroGrad();
      model.backward();
      const packedGrads = model.grads!.toArray();

      // Each sequence alone, its backward weighted by its share of the packed row's targets: the packed loss is the
      // mean over all of them, so its gradient is the weighted sum of the per-sequence mean-loss gradients.
      const counted = targets.filter((t) => t !== -1).length;
      let weighted = 0;
      start = 0;
      model.zeroGrad();
      for (const n of lengths) {
        const mine = targets.slice(start, start + n), m = mine.filter((t) => t !== -1).length;
        const alone = model.forward(ids.slice(start, start + n), { targets: mine });
        const c = relativeError(model.logits(), packedLogits.subarray(start * V, (start + n) * V));
        expect(c.rel, `${flavor}: sequence at ${start}: ${c.head}`).toBeLessThan(1e-5);
        weighted += (alone * m) / counted;
        model.backward(m / counted);
        start += n;
      }
      expect(Math.abs(loss - weighted)).toBeLessThan(1e-5 * loss);
      const g = relativeError(packedGrads, model.grads!.view);
      expect(g.rel, `${flavor} gradients: ${g.head}`).toBeLessThan(1e-5);
    }
  });

  it("one segment per row is bit-identical to no segments, and a later plain forward forgets the segments", async () => {
    const B = 2, T = 8;
    const ids = tokens(B * T, V, 11), targets = tokens(B * T, V, 12);
    const model = await modelWith(config, params);
    const plainLoss = model.forward(ids, { B, T, targets });
    const plainLogits = model.logits();
    model.zeroGrad();
    model.backward();
    const plainGrads = model.grads!.toArray();

    const loss = model.forward(ids, { B, T, targets, segments: [...new Array(T).fill(5), ...new Array(T).fill(-2)] });
    expect(loss).toBe(plainLoss);
    expect(model.logits()).toEqual(plainLogits);
    model.zeroGrad();
    model.backward();
    expect(model.grads!.toArray()).toEqual(plainGrads);

    model.forward(ids, { B, T, targets, segments: ids.map((_, i) => i) }); // every position its own sequence
    expect(relativeError(model.logits(), plainLogits).rel).toBeGreaterThan(1e-2);
    expect(model.forward(ids, { B, T, targets })).toBe(plainLoss);
    expect(model.logits()).toEqual(plainLogits);
  });
});

describe("packed Llama input validation", () => {
  it("rejects segments of the wrong length, decreasing along a row, or not integers", async () => {
    const k = await loadKernelsFromFiles("simd");
    const model = Llama.init(k, llamaConfig({ vocabSize: 10, dim: 8, nLayers: 1, nHeads: 2, ffnDim: 8, contextLength: 8 }));
    const ids = [1, 2, 3, 4, 5, 6];
    const cases: [string, ArrayLike<number>, RegExp][] = [
      ["too short", [0, 0, 0, 1, 1], /B·T = 6/],
      ["too long", [0, 0, 0, 1, 1, 1, 1], /B·T = 6/],
      ["decreasing within a row", [0, 1, 0, 0, 1, 1], /segments\[2\] = 0 is less than segments\[1\] = 1/],
      ["fractional", [0, 0, 0.5, 1, 1, 1], /not an integer/],
      ["NaN", [0, 0, NaN, 1, 1, 1], /not an integer/],
    ];
    for (const [what, segments, message] of cases) {
      const call = () => model.forward(ids, { B: 2, T: 3, segments });
      expect(call, what).toThrow(TinyLMError);
      expect(call, what).toThrow(message);
    }
    // a row may start lower than the previous row ended: rows are independent
    expect(() => model.forward(ids, { B: 2, T: 3, segments: [4, 4, 5, 0, 0, 1] })).not.toThrow();
  });
});
