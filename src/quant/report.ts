// The quantization report: one row per precision of the same model, in the style of llama.cpp's quantization tables
// and llama-bench. Pure TypeScript over any model with the Llama surface (forward/logits for quality, decode for
// speed), so a quantized model plugs in as one more entry.
//
//   column      how it is measured
//   size        bytes of the GGUF file of that precision (MiB = 2^20 bytes)
//   params      elements of the file's tensors
//   BPW         tensor bytes in the file × 8 / params (scales and mins included, metadata not), as llama.cpp reports it
//   PPL         exp(mean token NLL) over the held-out windows ± exp(mean)·SE(NLL) (llama-perplexity's error)
//   KLD         mean over positions of KL(P_ref ‖ P_row) of the next-token distributions, in float64, ± its SE, and the
//               99th percentile (a mean hides the few positions a 4-bit model gets badly wrong)
//   same top    share of positions whose most likely token equals the reference's ± sqrt(p(1−p)/(n−1))
//   ppN / tgN   llama-bench's tests: N prompt tokens in one decode call on an empty cache; N tokens decoded one at a
//               time from an empty cache. Tokens per second, mean ± sample std over repetitions, timed after every
//               model has had its warm-up runs.
//
// Every model sees exactly the same windows (consecutive, non-overlapping, each position scored), window by window,
// so no more than one window's logits per model are held at a time.
import { TinyLMError, check } from "../errors.js";
import { modelFromGguf, modelToGguf } from "../io/checkpoint.js";
import { readGguf } from "../io/gguf.js";
import type { Kernels } from "../kernels/module.js";
import type { Llama } from "../nn/llama.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { Random } from "../util/random.js";
import { type QuantType, isQuantType } from "./formats.js";
import { quantizeModel } from "./model.js";

/** What the report needs from a key/value cache. */
export interface ReportCache {
  free(): void;
}

/** What the report needs from a model: Llama's surface (a quantized model offers the same methods). */
export interface ReportModel {
  readonly config: { readonly vocabSize: number; readonly contextLength: number };
  /** Mean loss over ids (B, T) with targets; logits() then returns (B, T, V). */
  forward(ids: ArrayLike<number>, options: { B?: number; T?: number; targets?: ArrayLike<number> }): number;
  logits(): Float32Array;
  newCache(capacity?: number): ReportCache;
  /** Feeds ids after the cached positions and returns the last position's logits. */
  decode(ids: ArrayLike<number>, cache: ReportCache): Float32Array;
}

/** Sizes read from a GGUF file: the file, its tensor data, and the number of values its tensors hold. */
export interface GgufSizes {
  fileBytes: number;
  tensorBytes: number;
  parameters: number;
}

/** One row to be: a label ("Q4_0"), the model, and its GGUF file (bytes, or sizes already read from them). */
export interface ReportEntry {
  label: string;
  model: ReportModel;
  gguf: Uint8Array | GgufSizes;
}

export interface QuantReportOptions {
  /** Positions per held-out window. Default min(256, the context length). */
  windowLength?: number;
  /** At most this many windows (from the start of the text). Default all that fit. */
  maxWindows?: number;
  /** Prompt tokens of the pp test (0 skips it). Default min(256, the context length). */
  ppTokens?: number;
  /** Generated tokens of the tg test (0 skips it). Default min(128, the context length). */
  tgTokens?: number;
  /** Timed repetitions of each speed test. Default 5. */
  repetitions?: number;
  /** Untimed runs before them (the JIT tiers wasm up in the background; early runs can be slower). Default 1. */
  warmup?: number;
  /** Seed of the speed tests' random token ids. Default 0. */
  seed?: number;
  /** Milliseconds (default performance.now). workerd freezes the clock during execution: pass a real one there. */
  clock?: () => number;
  onProgress?: (p: { stage: "quality" | "speed"; label: string; done: number; total: number }) => void;
  signal?: AbortSignal;
}

/** A mean and its standard error. */
export interface Estimate {
  value: number;
  error: number;
}

export interface Throughput {
  /** Tokens per run (the N of ppN / tgN). */
  tokens: number;
  /** Tokens per second: mean and sample standard deviation over the runs. */
  mean: number;
  std: number;
  runs: number[];
}

export interface QualityStats {
  positions: number;
  /** Mean negative log-likelihood of the targets (nats) ± SE. */
  nll: Estimate;
  /** exp(nll) ± exp(nll)·SE. */
  perplexity: Estimate;
  /** KL(P_ref ‖ P) in nats per position ± SE, its 99th percentile and maximum. */
  kl: Estimate & { p99: number; max: number };
  /** Share (0–1) of positions whose argmax equals the reference's ± SE. */
  sameTop: Estimate;
}

export interface QuantReportRow extends QualityStats, GgufSizes {
  label: string;
  sizeMiB: number;
  bitsPerWeight: number;
  pp: Throughput | null;
  tg: Throughput | null;
}

export interface QuantReport {
  format: "tinylm-quant-report";
  /** The row every KL divergence and top-token agreement is measured against (the first entry). */
  reference: string;
  vocabSize: number;
  windows: number;
  windowLength: number;
  rows: QuantReportRow[];
}

/** Sizes of a GGUF file (validated by readGguf: a corrupt file throws BAD_FILE). */
export function ggufSizes(bytes: Uint8Array): GgufSizes {
  const f = readGguf(bytes);
  let tensorBytes = 0, parameters = 0;
  for (const t of f.tensors) {
    tensorBytes += t.data.length;
    parameters += t.shape.reduce((a, b) => a * b, 1);
  }
  return { fileBytes: bytes.length, tensorBytes, parameters };
}

/** out[i] = log softmax(row)[i] in float64 (max subtracted first so exp never overflows). */
export function logSoftmax64(out: Float64Array, row: ArrayLike<number>, offset: number, V: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < V; i++) max = Math.max(max, row[offset + i]);
  let sum = 0;
  for (let i = 0; i < V; i++) sum += Math.exp(row[offset + i] - max);
  const lse = max + Math.log(sum);
  for (let i = 0; i < V; i++) out[i] = row[offset + i] - lse;
  return out;
}

// Mean ± standard error from a sum and a sum of squares, as llama-perplexity computes it.
function estimate(sum: number, sum2: number, n: number): Estimate {
  const mean = sum / n;
  const variance = sum2 / n - mean * mean;
  return { value: mean, error: n > 1 && variance > 0 ? Math.sqrt(variance / (n - 1)) : 0 };
}

function argmax(row: ArrayLike<number>, offset: number, V: number): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (row[offset + i] > row[offset + best]) best = i;
  return best;
}

/**
 * Accumulates the quality statistics of one model against a reference, rows of logits at a time:
 * add(refLogits, logits, targets, rows, V) with (rows, V) logits of the same positions and (rows) target ids.
 */
export class QualityAccumulator {
  private n = 0;
  private nll = 0;
  private nll2 = 0;
  private klSum = 0;
  private klSum2 = 0;
  private agree = 0;
  private kls: number[] = [];
  private refLogp = new Float64Array(0);
  private logp = new Float64Array(0);

  add(refLogits: ArrayLike<number>, logits: ArrayLike<number>, targets: ArrayLike<number>, rows: number, V: number): this {
    check(Number.isInteger(rows) && rows >= 1 && Number.isInteger(V) && V >= 1, "BAD_SHAPE", `QualityAccumulator: rows and V must be positive integers, got ${rows}, ${V}`);
    check(refLogits.length === rows * V && logits.length === rows * V, "BAD_SHAPE",
      () => `QualityAccumulator: both logits must hold rows·V = ${rows * V} values, got ${refLogits.length} and ${logits.length}`);
    check(targets.length === rows, "BAD_SHAPE", () => `QualityAccumulator: ${rows} targets expected, got ${targets.length}`);
    if (this.logp.length !== V) [this.refLogp, this.logp] = [new Float64Array(V), new Float64Array(V)];
    const a = this.refLogp, b = this.logp;
    for (let r = 0; r < rows; r++) {
      const y = targets[r];
      check(Number.isInteger(y) && y >= 0 && y < V, "OUT_OF_RANGE", () => `QualityAccumulator: target ${y} is outside the vocabulary [0, ${V})`);
      logSoftmax64(a, refLogits, r * V, V);
      logSoftmax64(b, logits, r * V, V);
      // exp(a)·(a − b) is 0 where the reference gives no mass, even when b = −inf there.
      let kl = 0;
      for (let i = 0; i < V; i++) if (a[i] > -Infinity) kl += Math.exp(a[i]) * (a[i] - b[i]);
      check(Number.isFinite(kl) && Number.isFinite(b[y]), "NAN", () => `QualityAccumulator: non-finite logits at row ${r}`);
      this.nll += -b[y];
      this.nll2 += b[y] * b[y];
      this.klSum += kl;
      this.klSum2 += kl * kl;
      this.kls.push(kl);
      if (argmax(logits, r * V, V) === argmax(refLogits, r * V, V)) this.agree++;
      this.n++;
    }
    return this;
  }

  result(): QualityStats {
    const n = this.n;
    check(n > 0, "BAD_ARGUMENT", "QualityAccumulator: no positions were added");
    const nll = estimate(this.nll, this.nll2, n);
    const ppl = Math.exp(nll.value);
    const sorted = Float64Array.from(this.kls).sort();
    const p = this.agree / n;
    return {
      positions: n,
      nll,
      perplexity: { value: ppl, error: ppl * nll.error },
      kl: { ...estimate(this.klSum, this.klSum2, n), p99: quantile(sorted, 0.99), max: sorted[n - 1] },
      sameTop: { value: p, error: n > 1 ? Math.sqrt((p * (1 - p)) / (n - 1)) : 0 },
    };
  }
}

// The q-quantile of sorted values, interpolating linearly between the two nearest ranks (numpy's default).
function quantile(sorted: Float64Array, q: number): number {
  const x = (sorted.length - 1) * q, i = Math.floor(x);
  return i + 1 < sorted.length ? sorted[i] + (x - i) * (sorted[i + 1] - sorted[i]) : sorted[i];
}

function positiveInt(name: string, v: number | undefined, fallback: number, allowZero = false): number {
  const x = v ?? fallback;
  check(Number.isInteger(x) && (allowZero ? x >= 0 : x >= 1), "BAD_ARGUMENT", `quantReport: ${name} must be a ${allowZero ? "non-negative" : "positive"} integer, got ${x}`);
  return x;
}

/** Mean and sample standard deviation. */
export function meanStd(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std };
}

/**
 * The report for `entries` (the first is the reference, normally F32) on held-out token ids: quality over the same
 * windows for every entry, then the speed tests. Throws BAD_ARGUMENT for no entries, mismatched vocabularies or a
 * text too short for one window.
 */
export async function quantReport(entries: readonly ReportEntry[], heldOut: ArrayLike<number>, options: QuantReportOptions = {}): Promise<QuantReport> {
  check(Array.isArray(entries) && entries.length > 0, "BAD_ARGUMENT", "quantReport: no models given");
  const V = entries[0].model?.config?.vocabSize;
  const ctx = Math.min(...entries.map((e) => e.model?.config?.contextLength));
  for (const e of entries) {
    check(typeof e.label === "string" && e.label !== "", "BAD_ARGUMENT", "quantReport: every entry needs a label");
    check(typeof e.model?.forward === "function" && typeof e.model.decode === "function" && Number.isInteger(e.model.config?.vocabSize), "BAD_ARGUMENT",
      () => `quantReport: "${e.label}" is not a model (forward, logits, newCache, decode and a config are needed)`);
    check(e.model?.config?.vocabSize === V, "BAD_ARGUMENT", () => `quantReport: "${e.label}" has a vocabulary of ${e.model?.config?.vocabSize}, the reference ${V}`);
    check(e.gguf instanceof Uint8Array || (typeof e.gguf === "object" && e.gguf !== null && e.gguf.parameters > 0), "BAD_ARGUMENT",
      () => `quantReport: "${e.label}" needs its GGUF file (bytes or sizes)`);
  }
  check(heldOut !== null && typeof heldOut === "object" && typeof heldOut.length === "number", "BAD_ARGUMENT", "quantReport: heldOut must be an array of token ids");
  const T = positiveInt("windowLength", options.windowLength, Math.min(256, ctx));
  check(T <= ctx, "BAD_ARGUMENT", `quantReport: windowLength ${T} exceeds the context length ${ctx}`);
  const fit = Math.floor((heldOut.length - 1) / T);
  check(fit >= 1, "BAD_ARGUMENT", `quantReport: the held-out text has ${heldOut.length} tokens, fewer than one window of ${T} + 1`);
  const windows = Math.min(fit, positiveInt("maxWindows", options.maxWindows, fit));
  const ppN = positiveInt("ppTokens", options.ppTokens, Math.min(256, ctx), true);
  const tgN = positiveInt("tgTokens", options.tgTokens, Math.min(128, ctx), true);
  check(ppN <= ctx && tgN <= ctx, "BAD_ARGUMENT", `quantReport: ppTokens ${ppN} and tgTokens ${tgN} must not exceed the context length ${ctx}`);
  const reps = positiveInt("repetitions", options.repetitions, 5);
  const warmup = positiveInt("warmup", options.warmup, 1, true);
  const clock = options.clock ?? (() => performance.now());
  const aborted = () => {
    if (options.signal?.aborted) throw new TinyLMError("BAD_ARGUMENT", "quantReport: aborted");
  };

  const acc = entries.map(() => new QualityAccumulator());
  for (let w = 0; w < windows; w++) {
    aborted();
    const ids = Array.from({ length: T }, (_, t) => heldOut[w * T + t]);
    const targets = Array.from({ length: T }, (_, t) => heldOut[w * T + t + 1]);
    const logitsOf = (m: ReportModel): Float32Array => {
      m.forward(ids, { B: 1, T, targets });
      return m.logits();
    };
    const ref = logitsOf(entries[0].model);
    for (let e = 0; e < entries.length; e++) acc[e].add(ref, e === 0 ? ref : logitsOf(entries[e].model), targets, T, V);
    options.onProgress?.({ stage: "quality", label: "held-out windows", done: w + 1, total: windows });
    await Promise.resolve();
  }

  const rng = new Random(options.seed ?? 0);
  const ppIds = Array.from({ length: ppN }, () => rng.int(V));
  const tgIds = Array.from({ length: tgN }, () => rng.int(V));
  const time = (m: ReportModel, n: number, run: (cache: ReportCache) => void): number => {
    const cache = m.newCache(n);
    try {
      const t0 = clock();
      run(cache);
      return (n * 1000) / Math.max(clock() - t0, 1e-6);
    } finally {
      cache.free();
    }
  };
  // llama-bench's two tests for one model; n = 0 skips a test.
  const tests = (m: ReportModel) => [
    { name: `pp${ppN}`, n: ppN, run: (cache: ReportCache) => void m.decode(ppIds, cache) },
    { name: `tg${tgN}`, n: tgN, run: (cache: ReportCache) => { for (const id of tgIds) m.decode([id], cache); } },
  ].filter((t) => t.n > 0);
  // Every model and test is warmed up before any is timed: V8 tiers wasm and JS up in the background, and the first
  // model timed would otherwise pay for it.
  for (const { model: m } of entries) {
    for (const t of tests(m)) {
      for (let r = 0; r < warmup; r++) time(m, t.n, t.run);
    }
    aborted();
    await Promise.resolve();
  }
  let benched = 0;
  const benches = entries.length * tests(entries[0].model).length;
  const rows: QuantReportRow[] = [];
  for (let e = 0; e < entries.length; e++) {
    const { label, model: m } = entries[e];
    const speeds = new Map<string, Throughput>();
    for (const t of tests(m)) {
      const runs: number[] = [];
      for (let r = 0; r < reps; r++) {
        aborted();
        runs.push(time(m, t.n, t.run));
        await Promise.resolve();
      }
      speeds.set(t.name, { tokens: t.n, ...meanStd(runs), runs });
      options.onProgress?.({ stage: "speed", label: `${label} ${t.name}`, done: ++benched, total: benches });
    }
    const sizes = entries[e].gguf instanceof Uint8Array ? ggufSizes(entries[e].gguf as Uint8Array) : (entries[e].gguf as GgufSizes);
    rows.push({
      label, ...acc[e].result(), ...sizes,
      sizeMiB: sizes.fileBytes / 2 ** 20,
      bitsPerWeight: (sizes.tensorBytes * 8) / sizes.parameters,
      pp: speeds.get(`pp${ppN}`) ?? null,
      tg: speeds.get(`tg${tgN}`) ?? null,
    });
  }
  return { format: "tinylm-quant-report", reference: entries[0].label, vocabSize: V, windows, windowLength: T, rows };
}

function count(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(2)} K`;
  return String(n);
}

// Six decimals as llama-perplexity prints KLD, three significant digits below that (F16 sits around 1e-6), 0 as 0.
function kld(x: number): string {
  return x === 0 ? "0" : Math.abs(x) >= 1e-4 ? x.toFixed(6) : x.toExponential(2);
}

function speed(t: Throughput | null): string {
  return t === null ? "—" : `${t.mean.toFixed(1)} ± ${t.std.toFixed(1)}`;
}

/** The report as a markdown table (llama.cpp's columns), with a line saying what was measured. */
export function formatQuantReport(report: QuantReport): string {
  check(report?.format === "tinylm-quant-report" && Array.isArray(report.rows) && report.rows.length > 0, "BAD_ARGUMENT", "formatQuantReport: not a quantReport() result");
  const first = report.rows[0];
  const header = ["model", "size", "params", "BPW", "PPL", "KLD", "KLD p99", "same top", `pp${first.pp?.tokens ?? ""} t/s`, `tg${first.tg?.tokens ?? ""} t/s`];
  const table = [header, ...report.rows.map((r) => [
    r.label,
    `${r.sizeMiB.toFixed(2)} MiB`,
    count(r.parameters),
    r.bitsPerWeight.toFixed(2),
    `${r.perplexity.value.toFixed(3)} ± ${r.perplexity.error.toFixed(3)}`,
    `${kld(r.kl.value)} ± ${kld(r.kl.error)}`,
    kld(r.kl.p99),
    `${(100 * r.sameTop.value).toFixed(2)} ± ${(100 * r.sameTop.error).toFixed(2)} %`,
    speed(r.pp),
    speed(r.tg),
  ])];
  const widths = header.map((_, c) => Math.max(...table.map((row) => row[c].length)));
  const right = (c: number) => c > 0;
  const line = (row: string[]) => `| ${row.map((cell, c) => (right(c) ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join(" | ")} |`;
  const rule = `|${widths.map((w, c) => (right(c) ? `${"-".repeat(w + 1)}:` : "-".repeat(w + 2))).join("|")}|`;
  return [line(header), rule, ...table.slice(1).map(line), "",
    `PPL, KLD (vs ${report.reference}) and same top over ${report.windows} held-out window${report.windows === 1 ? "" : "s"} of ${report.windowLength} tokens ` +
    `(${first.positions.toLocaleString("en")} positions); speeds: mean ± std over ${first.pp?.runs.length ?? first.tg?.runs.length ?? 0} runs, one thread.`].join("\n");
}

/** The report as JSON text for machines (non-finite numbers become null). */
export function quantReportJson(report: QuantReport): string {
  check(report?.format === "tinylm-quant-report", "BAD_ARGUMENT", "quantReportJson: not a quantReport() result");
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** The storage of a model's 2-D weights: a GGUF tensor type, optionally with the output (lm_head) kept at another. */
export interface PrecisionRecipe {
  type: "F32" | "F16" | QuantType;
  /** The output tensor's type when it differs (llama.cpp users keep it at Q8_0 or F16 with 4-bit weights). */
  output?: "F32" | "F16" | "Q8_0";
}

/** "Q4_0" or "Q4_0 + output Q8_0". */
export function precisionLabel(r: PrecisionRecipe): string {
  return r.output === undefined ? r.type : `${r.type} + output ${r.output}`;
}

/**
 * Parses "f16", "q4_0", "q4_0+out:q8_0" (case-insensitive) into a recipe; throws BAD_ARGUMENT for anything else.
 */
export function parsePrecision(text: string): PrecisionRecipe {
  const m = /^(f32|f16|q8_0|q4_0|q4_1)(?:\+out(?:put)?:(f32|f16|q8_0))?$/i.exec(String(text).trim());
  check(m !== null, "BAD_ARGUMENT", `unknown precision "${text}"; expected f32, f16, q8_0, q4_1 or q4_0, optionally with +out:f16 or +out:q8_0`);
  const type = m[1].toUpperCase() as PrecisionRecipe["type"];
  const output = m[2]?.toUpperCase() as PrecisionRecipe["output"];
  check(output === undefined || isQuantType(type), "BAD_ARGUMENT", `"${text}": a separate output type only makes sense for a block-quantized model`);
  return output === undefined ? { type } : { type, output };
}

/** A report entry for `model` stored at `recipe`, with the GGUF bytes it was made from; free() what it allocated. */
export interface PrecisionVariant extends ReportEntry {
  gguf: Uint8Array;
  free(): void;
}

/**
 * `model` (f32) at another precision: its GGUF bytes and a model that computes from them. F32 is the model itself;
 * F16 is the model reloaded from its F16 file (weights rounded to f16, computed in f32). Block types are
 * quantizeModel's model (src/quant/model.ts: llama.cpp's reference rounding, integer block products) and its file.
 */
export function precisionVariant(k: Kernels, model: Llama, recipe: PrecisionRecipe, options: { tokenizer?: Tokenizer } = {}): PrecisionVariant {
  const label = precisionLabel(recipe);
  if (recipe.type === "F32" || recipe.type === "F16") {
    const gguf = modelToGguf(model, { type: recipe.type, tokenizer: options.tokenizer });
    if (recipe.type === "F32") return { label, model, gguf, free: () => {} };
    const reloaded = modelFromGguf(k, gguf).model;
    return { label, model: reloaded, gguf, free: () => reloaded.free() };
  }
  check(isQuantType(recipe.type), "BAD_ARGUMENT", `precisionVariant: unknown type ${String(recipe.type)}`);
  const q = quantizeModel(model, recipe.type, recipe.output === undefined ? {} : { keepOutput: recipe.output });
  try {
    return { label, model: q, gguf: modelToGguf(q, { tokenizer: options.tokenizer }), free: () => q.free() };
  } catch (e) {
    q.free();
    throw e;
  }
}
