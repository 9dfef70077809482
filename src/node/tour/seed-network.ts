import { MLP } from "../../nn/mlp.js";
import { mseBackward, mseLoss } from "../../nn/loss.js";
import { SGD } from "../../nn/optim.js";
import { Random } from "../../util/random.js";
import type { Chapter, ReportRow, TourContext } from "./chapter.js";

// Chapter 1: the seed's 神经网络 section. A neuron takes a weighted sum of its inputs and squashes it with a sigmoid;
// the seed works one 2-2-1 network through by hand and then says gradient descent drives its error toward 0. We run
// that example on tinylm's MLP module, check its gradients, train it, and then train a bigger one on a real batch task.

const X = [0.5, -0.3];
const TARGET = 0.2;
// w_ij joins input i to hidden unit j; row j of the (OC, C) weight holds [w1j, w2j].
const HIDDEN = { w11: 0.4, w21: 0.9, w12: 0.7, w22: -0.3 };
const OUTPUT = [0.5, 0.6];
const SEED_NUMBERS = { h1: 0.4825, h2: 0.6083, zOut: 0.6063, y: 0.647, error: 0.447 };

export const seedNetwork: Chapter = {
  id: "seed",
  title: "The seed's neural network",
  async run(ctx: TourContext): Promise<ReportRow[]> {
    const { log } = ctx;
    const mlp = new MLP(ctx.kernels, { sizes: [2, 2, 1], bias: false });
    try {
      mlp.weight(0).set([HIDDEN.w11, HIDDEN.w21, HIDDEN.w12, HIDDEN.w22]);
      mlp.weight(1).set(OUTPUT);

      log("A neuron adds up its weighted inputs and squashes the sum with σ(z) = 1 / (1 + e^−z).");
      log(`The seed's 2-2-1 network: inputs x = (${X.join(", ")}), hidden weights w11=${HIDDEN.w11} w21=${HIDDEN.w21} ` +
        `w12=${HIDDEN.w12} w22=${HIDDEN.w22},`);
      log(`output weights ${OUTPUT.join(", ")}, no bias, sigmoid on every unit, target ${TARGET}.`);
      log();
      const y = mlp.forward(X).view[0];
      const [h1, h2] = mlp.activation(0).view;
      const zOut = mlp.preActivation(1).view[0];
      const ours = { h1, h2, zOut, y, error: y - TARGET };
      const names = { h1: "h1 = σ(w11·x1 + w21·x2)", h2: "h2 = σ(w12·x1 + w22·x2)", zOut: "z_out = 0.5·h1 + 0.6·h2",
        y: "ŷ = σ(z_out)", error: "error ŷ − target" };
      log(table([["", "tinylm", "the seed"], ...(Object.keys(names) as (keyof typeof names)[]).map((key) =>
        [names[key], ours[key].toFixed(4), String(SEED_NUMBERS[key])])]));
      const worst = Math.max(...(Object.keys(SEED_NUMBERS) as (keyof typeof SEED_NUMBERS)[]).map((key) => Math.abs(ours[key] - SEED_NUMBERS[key])));
      log(`Largest difference from the seed's hand-rounded numbers: ${worst.toExponential(1)}.`);
      log();

      log("Backpropagation: the gradient of E = ½(ŷ − target)² with respect to every weight, next to a float64");
      log("finite difference of a plain-JS forward pass (a check that shares no code with the module):");
      const dout = new Float32Array(1);
      mseBackward(dout, [y], [TARGET], 1);
      mlp.zeroGrad();
      mlp.backward(dout);
      const backprop = [...mlp.weightGrad(0).toArray(), ...mlp.weightGrad(1).toArray()];
      const weights = [HIDDEN.w11, HIDDEN.w21, HIDDEN.w12, HIDDEN.w22, ...OUTPUT];
      const labels = ["w11", "w21", "w12", "w22", "v1 (h1 → out)", "v2 (h2 → out)"];
      let gradErr = 0;
      const rows = labels.map((label, i) => {
        const numeric = finiteDifference(weights, i);
        gradErr = Math.max(gradErr, Math.abs(backprop[i] - numeric));
        return [`∂E/∂${label}`, backprop[i].toFixed(6), numeric.toFixed(6)];
      });
      log(table([["", "backprop (f32)", "finite difference (f64)"], ...rows]));
      log(`Largest difference: ${gradErr.toExponential(1)}.`);
      log();

      const lr = 1;
      log(`Gradient descent (SGD, learning rate ${lr}) until ŷ is within 0.01 of ${TARGET}:`);
      const sgd = new SGD({ lr });
      const maxSteps = 1000;
      // The number of steps is what we want to find out, so the bar shows how much of the error is gone (in %).
      const bar = ctx.progress("error → 0.01", 100);
      const gone = (e: number): number => Math.floor((100 * (y - TARGET - e)) / (y - TARGET - 0.01));
      let steps = 0;
      let yNow = y;
      while (Math.abs(yNow - TARGET) >= 0.01 && steps < maxSteps) {
        mlp.trainStep(X, [TARGET], sgd);
        yNow = mlp.forward(X).view[0];
        bar.update(gone(Math.abs(yNow - TARGET)), `step ${++steps}  ŷ ${yNow.toFixed(4)}`);
      }
      bar.done(`step ${steps}  ŷ ${yNow.toFixed(4)}`);
      const reached = Math.abs(yNow - TARGET) < 0.01;
      log(reached
        ? `ŷ went from ${y.toFixed(4)} to ${yNow.toFixed(4)} in ${steps} steps: the error fell from ${(y - TARGET).toFixed(4)} to ${(yNow - TARGET).toFixed(4)}.`
        : `ŷ is still ${yNow.toFixed(4)} after ${steps} steps.`);
      log();

      const spirals = trainSpirals(ctx);
      return [
        { metric: "forward ŷ (worked example)", value: y.toFixed(4), reference: `${SEED_NUMBERS.y} (seed)` },
        { metric: "error ŷ − target", value: (y - TARGET).toFixed(4), reference: `${SEED_NUMBERS.error} (seed)` },
        { metric: "max |backprop − finite difference|", value: gradErr.toExponential(1), reference: "< 1e-4" },
        { metric: "SGD steps until |ŷ − 0.2| < 0.01", value: reached ? String(steps) : `not reached in ${steps}`, reference: `final ŷ ${yNow.toFixed(4)}` },
        ...spirals,
      ];
    } finally {
      mlp.free();
    }
  },
};

// ∂E/∂w_i of the 2-2-1 example by central differences, in float64 with its own forward pass.
function finiteDifference(weights: number[], i: number): number {
  const sig = (z: number): number => 1 / (1 + Math.exp(-z));
  const loss = (w: number[]): number => {
    const h1 = sig(w[0] * X[0] + w[1] * X[1]);
    const h2 = sig(w[2] * X[0] + w[3] * X[1]);
    return 0.5 * (sig(w[4] * h1 + w[5] * h2) - TARGET) ** 2;
  };
  const eps = 1e-6;
  const up = weights.slice();
  const down = weights.slice();
  up[i] += eps;
  down[i] -= eps;
  return (loss(up) - loss(down)) / (2 * eps);
}

// Two interleaved spirals of 1.25 turns: no straight line (and no single hidden layer of a few units) separates them,
// so the network has to bend its decision boundary twice around the centre.
function spiralPoints(n: number, rng: Random): { x: number[]; t: number[] } {
  const x: number[] = [];
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const cls = i % 2;
    const s = rng.random();
    const angle = s * 2.5 * Math.PI + cls * Math.PI;
    const radius = 0.1 + 1.9 * s;
    x.push(radius * Math.cos(angle) + rng.normal(0, 0.03), radius * Math.sin(angle) + rng.normal(0, 0.03));
    t.push(cls);
  }
  return { x, t };
}

function accuracy(mlp: MLP, x: number[], t: number[]): number {
  const y = mlp.forward(x).view;
  let right = 0;
  for (let i = 0; i < t.length; i++) if ((y[i] > 0.5 ? 1 : 0) === t[i]) right++;
  return right / t.length;
}

function trainSpirals(ctx: TourContext): ReportRow[] {
  const { log } = ctx;
  const sizes = [2, 32, 32, 1];
  const n = 200;
  const steps = ctx.quick ? 20000 : 40000;
  const lr = 2;
  const rng = new Random(2024);
  const train = spiralPoints(n, rng);
  const test = spiralPoints(n, rng);
  const mlp = new MLP(ctx.kernels, { sizes, maxBatch: n, seed: 1 });
  try {
    log(`The same module, bigger: an MLP ${sizes.join("-")} (${mlp.parameterCount} parameters, biases on) learns to tell two`);
    log(`interleaved spirals apart from ${n} labelled points, all ${n} in every batch, SGD with learning rate ${lr}.`);
    const sgd = new SGD({ lr });
    const bar = ctx.progress("spirals", steps);
    const first = mlp.trainStep(train.x, train.t, sgd);
    let loss = first;
    const start = performance.now();
    for (let s = 1; s < steps; s++) {
      loss = mlp.trainStep(train.x, train.t, sgd);
      if (s % 100 === 0) bar.update(s, `loss ${loss.toFixed(4)}`);
    }
    const seconds = (performance.now() - start) / 1000;
    loss = mseLoss(mlp.forward(train.x).view, train.t, n);
    bar.done(`loss ${loss.toFixed(4)}`);
    const trainAcc = accuracy(mlp, train.x, train.t);
    const testAcc = accuracy(mlp, test.x, test.t);
    log(`Loss ${first.toFixed(4)} → ${loss.toFixed(4)}; accuracy ${pct(trainAcc)} on the training points, ${pct(testAcc)} on ${n} fresh points`);
    log(`from the same spirals; ${Math.round(steps / seconds)} training steps per second (forward + backward + SGD on ${n} rows).`);
    log();
    log("What it learned: blank where it answers spiral o, · where it answers spiral x; o and x are the training points.");
    const border = `+${"-".repeat(56)}+`;
    for (const line of [border, ...decisionMap(mlp, train, n).map((l) => `|${l}|`), border]) log(`  ${line}`);
    log();
    return [
      { metric: `spirals: loss after ${steps} steps`, value: loss.toFixed(4), reference: `from ${first.toFixed(4)}` },
      { metric: "spirals: accuracy on fresh points", value: pct(testAcc), reference: `train ${pct(trainAcc)}` },
      { metric: "spirals: training steps per second", value: String(Math.round(steps / seconds)), reference: `batch ${n}, ${ctx.kernels.flavor}` },
    ];
  } finally {
    mlp.free();
  }
}

// A character map of the plane [-2.2, 2.2]²: the network's class at each cell (blank or ·), training points on top.
function decisionMap(mlp: MLP, train: { x: number[]; t: number[] }, maxBatch: number): string[] {
  const W = 56;
  const H = 22;
  const R = 2.2;
  const cells: number[] = [];
  for (let r = 0; r < H; r++) {
    for (let c = 0; c < W; c++) cells.push(-R + (2 * R * (c + 0.5)) / W, R - (2 * R * (r + 0.5)) / H);
  }
  const cls: number[] = [];
  for (let i = 0; i < cells.length; i += 2 * maxBatch) {
    for (const v of mlp.forward(cells.slice(i, i + 2 * maxBatch)).view) cls.push(v > 0.5 ? 1 : 0);
  }
  const grid: string[][] = Array.from({ length: H }, (_, r) => Array.from({ length: W }, (_, c) => (cls[r * W + c] ? "·" : " ")));
  for (let i = 0; i < train.t.length; i++) {
    const c = Math.floor(((train.x[2 * i] + R) / (2 * R)) * W);
    const r = Math.floor(((R - train.x[2 * i + 1]) / (2 * R)) * H);
    if (r >= 0 && r < H && c >= 0 && c < W) grid[r][c] = train.t[i] ? "x" : "o";
  }
  return grid.map((row) => row.join(""));
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("   ")).join("\n  ");
}
