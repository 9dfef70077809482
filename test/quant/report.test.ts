import { beforeAll, describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import type { Kernels } from "../../src/kernels/module.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { llamaConfig, parameterLayout } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import {
  QualityAccumulator, type QuantReport, type ReportEntry, formatQuantReport, ggufSizes, meanStd, parsePrecision,
  precisionVariant, quantReport, quantReportJson,
} from "../../src/quant/report.js";

const log = (ps: number[], shift = 0) => ps.map((p) => Math.log(p) + shift);

describe("QualityAccumulator on a 3-token vocabulary (hand-computed)", () => {
  // Reference P and model Q at two positions; targets 0 and 2. Logits are log-probabilities plus a shift, which
  // softmax must ignore.
  const ref = [...log([0.5, 0.3, 0.2], 3), ...log([0.1, 0.2, 0.7])];
  const q = [...log([0.35, 0.45, 0.2]), ...log([0.2, 0.2, 0.6], -5)];
  const s = new QualityAccumulator().add(ref, q, [0, 2], 2, 3).result();

  it("KL(P‖Q) per position, its mean ± SE and 99th percentile", () => {
    // KL₁ = .5 ln(.5/.35) + .3 ln(.3/.45) + .2 ln 1 = 0.0566979395; KL₂ = .1 ln .5 + .2 ln 1 + .7 ln(.7/.6) = 0.0385907578
    expect(s.kl.value).toBeCloseTo(0.0476443486800016, 12);
    expect(s.kl.error).toBeCloseTo(0.009053590856915275, 12); // two values: SE = |KL₁ − KL₂| / 2
    expect(s.kl.p99).toBeCloseTo(0.05651686771977857, 12); // KL₂ + 0.99 (KL₁ − KL₂)
    expect(s.kl.max).toBeCloseTo(0.056697939536916875, 12);
  });

  it("PPL ± SE: exp(mean NLL) and exp(mean)·SE(NLL), as llama-perplexity", () => {
    // NLL = −ln .35, −ln .6; mean 0.78032387; SE = |difference| / 2 = 0.26949825; PPL = (.35 · .6)^(−1/2)
    expect(s.positions).toBe(2);
    expect(s.nll.value).toBeCloseTo(0.7803238741323343, 12);
    expect(s.nll.error).toBeCloseTo(0.26949825036634356, 12);
    expect(s.perplexity.value).toBeCloseTo(1 / Math.sqrt(0.35 * 0.6), 12);
    expect(s.perplexity.error).toBeCloseTo(0.5880933961723476, 12);
  });

  it("top-token agreement: position 1 differs (0 vs 1), position 2 agrees (2)", () => {
    expect(s.sameTop.value).toBe(0.5);
    expect(s.sameTop.error).toBeCloseTo(0.5, 12); // sqrt(p(1 − p)/(n − 1))
  });

  it("a distribution against itself: KL exactly 0, full agreement", () => {
    const self = new QualityAccumulator().add(ref, ref, [0, 2], 2, 3).result();
    expect(self.kl.value).toBe(0);
    expect(self.kl.max).toBe(0);
    expect(self.sameTop.value).toBe(1);
  });

  it("positions where the reference gives no mass add nothing (no 0·∞)", () => {
    const r = new QualityAccumulator().add([0, -Infinity, 0], [0, 5, 0], [0], 1, 3).result();
    // P = (½, 0, ½), Q ∝ (1, e⁵, 1): KL = ln(½) − ln(1 / (2 + e⁵))
    expect(r.kl.value).toBeCloseTo(Math.log(0.5) - Math.log(1 / (2 + Math.exp(5))), 12);
  });

  it("rejects bad input with TinyLMError", () => {
    expect(() => new QualityAccumulator().add([0, 0, 0], [0, 0], [0], 1, 3)).toThrow(TinyLMError);
    expect(() => new QualityAccumulator().add([0, 0, 0], [0, 0, 0], [3], 1, 3)).toThrow(/outside the vocabulary/);
    expect(() => new QualityAccumulator().add([0, 0, 0], [0, NaN, 0], [0], 1, 3)).toThrow(TinyLMError);
    expect(() => new QualityAccumulator().result()).toThrow(/no positions/);
  });

  it("meanStd uses the sample standard deviation", () => {
    expect(meanStd([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, std: Math.sqrt(32 / 7) });
    expect(meanStd([3])).toEqual({ mean: 3, std: 0 });
  });
});

describe("quantReport on a small Llama: F32 against itself and its F16 file", () => {
  const config = llamaConfig({ vocabSize: 48, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64, contextLength: 32 });
  let k: Kernels;
  let model: Llama;
  let text: number[];
  let report: QuantReport;
  let entries: (ReportEntry & { free(): void })[];
  // A fake clock that advances 10 ms per reading: every timed run lasts exactly 10 ms.
  let now = 0;
  const progress: { stage: string; label: string; done: number; total: number }[] = [];
  const clock = () => (now += 10);

  beforeAll(async () => {
    k = await loadKernelsFromFiles();
    // std 0.3: with the default 0.02 every distribution is nearly uniform and f16 rounding would barely show.
    model = Llama.init(k, config, { seed: 3, initStd: 0.3 });
    let s = 7;
    text = Array.from({ length: 5 * 16 + 3 }, () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % config.vocabSize);
    entries = [precisionVariant(k, model, { type: "F32" }), precisionVariant(k, model, { type: "F16" })];
    report = await quantReport(entries, text, { windowLength: 16, ppTokens: 12, tgTokens: 5, repetitions: 3, clock, onProgress: (p) => progress.push(p) });
  });

  it("scores every complete window, the same positions for every row", () => {
    expect(report.windows).toBe(5);
    expect(report.windowLength).toBe(16);
    expect(report.rows.map((r) => r.positions)).toEqual([80, 80]);
    expect(report.reference).toBe("F32");
  });

  it("the F32 row: KL exactly 0, 100% agreement, PPL equal to the model's own loss (wasm cross-entropy)", () => {
    const f32 = report.rows[0];
    expect(f32.kl.value).toBe(0);
    expect(f32.kl.p99).toBe(0);
    expect(f32.sameTop.value).toBe(1);
    let loss = 0;
    for (let w = 0; w < 5; w++) loss += model.forward(text.slice(w * 16, w * 16 + 16), { B: 1, T: 16, targets: text.slice(w * 16 + 1, w * 16 + 17) });
    expect(f32.nll.value).toBeCloseTo(loss / 5, 5);
    expect(f32.perplexity.value).toBeCloseTo(Math.exp(loss / 5), 4);
    expect(f32.perplexity.error).toBeGreaterThan(0);
  });

  it("the F16 row: a small positive KL and a perplexity within a fraction of a percent", () => {
    const [f32, f16] = report.rows;
    expect(f16.kl.value).toBeGreaterThan(0);
    expect(f16.kl.value).toBeLessThan(1e-4);
    expect(f16.kl.max).toBeGreaterThanOrEqual(f16.kl.p99);
    expect(f16.sameTop.value).toBeGreaterThan(0.9);
    expect(Math.abs(f16.perplexity.value / f32.perplexity.value - 1)).toBeLessThan(3e-3);
  });

  it("sizes and bits per weight come from the files: 32 for F32, 16 plus the F32 norms for F16", () => {
    const { tensors } = parameterLayout(config);
    const n2 = tensors.filter((t) => t.shape.length === 2).reduce((a, t) => a + t.size, 0);
    const n1 = tensors.filter((t) => t.shape.length === 1).reduce((a, t) => a + t.size, 0);
    const [f32, f16] = report.rows;
    expect(f32.parameters).toBe(n1 + n2);
    expect(f16.parameters).toBe(n1 + n2);
    expect(f32.bitsPerWeight).toBe(32);
    expect(f16.bitsPerWeight).toBeCloseTo(((2 * n2 + 4 * n1) * 8) / (n1 + n2), 12);
    expect(f32.fileBytes).toBe(entries[0].gguf instanceof Uint8Array ? entries[0].gguf.length : NaN);
    expect(f32.fileBytes).toBeGreaterThan(f32.tensorBytes);
    expect(f32.sizeMiB).toBe(f32.fileBytes / 2 ** 20);
    expect(ggufSizes(entries[1].gguf as Uint8Array).tensorBytes).toBe(2 * n2 + 4 * n1);
  });

  it("speeds: tokens / elapsed time over the timed runs (the warm-up is dropped)", () => {
    for (const r of report.rows) {
      expect(r.pp).toEqual({ tokens: 12, mean: 1200, std: 0, runs: [1200, 1200, 1200] }); // 12 tokens in 10 ms
      expect(r.tg).toEqual({ tokens: 5, mean: 500, std: 0, runs: [500, 500, 500] });
    }
  });

  it("progress: each held-out window, then each speed test", () => {
    expect(progress.filter((p) => p.stage === "quality").map((p) => `${p.done}/${p.total}`)).toEqual(["1/5", "2/5", "3/5", "4/5", "5/5"]);
    expect(progress.filter((p) => p.stage === "speed").map((p) => `${p.label} ${p.done}/${p.total}`)).toEqual(["F32 pp12 1/4", "F32 tg5 2/4", "F16 pp12 3/4", "F16 tg5 4/4"]);
  });

  it("markdown: llama.cpp's columns, one row per precision; JSON: the same numbers", () => {
    const md = formatQuantReport(report).split("\n");
    expect(md[0]).toMatch(/^\| model\s+\| +size \| +params \| +BPW \| +PPL \| +KLD \| +KLD p99 \| +same top \| +pp12 t\/s \| +tg5 t\/s \|$/);
    expect(md[1]).toMatch(/^\|-+\|-+:\|/);
    expect(md[2]).toMatch(/^\| F32 +\| +0\.\d\d MiB \| +\d+\.\d\d K \| 32\.00 \| +\d+\.\d{3} ± \d+\.\d{3} \| +0 ± 0 \| +0 \| 100\.00 ± 0\.00 % \| 1200\.0 ± 0\.0 \| 500\.0 ± 0\.0 \|$/);
    expect(md[3]).toMatch(/^\| F16 +\| .*\| 16\.\d\d \| .* \| +\d\.\d\de-\d ± \d\.\d\de-\d \|/);
    expect(md.at(-1)).toContain("over 5 held-out windows of 16 tokens (80 positions)");
    const json = JSON.parse(quantReportJson(report));
    expect(json.format).toBe("tinylm-quant-report");
    expect(json.rows[1].kl.value).toBe(report.rows[1].kl.value);
    expect(json.rows.map((r: { label: string }) => r.label)).toEqual(["F32", "F16"]);
  });

  it("block-quantized rows: BPW from the file's blocks, KL growing as bits shrink, the output kept at Q8_0", async () => {
    const { tensors } = parameterLayout(config);
    const n2 = tensors.filter((t) => t.shape.length === 2).reduce((a, t) => a + t.size, 0);
    const n1 = tensors.filter((t) => t.shape.length === 1).reduce((a, t) => a + t.size, 0);
    const embed = config.vocabSize * config.dim; // tied: the embedding is also the output
    const recipes = [{ type: "Q8_0" }, { type: "Q4_1" }, { type: "Q4_0" }, { type: "Q4_0", output: "Q8_0" }] as const;
    const quantized = recipes.map((r) => precisionVariant(k, model, r));
    try {
      const r = await quantReport([entries[0], ...quantized], text, { windowLength: 16, ppTokens: 4, tgTokens: 2, repetitions: 1 });
      expect(r.rows.map((row) => row.label)).toEqual(["F32", "Q8_0", "Q4_1", "Q4_0", "Q4_0 + output Q8_0"]);
      // Every matrix of this config has rows of 32 or 64 values, so every one is blocks: 34, 20, 18 bytes per 32.
      const bpw = (perBlock: number[]) => ((perBlock[0] * (n2 - embed)) / 32 + (perBlock[1] * embed) / 32 + 4 * n1) * 8 / (n1 + n2);
      expect(r.rows[1].bitsPerWeight).toBeCloseTo(bpw([34, 34]), 12);
      expect(r.rows[2].bitsPerWeight).toBeCloseTo(bpw([20, 20]), 12);
      expect(r.rows[3].bitsPerWeight).toBeCloseTo(bpw([18, 18]), 12);
      expect(r.rows[4].bitsPerWeight).toBeCloseTo(bpw([18, 34]), 12);
      const [, q8, , q4] = r.rows;
      expect(q8.kl.value).toBeGreaterThan(report.rows[1].kl.value); // F16's
      expect(q4.kl.value).toBeGreaterThan(q8.kl.value);
      expect(q4.sameTop.value).toBeLessThan(1);
    } finally {
      for (const q of quantized) q.free();
    }
  });

  it("with speed tests turned off, the speed cells are empty", async () => {
    const r = await quantReport(entries.slice(0, 1), text, { windowLength: 16, maxWindows: 1, ppTokens: 0, tgTokens: 0 });
    expect(r.windows).toBe(1);
    expect(r.rows[0].pp).toBeNull();
    expect(formatQuantReport(r).split("\n")[2]).toMatch(/\| +— \| +— \|$/);
  });

  it("rejects bad input with TinyLMError", async () => {
    const small = Llama.init(k, llamaConfig({ ...config, vocabSize: 40 }), { seed: 1 });
    const other = precisionVariant(k, small, { type: "F32" });
    await expect(quantReport([], text)).rejects.toThrow(/no models/);
    await expect(quantReport([{ label: "x", model: {} as Llama, gguf: entries[0].gguf }], text)).rejects.toThrow(/"x" is not a model/);
    await expect(quantReport([entries[0], other], text)).rejects.toThrow(/vocabulary of 40/);
    await expect(quantReport(entries, text.slice(0, 16), { windowLength: 16 })).rejects.toThrow(/fewer than one window/);
    await expect(quantReport(entries, text, { windowLength: 33 })).rejects.toThrow(/exceeds the context length/);
    await expect(quantReport(entries, text, { repetitions: 0 })).rejects.toThrow(TinyLMError);
    await expect(quantReport([{ label: "x", model, gguf: { fileBytes: 1, tensorBytes: 1, parameters: 0 } }], text)).rejects.toThrow(/GGUF file/);
    expect(() => ggufSizes(new Uint8Array(64))).toThrow(TinyLMError);
    expect(() => formatQuantReport({} as QuantReport)).toThrow(TinyLMError);
    small.free();
  });
});

describe("precision recipes", () => {
  it("parses the command line's names", () => {
    expect(parsePrecision("f32")).toEqual({ type: "F32" });
    expect(parsePrecision("Q4_0")).toEqual({ type: "Q4_0" });
    expect(parsePrecision("q4_0+out:q8_0")).toEqual({ type: "Q4_0", output: "Q8_0" });
    expect(() => parsePrecision("q5_k")).toThrow(/unknown precision "q5_k"/);
    expect(() => parsePrecision("f16+out:q8_0")).toThrow(TinyLMError);
  });
});
