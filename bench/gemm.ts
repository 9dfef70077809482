// GEMM throughput, single thread, GFLOP/s: tinylm's two builds, tfjs-backend-wasm (XNNPACK) and a plain-JS loop on
// the same data in the same process.
import type { Tensor2D } from "@tensorflow/tfjs-core";
import { gemm } from "../src/kernels/gemm.js";
import type { HeapArray } from "../src/kernels/heap.js";
import type { Kernels } from "../src/kernels/module.js";
import { type BenchOptions, type TF, kernelsFor, markdownTable, measure, randomArray, ratioCell, tfWasm } from "./common.js";

interface Shape {
  M: number;
  K: number;
  N: number;
  /** NT: B is stored (N, K), a Linear layer's weight; NN: B is (K, N). */
  transB: boolean;
  /** Held to the targets (256³ and above, and the LLM shapes). */
  targeted: boolean;
}

const SHAPES: Shape[] = [
  ...[64, 128, 256, 512, 1024].map((n) => ({ M: n, K: n, N: n, transB: false, targeted: n >= 256 })),
  // A Linear layer's shapes: one token's generation step, a 64-token prompt, a 256-token batch through a square layer.
  { M: 1, K: 512, N: 2048, transB: true, targeted: true },
  { M: 64, K: 512, N: 2048, transB: true, targeted: true },
  { M: 256, K: 1024, N: 1024, transB: true, targeted: true },
];

export const GEMM_TARGETS = { simd: 1.05, relaxed: 1.25 };

export async function runGemmBench(options: BenchOptions): Promise<string> {
  const simd = await kernelsFor("simd");
  const relaxed = await kernelsFor("relaxed");
  const tf = await tfWasm();
  const rows: string[][] = [];
  for (const shape of SHAPES) {
    const { M, K, N, transB } = shape;
    const flops = 2 * M * N * K;
    const A = randomArray(M * K, 1);
    const B = randomArray(K * N, 2);
    const ours = [simd, relaxed].map((k) => operands(k, A, B, M * N));
    const a = tf.tensor2d(A, [M, K]);
    // tfjs gets its fast layout, B as (K, N) the way tf.layers.dense keeps its kernel: with transposeB its wasm
    // BatchMatMul leaves XNNPACK for a plain loop (2–4 GFLOP/s here), which would make any ratio meaningless.
    const b = tf.tensor2d(transB ? transpose(B, N, K) : B, [K, N]);
    try {
      const run = (k: Kernels, o: Operands) => () => gemm(k, o.C, o.A, o.B, { M, N, K, transB });
      checkAgreement(tf, a, b, [ours[0].C, ours[1].C], [run(simd, ours[0]), run(relaxed, ours[1])]);
      const ms = await measure({
        simd: run(simd, ours[0]),
        relaxed: run(relaxed, ours[1]),
        tfjs: () => tf.tidy(() => void tf.matMul(a, b)),
      }, { time: options.quick ? 80 : 300, rounds: options.quick ? 2 : 3, iterations: 3 });
      const js = await plainJs(A, B, M, N, K, transB, options.quick);
      const gflops = (t: number): number => flops / (t * 1e6);
      rows.push([
        M === N && N === K ? `${M}³` : `${M}×${K}×${N}`,
        transB ? "NT" : "NN",
        gflops(ms.simd).toFixed(1),
        gflops(ms.relaxed).toFixed(1),
        gflops(ms.tfjs).toFixed(1),
        js === undefined ? "skipped" : gflops(js).toFixed(2),
        ratioCell(gflops(ms.simd), gflops(ms.tfjs), shape.targeted ? GEMM_TARGETS.simd : undefined),
        ratioCell(gflops(ms.relaxed), gflops(ms.tfjs), shape.targeted ? GEMM_TARGETS.relaxed : undefined),
      ]);
    } finally {
      a.dispose();
      b.dispose();
      for (const o of ours) for (const h of [o.A, o.B, o.C]) h.free();
    }
  }
  return [
    "GEMM C = A·op(B), f32, single thread, GFLOP/s (higher is better). M×K×N; NT = B stored (N, K) as a Linear weight.",
    "",
    markdownTable(["M×K×N", "layout", "tinylm simd", "tinylm relaxed", "tfjs-wasm", "plain JS",
      `simd / tfjs (≥ ${GEMM_TARGETS.simd})`, `relaxed / tfjs (≥ ${GEMM_TARGETS.relaxed})`], rows),
    "",
    "Targets apply from 256³ up and to the LLM shapes; ✓ met, ✗ missed in this run. tinylm runs the NT shapes as NT;",
    "tfjs runs them with B stored (K, N), its XNNPACK layout (tf.layers.dense keeps its kernel that way), because its",
    "transposeB path is a plain loop at 2–4 GFLOP/s. The plain-JS loop is i-k-j for NN and a dot product per output for NT.",
  ].join("\n");
}

interface Operands {
  A: HeapArray;
  B: HeapArray;
  C: HeapArray;
}

function operands(k: Kernels, A: Float32Array, B: Float32Array, sizeC: number): Operands {
  return { A: k.f32(A), B: k.f32(B), C: k.f32(sizeC) };
}

// A benchmark of wrong code is worthless: both builds must agree with tfjs before anything is timed.
function checkAgreement(tf: TF, a: Tensor2D, b: Tensor2D, outputs: HeapArray[], runs: (() => void)[]): void {
  const want = tf.tidy(() => tf.matMul(a, b).dataSync() as Float32Array);
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  runs.forEach((run, i) => {
    run();
    const got = outputs[i].view;
    let worst = 0;
    for (let j = 0; j < want.length; j++) worst = Math.max(worst, Math.abs(got[j] - want[j]));
    if (!(worst <= 1e-4 * Math.max(1, scale))) throw new Error(`GEMM result differs from tfjs by ${worst} (scale ${scale})`);
  });
}

// B (rows, cols) → Bᵀ (cols, rows).
function transpose(B: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(B.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = B[r * cols + c];
  return out;
}

// Milliseconds per call of the plain-JS loop, or undefined when it would take too long for a quick run.
async function plainJs(A: Float32Array, B: Float32Array, M: number, N: number, K: number, transB: boolean, quick: boolean): Promise<number | undefined> {
  const flops = 2 * M * N * K;
  if (quick && flops > 3e8) return undefined;
  const C = new Float32Array(M * N);
  const huge = flops > 1e9; // 1024³ takes seconds in plain JS: one timed call, no warm-up
  const ms = await measure({ js: () => jsGemm(C, A, B, M, N, K, transB) }, { time: huge ? 0 : 200, rounds: 1, iterations: 1, warmup: huge ? 0 : 1 });
  return ms.js;
}

// The loop a JavaScript programmer writes: i-k-j order for NN (streams rows of B), a dot product per output for NT.
function jsGemm(C: Float32Array, A: Float32Array, B: Float32Array, M: number, N: number, K: number, transB: boolean): void {
  if (transB) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let p = 0; p < K; p++) s += A[i * K + p] * B[j * K + p];
        C[i * N + j] = s;
      }
    }
    return;
  }
  C.fill(0);
  for (let i = 0; i < M; i++) {
    for (let p = 0; p < K; p++) {
      const a = A[i * K + p];
      for (let j = 0; j < N; j++) C[i * N + j] += a * B[p * N + j];
    }
  }
}
