import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { MLP } from "../../src/nn/mlp.js";
import { mseBackward, mseLoss } from "../../src/nn/loss.js";
import { SGD } from "../../src/nn/optim.js";
import { Random } from "../../src/util/random.js";

// ---- float64 reference, written separately from src/nn: nested arrays, one dot product per output ----
interface RefLayer { W: number[][]; b: number[] | null; sigmoid: boolean }
const sig = (z: number): number => 1 / (1 + Math.exp(-z));

function refForward(layers: RefLayer[], x: number[][]): number[][] {
  let a = x;
  for (const L of layers) {
    a = a.map((row) => L.W.map((w, o) => {
      const z = w.reduce((s, wi, i) => s + wi * row[i], L.b ? L.b[o] : 0);
      return L.sigmoid ? sig(z) : z;
    }));
  }
  return a;
}

// ½·Σ(ŷ − y)² per example, averaged over the batch: the textbook E the seed's backprop minimises.
function refLoss(layers: RefLayer[], x: number[][], t: number[][]): number {
  const y = refForward(layers, x);
  let s = 0;
  y.forEach((row, b) => row.forEach((v, o) => (s += 0.5 * (v - t[b][o]) ** 2)));
  return s / x.length;
}

// Copies the module's parameters into the reference's nested arrays (the documented (OC, C) weight layout).
function toRef(mlp: MLP): RefLayer[] {
  const layers: RefLayer[] = [];
  for (let l = 0; l < mlp.numLayers; l++) {
    const C = mlp.sizes[l];
    const OC = mlp.sizes[l + 1];
    const w = mlp.weight(l).view;
    layers.push({
      W: Array.from({ length: OC }, (_, o) => Array.from(w.subarray(o * C, (o + 1) * C))),
      b: mlp.hasBias ? Array.from(mlp.bias(l).view) : null,
      sigmoid: l < mlp.numLayers - 1 || mlp.outputActivation === "sigmoid",
    });
  }
  return layers;
}

const rows = (flat: ArrayLike<number>, width: number): number[][] =>
  Array.from({ length: flat.length / width }, (_, b) => Array.from(flat).slice(b * width, (b + 1) * width));

// Central differences of the float64 reference loss for every parameter, compared with the module's gradients.
function checkGradients(mlp: MLP, x: number[], t: number[]): number {
  const B = x.length / mlp.sizes[0];
  const y = mlp.forward(x).toArray();
  const dout = new Float32Array(y.length);
  mseBackward(dout, y, t, B);
  mlp.zeroGrad();
  mlp.backward(dout);
  const ref = toRef(mlp);
  const X = rows(x, mlp.sizes[0]);
  const T = rows(t, mlp.sizes.at(-1)!);
  const eps = 1e-6;
  let worst = 0;
  const compare = (p: number[], i: number, analytic: number): void => {
    const keep = p[i];
    p[i] = keep + eps;
    const up = refLoss(ref, X, T);
    p[i] = keep - eps;
    const down = refLoss(ref, X, T);
    p[i] = keep;
    const numeric = (up - down) / (2 * eps);
    const err = Math.abs(analytic - numeric) / Math.max(1e-3, Math.abs(numeric));
    worst = Math.max(worst, err);
    if (err > 2e-3) throw new Error(`gradient mismatch: analytic ${analytic}, finite difference ${numeric}`);
  };
  for (let l = 0; l < mlp.numLayers; l++) {
    const dW = mlp.weightGrad(l).view;
    const C = mlp.sizes[l];
    ref[l].W.forEach((row, o) => row.forEach((_, c) => compare(row, c, dW[o * C + c])));
    if (mlp.hasBias) {
      const db = mlp.biasGrad(l).view;
      ref[l].b!.forEach((_, o) => compare(ref[l].b!, o, db[o]));
    }
  }
  return worst;
}

describe("MLP (src/nn/mlp.ts)", async () => {
  const k = await loadKernelsFromFiles("simd");

  // The seed's 2-2-1 network: h1 = σ(w11·x1 + w21·x2), h2 = σ(w12·x1 + w22·x2), so w_ij joins input i to hidden j and
  // row j of the (OC, C) weight is [w1j, w2j].
  function seedNetwork(): MLP {
    const mlp = new MLP(k, { sizes: [2, 2, 1], bias: false });
    mlp.weight(0).set([0.4, 0.9, 0.7, -0.3]);
    mlp.weight(1).set([0.5, 0.6]);
    return mlp;
  }

  it("reproduces the seed's worked example (published numbers, 4 decimals)", () => {
    const mlp = seedNetwork();
    const y = mlp.forward([0.5, -0.3]).view[0];
    const [h1, h2] = mlp.activation(0).view;
    const zOut = mlp.preActivation(1).view[0];
    // The seed rounds as it goes: exactly, z_out = 0.60621, which its 0.6063 matches to within 1e-4.
    const published = { h1: 0.4825, h2: 0.6083, zOut: 0.6063, y: 0.647, error: 0.447 };
    const got = { h1, h2, zOut, y, error: y - 0.2 };
    for (const key of Object.keys(published) as (keyof typeof published)[]) {
      expect(Math.abs(got[key] - published[key]), key).toBeLessThanOrEqual(1e-4);
    }
    // MSE gradient of one example is its error, ŷ − y.
    const dout = new Float32Array(1);
    mseBackward(dout, [y], [0.2], 1);
    expect(dout[0]).toBeCloseTo(0.447, 3);
    mlp.free();
  });

  it("backprop of the seed network agrees with float64 finite differences of a separate forward", () => {
    const mlp = seedNetwork();
    expect(checkGradients(mlp, [0.5, -0.3], [0.2])).toBeLessThan(2e-3);
    // Spot value by the chain rule, written out: ∂E/∂w_out1 = (ŷ − t)·ŷ(1 − ŷ)·h1.
    const y = 0.6470755371174466;
    expect(mlp.weightGrad(1).view[0]).toBeCloseTo((y - 0.2) * y * (1 - y) * 0.48250714233361025, 6);
    mlp.free();
  });

  it("backprop with biases, a batch, a linear output and 3 layers agrees with finite differences", () => {
    const rng = new Random(11);
    for (const outputActivation of ["sigmoid", "linear"] as const) {
      const mlp = new MLP(k, { sizes: [3, 5, 4, 2], maxBatch: 8, seed: 5, outputActivation });
      for (let l = 0; l < mlp.numLayers; l++) mlp.bias(l).set(Array.from({ length: mlp.sizes[l + 1] }, () => rng.normal(0, 0.5)));
      const x = Array.from({ length: 7 * 3 }, () => rng.normal());
      const t = Array.from({ length: 7 * 2 }, () => rng.random());
      expect(checkGradients(mlp, x, t)).toBeLessThan(2e-3);
      mlp.free();
    }
  });

  it("accumulates gradients across backward calls until zeroGrad", () => {
    const mlp = new MLP(k, { sizes: [3, 4, 2], maxBatch: 2, seed: 8 });
    mlp.forward([0.1, -0.2, 0.3, 0.5, 0.4, -0.6]);
    const dout = [0.3, -0.1, 0.2, 0.7];
    mlp.zeroGrad();
    mlp.backward(dout);
    const once = mlp.grads.toArray();
    expect(once.some((g) => g !== 0)).toBe(true);
    mlp.backward(dout);
    const twice = mlp.grads.toArray();
    once.forEach((g, i) => expect(twice[i]).toBeCloseTo(2 * g, 6));
    mlp.zeroGrad();
    expect(mlp.grads.view.every((g) => g === 0)).toBe(true);
    mlp.free();
  });

  it("forward matches the float64 reference on a batch, row by row", () => {
    const rng = new Random(2);
    const mlp = new MLP(k, { sizes: [4, 33, 17, 3], maxBatch: 64, seed: 9 });
    const x = Array.from({ length: 64 * 4 }, () => rng.normal());
    const y = mlp.forward(x).toArray();
    const ref = refForward(toRef(mlp), rows(x, 4)).flat();
    let maxErr = 0;
    ref.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - y[i]))));
    expect(maxErr).toBeLessThan(1e-5);
    // A smaller batch reuses the same slabs and gives the same rows.
    const y3 = mlp.forward(x.slice(0, 3 * 4)).toArray();
    expect(Array.from(y3)).toEqual(Array.from(y.slice(0, 3 * 3)));
    mlp.free();
  });

  it("gradient descent brings the seed's ŷ within 0.01 of the target 0.2", () => {
    const mlp = seedNetwork();
    const sgd = new SGD({ lr: 1 });
    let steps = 0;
    let previous = Infinity;
    while (Math.abs(mlp.forward([0.5, -0.3]).view[0] - 0.2) >= 0.01) {
      const loss = mlp.trainStep([0.5, -0.3], [0.2], sgd);
      expect(loss).toBeLessThan(previous);
      previous = loss;
      expect(++steps).toBeLessThan(1000);
    }
    expect(Math.abs(mlp.forward([0.5, -0.3]).view[0] - 0.2)).toBeLessThan(0.01);
    mlp.free();
  });

  it("learns XOR on a batch of four (fixed seed)", () => {
    const mlp = new MLP(k, { sizes: [2, 8, 1], maxBatch: 4, seed: 1 });
    const x = [0, 0, 0, 1, 1, 0, 1, 1];
    const t = [0, 1, 1, 0];
    const sgd = new SGD({ lr: 5 });
    const first = mlp.trainStep(x, t, sgd);
    let loss = first;
    for (let i = 0; i < 3000; i++) loss = mlp.trainStep(x, t, sgd);
    expect(first).toBeGreaterThan(0.1);
    expect(loss).toBeLessThan(0.005);
    expect(Array.from(mlp.forward(x).view, Math.round)).toEqual(t);
    mlp.free();
  });

  it("is reproducible from its seed and survives memory growth between calls", () => {
    const a = new MLP(k, { sizes: [3, 4, 2], seed: 3 });
    const b = new MLP(k, { sizes: [3, 4, 2], seed: 3 });
    const c = new MLP(k, { sizes: [3, 4, 2], seed: 4 });
    expect(Array.from(a.params.view)).toEqual(Array.from(b.params.view));
    expect(Array.from(a.params.view)).not.toEqual(Array.from(c.params.view));
    const before = a.forward([1, 2, 3]).toArray();
    const big = k.f32(k.heap.memory.buffer.byteLength / 4); // grows memory, detaching every old view
    expect(Array.from(a.forward([1, 2, 3]).view)).toEqual(Array.from(before));
    big.free();
    for (const m of [a, b, c]) m.free();
  });

  it("rejects bad shapes and arguments with TinyLMError", () => {
    const bad = (f: () => unknown, code: string): void => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err, String(f)).toBeInstanceOf(TinyLMError);
      expect((err as TinyLMError).code, String(f)).toBe(code);
    };
    bad(() => new MLP(k, { sizes: [2] }), "BAD_SHAPE");
    bad(() => new MLP(k, { sizes: [2, 0, 1] }), "BAD_SHAPE");
    bad(() => new MLP(k, { sizes: [2, 1.5] }), "BAD_SHAPE");
    bad(() => new MLP(k, { sizes: [2, 1], maxBatch: 0 }), "BAD_ARGUMENT");
    bad(() => new MLP(k, { sizes: [2, 1], outputActivation: "relu" as "linear" }), "BAD_ARGUMENT");
    const mlp = new MLP(k, { sizes: [2, 3, 1], maxBatch: 2, bias: false });
    bad(() => mlp.backward([1]), "BAD_ARGUMENT"); // before any forward
    bad(() => mlp.forward([1, 2, 3]), "BAD_SHAPE"); // not whole rows
    bad(() => mlp.forward([]), "BAD_SHAPE");
    bad(() => mlp.forward([1, 2, 3, 4, 5, 6]), "BAD_SHAPE"); // 3 rows > maxBatch 2
    bad(() => mlp.forward([1, NaN]), "NAN");
    bad(() => mlp.forward(null as unknown as number[]), "BAD_ARGUMENT");
    mlp.forward([1, 2, 3, 4]);
    bad(() => mlp.backward([1]), "BAD_SHAPE"); // the last forward had 2 rows
    bad(() => mlp.backward([1, Infinity]), "NAN");
    bad(() => mlp.weight(2), "OUT_OF_RANGE");
    bad(() => mlp.bias(0), "BAD_ARGUMENT");
    bad(() => mlp.step({} as SGD), "BAD_ARGUMENT");
    bad(() => new SGD({ lr: 0 }), "BAD_ARGUMENT");
    bad(() => mlp.trainStep([1, 2], [1, 2], new SGD({ lr: 1 })), "BAD_SHAPE");
    bad(() => mseLoss([1, 2], [1], 1), "BAD_SHAPE");
    bad(() => mseLoss([1, 2, 3], [1, 2, 3], 2), "BAD_SHAPE");
    bad(() => mseLoss([Infinity], [1], 1), "NAN");
    mlp.free();
  });
});
