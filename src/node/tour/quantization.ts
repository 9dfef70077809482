import { join } from "node:path";
import { formatQuantReport, parsePrecision, quantReportJson } from "../../quant/report.js";
import { reportFor } from "../commands/quantize.js";
import { writeFileAtomic } from "../files.js";
import type { Chapter, ReportRow, TourContext } from "./chapter.js";
import { ensureBaseModel } from "./pretraining.js";
import { SPECIAL } from "./tokenizer.js";

// The last chapter: the seed's 量化性能 section. The same trained model stored at fewer bits per weight: how much
// smaller and faster it gets, and what it costs in perplexity and in agreement with the full-precision model.

const RECIPES = ["f32", "f16", "q8_0", "q4_1", "q4_0", "q4_0+out:q8_0"];

export const quantizationChapter: Chapter = {
  id: "quantize",
  title: "Quantization: fewer bits per weight, measured",
  async run(ctx: TourContext): Promise<ReportRow[]> {
    const { log, kernels: k, artifacts } = ctx;
    const model = await ensureBaseModel(ctx);
    const tok = artifacts.tokenizer!;
    const T = model.config.contextLength;
    // Quick: a few windows and runs (seconds); full: enough positions for a KL p99 that means something.
    const windows = ctx.quick ? 8 : 96;
    // A tiny model's pp/tg runs last a millisecond or two: many of them, after warm-ups that let V8 tier the wasm up.
    const reps = ctx.quick ? 10 : 20;
    const heldOut: number[] = [];
    const lines = artifacts.corpus!.heldOut;
    for (let i = 0; i < lines.length && heldOut.length <= windows * T; i += 100) {
      heldOut.push(...tok.encode(lines.slice(i, i + 100).join(`\n${SPECIAL}`) + `\n${SPECIAL}`, { allowedSpecial: [SPECIAL] }));
    }
    log("Every weight matrix of the pretrained model, stored as llama.cpp does: F16 (2 bytes a weight), Q8_0 (blocks of");
    log("32 int8 and one f16 scale: 8.5 bits), Q4_1 (4-bit, scale and minimum: 5.0), Q4_0 (4-bit, scale only: 4.5), and");
    log("Q4_0 with the output layer kept at Q8_0. Norm gains stay F32. Each row below is measured on its own GGUF file's");
    log(`weights, against the F32 model on the same ${windows} held-out Brown windows of ${T} tokens.`);
    log();
    const report = await reportFor(k, model, tok, RECIPES.map(parsePrecision), heldOut,
      { windowLength: T, maxWindows: windows, repetitions: reps, warmup: 5, ppTokens: T, tgTokens: T }, log, ctx.progress);
    for (const line of formatQuantReport(report).split("\n")) log(line);
    log();
    log("PPL alone hides damage: KLD is how far each row's next-token distribution moved from F32's (0 = identical),");
    log("\"same top\" how often its most likely token is still F32's. BPW is the file's tensor bytes × 8 / parameters.");
    const c = model.config;
    if (c.dim % 32 !== 0 || c.ffnDim % 32 !== 0) {
      log(`Here some matrices have rows of ${c.dim % 32 !== 0 ? c.dim : c.ffnDim} values, not a multiple of the 32 of a block: they stay F16, as`);
      log("llama-quantize keeps them, which (with the F32 norms) puts BPW above 8.5 / 5.0 / 4.5.");
    }
    log("At this size a matrix-vector product takes microseconds and quantizing the activations costs about what the");
    log("smaller weights save; the speed-up shows on large matrices (4096×4096 with Q8_0: ~3× f32, see npm run bench).");
    const json = join(artifacts.outDir, "quantization.json");
    await writeFileAtomic(json, new TextEncoder().encode(quantReportJson(report)));
    log(`The report as JSON: ${json}.`);
    const f32 = report.rows[0];
    return report.rows.slice(1).map((r) => ({
      metric: `${r.label}: BPW, PPL, same top`,
      value: `${r.bitsPerWeight.toFixed(2)}, ${r.perplexity.value.toFixed(2)}, ${(100 * r.sameTop.value).toFixed(1)}%`,
      reference: `F32: ${f32.bitsPerWeight.toFixed(0)}, ${f32.perplexity.value.toFixed(2)}; tg ${Math.round(r.tg?.mean ?? 0)} vs ${Math.round(f32.tg?.mean ?? 0)} t/s`,
    }));
  },
};
