import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateAll } from "../../generate/generate.js";
import { gemm } from "../../kernels/gemm.js";
import type { Kernels } from "../../kernels/module.js";
import { type LlamaConfig, llamaConfig, parameterTable } from "../../nn/config.js";
import { Llama } from "../../nn/llama.js";
import { BigramModel } from "../../train/bigram.js";
import { lossChartSvg } from "../../train/chart.js";
import { evenBatches } from "../../train/data.js";
import { type EvalLog, evaluate, pretrain } from "../../train/pretrain.js";
import { saveModel } from "../checkpoint.js";
import type { Chapter, ReportRow, TourContext } from "./chapter.js";
import { SPECIAL, ensureTokenizer } from "./tokenizer.js";

// Chapter 3: the seed's 预训练, 参数 and 推理流程 sections. A decoder-only transformer learns to predict the next token
// of unlabelled text; its knowledge is nothing but the floats it stores; to write, it predicts a distribution over the
// next token, picks one, appends it and repeats.

const PROMPT = "The jury said that the";

/** Our GEMM's GFLOP/s at the benchmark's training shape 256×1024×1024 (best call of ~0.5 s), the MFU denominator. */
function gemmRate(k: Kernels): number {
  const [M, N, K] = [256, 1024, 1024];
  const A = k.f32(M * K).set(Float32Array.from({ length: M * K }, (_, i) => (i % 7) / 7));
  const B = k.f32(N * K).set(Float32Array.from({ length: N * K }, (_, i) => (i % 5) / 5));
  const C = k.f32(M * N);
  let best = Infinity;
  for (const start = performance.now(); performance.now() - start < 500;) {
    const t = performance.now();
    gemm(k, C, A, B, { M, N, K, transB: true });
    best = Math.min(best, performance.now() - t);
  }
  A.free(); B.free(); C.free();
  return (2 * M * N * K) / (best / 1000) / 1e9;
}

// Sizes chosen by measurement: in the few minutes the tour has, a small, fast model sees more tokens and ends lower
// than a bigger one (a 3-layer width-128 model reaches held-out perplexity ~52 against the bigram's ~81 on Brown with a
// 2048-token vocabulary; the 4-layer "micro" preset with 4096 tokens was still above the bigram after the same time).
function settings(quick: boolean, vocabSize: number): { config: LlamaConfig; steps: number; batchSize: number; evalEvery: number } {
  return quick
    ? { config: llamaConfig("nano", { vocabSize, contextLength: 64 }), steps: 900, batchSize: 16, evalEvery: 300 }
    : { config: llamaConfig("micro", { vocabSize, contextLength: 128, nLayers: 3 }), steps: 1500, batchSize: 16, evalEvery: 250 };
}

/** The tour's base model, pretrained once and shared with later chapters. */
export async function ensureBaseModel(ctx: TourContext): Promise<Llama> {
  if (!ctx.artifacts.model) await pretrainingChapter.run(ctx);
  return ctx.artifacts.model!;
}

export const pretrainingChapter: Chapter = {
  id: "pretrain",
  title: "Pretraining: a transformer learns to predict the next token",
  async run(ctx: TourContext): Promise<ReportRow[]> {
    const { log, kernels: k, artifacts } = ctx;
    const tok = await ensureTokenizer(ctx);
    const corpus = artifacts.corpus!;
    const encode = (lines: string[]) => Int32Array.from(tok.encode(lines.join(`\n${SPECIAL}`), { allowedSpecial: [SPECIAL] }));
    const data = { train: encode(corpus.train), val: encode(corpus.heldOut) };
    const { config, steps, batchSize, evalEvery } = settings(ctx.quick, tok.vocabSize);
    const T = config.contextLength;
    const model = Llama.init(k, config, { seed: 1 });

    const table = parameterTable(config);
    log(`A Llama-style decoder: ${config.nLayers} layers, width ${config.dim}, ${config.nHeads} heads (${config.nKvHeads} key/value), ` +
      `SwiGLU ${config.ffnDim}, RoPE, RMSNorm, tied embeddings.`);
    log(`Its parameters are ${table.total.toLocaleString("en")} stored floats:`);
    for (const row of table.byKind) log(`  ${row.kind.padEnd(42)} ${row.count.toLocaleString("en").padStart(10)}`);
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;
    log(`  = ${mib(table.bytes.F32)} in f32, ${mib(table.bytes.F16)} in f16, ${mib(table.bytes.Q8_0)} in 8-bit, ${mib(table.bytes.Q4_0)} in 4-bit;` +
      ` training holds ${mib(table.trainingBytes)} (weights, gradients, two AdamW moments).`);
    log("(A 7B model is the same arithmetic at scale: 7e9 × 2 bytes ≈ 13 GiB in f16.)");
    log();
    log(`Training data: ${data.train.length.toLocaleString("en")} tokens; held out: ${data.val.length.toLocaleString("en")}.`);
    const gflops = gemmRate(k);
    const bar = ctx.progress("pretraining", steps);
    const evals: EvalLog[] = [];
    let last = { tokensPerSecond: 0, mfu: 0 };
    const state = await pretrain(model, data, {
      steps, batchSize, seqLen: T, lr: 1e-2, warmupSteps: Math.floor(steps / 20), evalEvery, evalBatches: 4, seed: 1, gemmGflops: gflops,
      onStep: (s) => {
        last = { tokensPerSecond: s.tokensPerSecond, mfu: s.mfu ?? 0 };
        bar.update(s.step, `loss ${s.loss.toFixed(3)}  ${Math.round(s.tokensPerSecond)} tok/s  MFU ${((s.mfu ?? 0) * 100).toFixed(0)}%`);
      },
      onEval: (e) => evals.push(e),
    });
    bar.done();
    for (const e of evals) log(`step ${String(e.step).padStart(4)}: held-out loss ${e.valLoss.toFixed(3)}, perplexity ${e.perplexity.toFixed(1)}`);

    // The baseline on exactly the same held-out positions.
    const batches = evenBatches(data.val, batchSize, T, 8);
    const valLoss = evaluate(model, batches);
    const bigram = new BigramModel(data.train, tok.vocabSize);
    const bigramLoss = batches.reduce((s, b) => s + bigram.crossEntropy(b.ids, b.targets), 0) / batches.length;
    log();
    log(`Held-out perplexity ${Math.exp(valLoss).toFixed(1)}; a smoothed bigram model counted on the same training tokens: ${Math.exp(bigramLoss).toFixed(1)}.`);
    log("(Perplexity is e^loss: the number of tokens the model is, on average, as unsure as a uniform choice among.)");
    log();
    const prompt = tok.encode(PROMPT);
    const stop = { stopIds: [tok.tokenToId(SPECIAL)!], maxTokens: 40, decode: (ids: number[]) => tok.decode(ids) };
    const greedy = await generateAll(model, prompt, stop);
    const sampled = await generateAll(model, prompt, { ...stop, temperature: 0.8, topK: 40, seed: 7 });
    const show = (ids: number[]) => `${PROMPT}${tok.decode(ids)}`.replace(/\s*\n\s*/g, " / ");
    log(`Greedy:  ${show(greedy.ids)}`);
    log(`Sampled: ${show(sampled.ids)}   (temperature 0.8, top-k 40)`);

    await mkdir(artifacts.outDir, { recursive: true });
    const dir = join(artifacts.outDir, "base");
    await saveModel(model, dir, { tokenizer: tok });
    const chart = join(artifacts.outDir, "pretraining-loss.svg");
    await writeFile(chart, lossChartSvg([
      { label: "train", color: "#1f77b4", points: state.history.train },
      { label: "held-out", color: "#d62728", points: state.history.val.map((v) => ({ step: v.step, loss: v.valLoss })) },
    ], { title: `pretraining ${table.total.toLocaleString("en")} parameters on Brown` }));
    log();
    log(`Saved the model to ${dir} (Hugging Face layout) and the loss curve to ${chart}.`);
    artifacts.model = model;
    return [
      { metric: "parameters", value: table.total.toLocaleString("en") },
      { metric: "training tokens seen", value: (steps * batchSize * T).toLocaleString("en") },
      { metric: "final train loss", value: state.history.train[state.history.train.length - 1].loss.toFixed(3) },
      { metric: "held-out perplexity", value: Math.exp(valLoss).toFixed(1), reference: `bigram: ${Math.exp(bigramLoss).toFixed(1)}` },
      { metric: "training speed", value: `${Math.round(last.tokensPerSecond)} tok/s`, reference: `MFU ${(last.mfu * 100).toFixed(0)}% of ${gflops.toFixed(0)} GFLOP/s` },
    ];
  },
};
