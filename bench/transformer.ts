// The transformer's speed: training throughput and model FLOPs utilisation (MFU) against our own GEMM rate, and
// prompt processing (PP) / text generation (TG) beside native llama.cpp (node-llama-cpp, 1 thread) on the same GGUF.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gemm } from "../src/kernels/gemm.js";
import type { Kernels } from "../src/kernels/module.js";
import { type PresetName, llamaConfig, parameterTable } from "../src/nn/config.js";
import { Llama } from "../src/nn/llama.js";
import { brownText } from "../src/node/brown.js";
import { saveModel } from "../src/node/checkpoint.js";
import { Tokenizer } from "../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../src/tokenizer/train/index.js";
import { flopsPerToken } from "../src/train/pretrain.js";
import { type BenchOptions, kernelsFor, markdownTable, ratioCell } from "./common.js";

const MFU_TARGET = 0.5;

/** Best-of-`rounds` seconds of fn. */
function best(rounds: number, fn: () => void): number {
  let t = Infinity;
  for (let i = 0; i < rounds; i++) {
    const start = performance.now();
    fn();
    t = Math.min(t, (performance.now() - start) / 1000);
  }
  return t;
}

/** GEMM GFLOP/s at the GEMM table's training shape, 256×1024×1024 with a Linear weight (NT). */
function gemmRate(k: Kernels, M: number, N: number, K: number, rounds: number): number {
  const A = k.f32(M * K).set(Float32Array.from({ length: M * K }, (_, i) => Math.sin(i))), B = k.f32(N * K).set(Float32Array.from({ length: N * K }, (_, i) => Math.cos(i)));
  const C = k.f32(M * N);
  const s = best(rounds, () => gemm(k, C, A, B, { M, N, K, transB: true }));
  A.free(); B.free(); C.free();
  return (2 * M * N * K) / s / 1e9;
}

async function trainingTable(k: Kernels, quick: boolean): Promise<string> {
  const rows: string[][] = [];
  for (const preset of ["micro", "small"] as PresetName[]) {
    const config = llamaConfig(preset);
    const B = 8, T = config.contextLength;
    const model = Llama.init(k, config, { seed: 1 });
    const ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % config.vocabSize);
    const targets = ids.map((x) => (x + 1) % config.vocabSize);
    model.zeroGrad();
    const step = () => {
      model.forward(ids, { B, T, targets });
      model.backward();
    };
    step();
    const seconds = best(quick ? 2 : 5, step);
    const tokensPerSecond = (B * T) / seconds;
    const modelGflops = (flopsPerToken(model, T) * tokensPerSecond) / 1e9;
    const gemmGflops = gemmRate(k, 256, 1024, 1024, quick ? 3 : 10);
    rows.push([`${preset} (${(parameterTable(config).total / 1e6).toFixed(2)}M, B=${B}, T=${T})`, Math.round(tokensPerSecond).toString(),
      modelGflops.toFixed(1), gemmGflops.toFixed(1), `${((modelGflops / gemmGflops) * 100).toFixed(0)}%`, ratioCell(modelGflops / gemmGflops, 1, MFU_TARGET).replace(/^[\d.]+× /, "")]);
    model.free();
  }
  return markdownTable(["training step (forward + backward)", "tokens/s", "model GFLOP/s", "our GEMM GFLOP/s", "MFU", `≥ ${MFU_TARGET * 100}%`], rows);
}

export interface Speed {
  pp: number;
  tg: number;
}

export function ours(model: Llama, prompt: number[], tgTokens: number, rounds: number): Speed {
  const cache = model.newCache();
  const pp = best(rounds, () => {
    cache.reset();
    model.decode(prompt, cache);
  });
  const tg = best(rounds, () => {
    cache.reset();
    model.decode([prompt[0]], cache);
    for (let i = 1; i < tgTokens; i++) model.decode([prompt[i % prompt.length]], cache);
  });
  cache.free();
  return { pp: prompt.length / pp, tg: tgTokens / tg };
}

export async function llamaCpp(path: string, prompt: number[], tgTokens: number, rounds: number): Promise<Speed | undefined> {
  let mod: typeof import("node-llama-cpp");
  try {
    mod = await import("node-llama-cpp");
  } catch {
    return undefined;
  }
  const llama = await mod.getLlama({ gpu: false, build: "never", logLevel: mod.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: path });
  // One thread (two collapse on two cores), batch large enough for the whole prompt, flash attention off as ours has none.
  const context = await model.createContext({ contextSize: 512, threads: 1, batchSize: 512, flashAttention: false });
  const time = async (fn: () => Promise<void>) => {
    let t = Infinity;
    for (let i = 0; i < rounds; i++) {
      const start = performance.now();
      await fn();
      t = Math.min(t, (performance.now() - start) / 1000);
    }
    return t;
  };
  const tokens = prompt as unknown as import("node-llama-cpp").Token[];
  const pp = await time(async () => {
    const seq = context.getSequence();
    await seq.evaluateWithoutGeneratingNewTokens(tokens);
    seq.dispose();
  });
  const tg = await time(async () => {
    const seq = context.getSequence();
    let n = 0;
    for await (const _ of seq.evaluate([tokens[0]], { temperature: 0 })) if (++n >= tgTokens) break;
    seq.dispose();
  });
  await context.dispose();
  await model.dispose();
  return { pp: prompt.length / pp, tg: tgTokens / tg };
}

async function inferenceTable(k: Kernels, quick: boolean): Promise<string> {
  const rows: string[][] = [];
  const dir = mkdtempSync(join(tmpdir(), "tinylm-bench-"));
  const ppTokens = 256, tgTokens = quick ? 32 : 128, rounds = quick ? 1 : 3;
  const text = brownText();
  try {
    for (const preset of ["micro", "small", "stories15m"] as PresetName[]) {
      const config = llamaConfig(preset);
      const model = Llama.init(k, config, { seed: 1 });
      const prompt = Array.from({ length: ppTokens }, (_, i) => (i * 7919 + 13) % config.vocabSize);
      const path = join(dir, `${preset}.gguf`);
      // llama.cpp needs a vocabulary in the file (it aborts on "no_vocab" at evaluation): a BPE of the preset's size.
      const tokenizer = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: config.vocabSize }).train(text));
      await saveModel(model, path, { format: "gguf", tokenizer });
      const mine = ours(model, prompt, tgTokens, rounds);
      const theirs = await llamaCpp(path, prompt, tgTokens, rounds);
      rows.push([`${preset} F32 (${(parameterTable(config).total / 1e6).toFixed(1)}M)`, mine.pp.toFixed(0), theirs ? theirs.pp.toFixed(0) : "–",
        theirs ? ratioCell(mine.pp, theirs.pp) : "–", mine.tg.toFixed(0), theirs ? theirs.tg.toFixed(0) : "–", theirs ? ratioCell(mine.tg, theirs.tg) : "–"]);
      model.free();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return markdownTable(["model", "PP t/s (pp256)", "llama.cpp PP", "PP ratio", `TG t/s (tg${tgTokens})`, "llama.cpp TG", "TG ratio"], rows);
}

export async function runTransformerBench(options: BenchOptions): Promise<string> {
  const k = await kernelsFor("relaxed");
  return [
    "Training (relaxed build; MFU = model FLOPs per token (6·N + 12·L·T·C) × tokens/s ÷ our GEMM's GFLOP/s at 256×1024×1024, measured alongside):",
    "",
    await trainingTable(k, options.quick),
    "",
    "Inference, single thread, same GGUF file; llama.cpp = node-llama-cpp 3.21.1's prebuilt native binary, 1 thread, flash attention off:",
    "",
    await inferenceTable(k, options.quick),
  ].join("\n");
}
