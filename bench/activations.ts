// Softmax and sigmoid throughput, single thread, G elements/s: tinylm's two builds against tfjs-backend-wasm on the
// same data in the same process.
import type { Tensor2D } from "@tensorflow/tfjs-core";
import { sigmoid, softmax } from "../src/kernels/activations.js";
import type { HeapArray } from "../src/kernels/heap.js";
import type { Kernels } from "../src/kernels/module.js";
import { type BenchOptions, type TF, kernelsFor, markdownTable, measure, randomArray, ratioCell, tfWasm } from "./common.js";

export const ACTIVATION_TARGETS = { simd: 1.0, relaxed: 1.3 };

interface Case {
  name: string;
  rows: number;
  cols: number;
  ours(k: Kernels, out: HeapArray, inp: HeapArray): void;
  theirs(tf: TF, x: Tensor2D): void;
  reference(x: Float32Array, rows: number, cols: number): Float64Array;
}

const CASES: Case[] = [
  // A vocabulary-sized row (next-token logits for 64 positions) and attention-sized rows.
  ...[[64, 32000], [256, 256]].map(([rows, cols]): Case => ({
    name: "softmax",
    rows,
    cols,
    ours: (k, out, inp) => softmax(k, out, inp, { rows, cols }),
    theirs: (tf, x) => tf.tidy(() => void tf.softmax(x)),
    reference: softmaxReference,
  })),
  {
    name: "sigmoid",
    rows: 1,
    cols: 1 << 20,
    ours: (k, out, inp) => sigmoid(k, out, inp),
    theirs: (tf, x) => tf.tidy(() => void tf.sigmoid(x)),
    reference: (x) => Float64Array.from(x, (v) => 1 / (1 + Math.exp(-v))),
  },
];

export async function runActivationsBench(options: BenchOptions): Promise<string> {
  const flavors = [await kernelsFor("simd"), await kernelsFor("relaxed")];
  const tf = await tfWasm();
  const rows: string[][] = [];
  for (const c of CASES) {
    const n = c.rows * c.cols;
    // Logits of a trained model span tens of units; scale so the exp sees a realistic range.
    const data = randomArray(n, 3).map((v) => 12 * v);
    const bufs = flavors.map((k) => ({ k, inp: k.f32(data), out: k.f32(n) }));
    const x = tf.tensor2d(data, [c.rows, c.cols]);
    try {
      const want = c.reference(data, c.rows, c.cols);
      for (const { k, inp, out } of bufs) {
        c.ours(k, out, inp);
        const got = out.view;
        let worst = 0;
        for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        if (!(worst <= 1e-5)) throw new Error(`${c.name} (${k.flavor}) differs from the float64 reference by ${worst}`);
      }
      const ms = await measure({
        simd: () => c.ours(bufs[0].k, bufs[0].out, bufs[0].inp),
        relaxed: () => c.ours(bufs[1].k, bufs[1].out, bufs[1].inp),
        tfjs: () => c.theirs(tf, x),
      }, { time: options.quick ? 80 : 400, rounds: options.quick ? 2 : 3, iterations: 5 });
      const rate = (t: number): number => n / (t * 1e6);
      rows.push([
        `${c.name} ${c.rows === 1 ? `${n / (1 << 20)}M` : `${c.rows}×${c.cols}`}`,
        rate(ms.simd).toFixed(2),
        rate(ms.relaxed).toFixed(2),
        rate(ms.tfjs).toFixed(2),
        ratioCell(rate(ms.simd), rate(ms.tfjs), ACTIVATION_TARGETS.simd),
        ratioCell(rate(ms.relaxed), rate(ms.tfjs), ACTIVATION_TARGETS.relaxed),
      ]);
    } finally {
      x.dispose();
      for (const b of bufs) {
        b.inp.free();
        b.out.free();
      }
    }
  }
  return [
    "Row-wise softmax and elementwise sigmoid, f32, single thread, G elements/s (higher is better).",
    "",
    markdownTable(["op", "tinylm simd", "tinylm relaxed", "tfjs-wasm",
      `simd / tfjs (≥ ${ACTIVATION_TARGETS.simd.toFixed(1)})`, `relaxed / tfjs (≥ ${ACTIVATION_TARGETS.relaxed.toFixed(1)})`], rows),
    "",
    "Every output is checked against a float64 reference (max error 1e-5) before timing.",
  ].join("\n");
}

function softmaxReference(x: Float32Array, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let c = 0; c < cols; c++) max = Math.max(max, x[r * cols + c]);
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += Math.exp(x[r * cols + c] - max);
    for (let c = 0; c < cols; c++) out[r * cols + c] = Math.exp(x[r * cols + c] - max) / sum;
  }
  return out;
}
