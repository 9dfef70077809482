import { describe, expect, it } from "vitest";
import { Random } from "../../src/util/random.js";
import { backward, backwardFromLogits, forward, initParams, paramShapes, type Llama64Config, type Params } from "./llama64.js";

// The reference's backward against central finite differences of its own forward, element by element, for every
// parameter tensor. In float64 with h = 1e-5 the difference quotient is accurate to ~1e-10 (truncation h²·f'''/6 and
// rounding ε·|loss|/h are both about that), so the tolerance |analytic − numeric| ≤ 1e-8 + 1e-6·|numeric| leaves
// room only for rounding, not for a wrong term.
const H = 1e-5;
const ABS_TOL = 1e-8;
const REL_TOL = 1e-6;

const tiny: Llama64Config = {
  vocabSize: 11, dim: 8, nLayers: 2, nHeads: 2, nKvHeads: 1, ffnDim: 12, contextLength: 16, ropeTheta: 10000, normEps: 1e-5,
  tiedEmbeddings: false,
};

// Weights large enough (std 0.5) that every nonlinearity is away from its linear regime, and norm gains away from 1.
function randomParams(c: Llama64Config, seed: number): Params {
  const params = initParams(c, seed, 0.5);
  const rng = new Random(seed + 1);
  for (const [name, shape] of Object.entries(paramShapes(c))) {
    if (shape.length === 1) params[name].forEach((_, i, a) => (a[i] = 1 + 0.3 * rng.normal()));
  }
  return params;
}

function randomIds(c: Llama64Config, B: number, T: number, seed: number): number[][] {
  const rng = new Random(seed);
  return Array.from({ length: B }, () => Array.from({ length: T }, () => rng.int(c.vocabSize)));
}

function checkGradients(c: Llama64Config, ids: number[][], targets: number[][], seed: number, segments?: number[][]): { worst: number; count: number } {
  const params = randomParams(c, seed);
  const grads = backward(params, c, ids, targets, segments);
  expect(Object.keys(grads)).toEqual(Object.keys(paramShapes(c)));
  let worst = 0;
  let count = 0;
  for (const [name, p] of Object.entries(params)) {
    for (let i = 0; i < p.length; i++) {
      const saved = p[i];
      p[i] = saved + H;
      const lossPlus = forward(params, c, ids, targets, segments).loss!;
      p[i] = saved - H;
      const lossMinus = forward(params, c, ids, targets, segments).loss!;
      p[i] = saved;
      const numeric = (lossPlus - lossMinus) / (2 * H);
      const err = Math.abs(grads[name][i] - numeric);
      if (err > ABS_TOL + REL_TOL * Math.abs(numeric)) {
        throw new Error(`${name}[${i}]: backward ${grads[name][i]}, finite difference ${numeric}, error ${err}`);
      }
      worst = Math.max(worst, err / (ABS_TOL + REL_TOL * Math.abs(numeric)));
      count++;
    }
  }
  return { worst, count };
}

describe("llama64 reference: backward against central finite differences", () => {
  it("untied, GQA (2 heads, 1 kv head), B=2, T=5: every element of every parameter tensor", () => {
    const ids = randomIds(tiny, 2, 5, 1);
    const targets = randomIds(tiny, 2, 5, 2);
    const { worst, count } = checkGradients(tiny, ids, targets, 3);
    expect(count).toBe(Object.values(paramShapes(tiny)).reduce((a, s) => a + s.reduce((x, y) => x * y, 1), 0));
    expect(worst).toBeLessThan(1);
  });

  it("tied embeddings, 4 heads / 2 kv heads, ignored targets", () => {
    const c: Llama64Config = { ...tiny, nHeads: 4, nKvHeads: 2, nLayers: 1, tiedEmbeddings: true, ropeTheta: 100 };
    const ids = randomIds(c, 2, 6, 4);
    const targets = randomIds(c, 2, 6, 5);
    targets[0][2] = -100;
    targets[1][5] = -1;
    expect(checkGradients(c, ids, targets, 6).worst).toBeLessThan(1);
  });

  it("packed rows (segments): GQA, B=2, T=7, three sequences in one row and two in the other", () => {
    const ids = randomIds(tiny, 2, 7, 21);
    const targets = randomIds(tiny, 2, 7, 22);
    targets[0][2] = -1;
    const segments = [[0, 0, 0, 1, 1, 2, 2], [4, 4, 4, 4, 7, 7, 7]];
    expect(checkGradients(tiny, ids, targets, 23, segments).worst).toBeLessThan(1);
  });

  it("backwardFromLogits with the cross-entropy gradient equals backward", () => {
    const params = randomParams(tiny, 7);
    const ids = randomIds(tiny, 1, 4, 8);
    const targets = randomIds(tiny, 1, 4, 9);
    const { logits } = forward(params, tiny, ids);
    // Cross-entropy's logit gradient computed here from the definition: (softmax − onehot) / count.
    const V = tiny.vocabSize;
    const dlogits = new Float64Array(logits.length);
    for (let n = 0; n < 4; n++) {
      const row = logits.subarray(n * V, (n + 1) * V);
      const z = row.reduce((s, x) => s + Math.exp(x), 0);
      for (let j = 0; j < V; j++) dlogits[n * V + j] = (Math.exp(row[j]) / z - (j === targets[0][n] ? 1 : 0)) / 4;
    }
    const a = backward(params, tiny, ids, targets);
    const b = backwardFromLogits(params, tiny, ids, dlogits);
    for (const name of Object.keys(a)) for (let i = 0; i < a[name].length; i++) expect(b[name][i]).toBeCloseTo(a[name][i], 12);
  });
});

describe("llama64 reference: forward properties", () => {
  it("is causal: logits at position t do not depend on later tokens", () => {
    const params = randomParams(tiny, 10);
    const ids = randomIds(tiny, 1, 6, 11);
    const changed = [[...ids[0].slice(0, 3), ...ids[0].slice(3).map((t) => (t + 1) % tiny.vocabSize)]];
    const a = forward(params, tiny, ids).logits;
    const b = forward(params, tiny, changed).logits;
    const V = tiny.vocabSize;
    for (let i = 0; i < 3 * V; i++) expect(b[i]).toBe(a[i]);
    expect(Math.max(...a.slice(3 * V).map((x, i) => Math.abs(x - b[3 * V + i])))).toBeGreaterThan(1e-3);
  });

  it("a packed row computes what each of its sequences computes alone", () => {
    const params = randomParams(tiny, 15);
    const V = tiny.vocabSize;
    const row = randomIds(tiny, 1, 7, 16)[0];
    const packed = forward(params, tiny, [row], undefined, [[0, 0, 0, 1, 1, 1, 1]]).logits;
    const first = forward(params, tiny, [row.slice(0, 3)]).logits;
    const second = forward(params, tiny, [row.slice(3)]).logits;
    const alone = [...first, ...second];
    for (let i = 0; i < 7 * V; i++) expect(packed[i]).toBeCloseTo(alone[i], 12);
    // and without the segments the second sequence does see the first
    const plain = forward(params, tiny, [row]).logits;
    expect(Math.max(...plain.slice(3 * V).map((x, i) => Math.abs(x - second[i])))).toBeGreaterThan(1e-3);
  });

  it("grouped-query attention equals multi-head attention with each kv head repeated (HF repeat_kv)", () => {
    const gqa: Llama64Config = { ...tiny, nHeads: 4, nKvHeads: 2, nLayers: 1 };
    const mha: Llama64Config = { ...gqa, nKvHeads: 4 };
    const p = randomParams(gqa, 12);
    const q: Params = { ...p };
    const hs = gqa.dim / gqa.nHeads;
    for (const proj of ["k_proj", "v_proj"]) {
      const w = p[`model.layers.0.self_attn.${proj}.weight`];
      const full = new Float64Array(4 * hs * gqa.dim);
      // Query head h reads kv head floor(h / 2): heads 0,1 ← kv 0 and heads 2,3 ← kv 1.
      for (let h = 0; h < 4; h++) full.set(w.subarray(Math.floor(h / 2) * hs * gqa.dim, (Math.floor(h / 2) + 1) * hs * gqa.dim), h * hs * gqa.dim);
      q[`model.layers.0.self_attn.${proj}.weight`] = full;
    }
    const ids = randomIds(gqa, 2, 5, 13);
    const a = forward(p, gqa, ids).logits;
    const b = forward(q, mha, ids).logits;
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 12);
  });

  it("with a zero output head the loss is log(V); initParams is deterministic", () => {
    const params = initParams(tiny, 1);
    params["lm_head.weight"].fill(0);
    const ids = randomIds(tiny, 2, 3, 14);
    expect(forward(params, tiny, ids, ids).loss).toBeCloseTo(Math.log(tiny.vocabSize), 14);
    expect(initParams(tiny, 5)).toEqual(initParams(tiny, 5));
    expect(initParams(tiny, 5)["model.layers.1.mlp.up_proj.weight"]).not.toEqual(initParams(tiny, 6)["model.layers.1.mlp.up_proj.weight"]);
  });

  it("rejects bad inputs", () => {
    const params = initParams(tiny, 1);
    expect(() => forward(params, tiny, [[1, 2], [3]])).toThrow();
    expect(() => forward(params, tiny, [[11]])).toThrow();
    expect(() => forward(params, tiny, [Array(17).fill(0)])).toThrow();
    expect(() => forward(params, tiny, [[1]], [[-1]])).toThrow();
    expect(() => forward({ ...params, "model.norm.weight": new Float64Array(3) }, tiny, [[1]])).toThrow();
  });
});
