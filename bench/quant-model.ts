// Generation from quantized weights: PP (pp256) and TG (tg128) of the stories15M-shaped preset as F32, Q8_0 and Q4_0
// GGUF files, tinylm (loaded from the file, blocks kept quantized) beside native llama.cpp (node-llama-cpp, 1 thread)
// on the same file. Issue 5's targets: TG ≥ 0.5× native llama.cpp, and ≥ 3× llama.cpp's wasm build (@wllama/wllama in
// headless Chromium, measured once on this machine kind: ../shared/FACTS.md, TG 218 / 112 t/s for Q8_0 / Q4_0).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { llamaConfig } from "../src/nn/config.js";
import { Llama } from "../src/nn/llama.js";
import { brownText } from "../src/node/brown.js";
import { loadModel, saveModel } from "../src/node/checkpoint.js";
import { Tokenizer } from "../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../src/tokenizer/train/index.js";
import { type BenchOptions, kernelsFor, markdownTable, ratioCell } from "./common.js";
import { llamaCpp, ours } from "./transformer.js";

// wllama (llama.cpp b11364 compiled to wasm, 1 thread) on the same stories15M-sized files, from FACTS.md.
const WASM_LLAMA_CPP = { F32: { pp: 2129, tg: 311 }, Q8_0: { pp: 730, tg: 218 }, Q4_0: { pp: 346, tg: 112 } } as const;

export async function runQuantModelBench(options: BenchOptions): Promise<string> {
  const k = await kernelsFor("relaxed");
  const config = llamaConfig("stories15m");
  const ppTokens = 256, tgTokens = options.quick ? 32 : 128, rounds = options.quick ? 1 : 3;
  const prompt = Array.from({ length: ppTokens }, (_, i) => (i * 7919 + 13) % config.vocabSize);
  const dir = mkdtempSync(join(tmpdir(), "tinylm-bench-quant-"));
  const rows: string[][] = [];
  try {
    const f32 = Llama.init(k, config, { seed: 1 });
    // llama.cpp needs a vocabulary in the file (it aborts on "no_vocab" at evaluation): a BPE of the preset's size.
    const tokenizer = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: config.vocabSize }).train(brownText()));
    for (const type of ["F32", "Q8_0", "Q4_0"] as const) {
      const path = join(dir, `stories15m-${type}.gguf`);
      await saveModel(f32, path, { format: "gguf", type, tokenizer });
      const { model } = await loadModel(path, { kernels: k });
      const mine = ours(model, prompt, tgTokens, rounds);
      model.free();
      const theirs = await llamaCpp(path, prompt, tgTokens, rounds);
      const wasm = WASM_LLAMA_CPP[type];
      const quantized = type !== "F32";
      rows.push([`stories15m ${type}`, mine.pp.toFixed(0), theirs ? theirs.pp.toFixed(0) : "–", theirs ? ratioCell(mine.pp, theirs.pp) : "–",
        ratioCell(mine.pp, wasm.pp, quantized ? 2 : undefined), mine.tg.toFixed(0), theirs ? theirs.tg.toFixed(0) : "–",
        theirs ? ratioCell(mine.tg, theirs.tg, quantized ? 0.5 : undefined) : "–", ratioCell(mine.tg, wasm.tg, quantized ? 3 : undefined)]);
    }
    f32.free();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    "stories15M-shaped llama (dim 288, 6 layers, vocab 32000), random weights, relaxed build, one thread, each row from the same GGUF file;",
    "llama.cpp = node-llama-cpp 3.21.1's prebuilt native binary (1 thread, flash attention off); wasm = @wllama/wllama figures from FACTS.md.",
    "Targets (issue 5, quantized rows): PP ≥ 2× wasm, TG ≥ 0.5× native and ≥ 3× wasm.",
    "",
    markdownTable(["model", "PP t/s (pp256)", "llama.cpp PP", "PP vs native", "PP vs wasm (≥ 2×)", `TG t/s (tg${tgTokens})`, "llama.cpp TG",
      "TG vs native (≥ 0.5×)", "TG vs wasm (≥ 3×)"], rows),
  ].join("\n");
}
