import { TinyLMError, check } from "../../errors.js";
import type { Kernels } from "../../kernels/module.js";
import type { Llama } from "../../nn/llama.js";
import {
  type PrecisionRecipe, type PrecisionVariant, formatQuantReport, parsePrecision, precisionLabel, precisionVariant, quantReport, quantReportJson,
} from "../../quant/report.js";
import type { Tokenizer } from "../../tokenizer/tokenizer.js";
import { brownSplits } from "../brown.js";
import { loadModel } from "../checkpoint.js";
import { readTextFile, writeFileAtomic } from "../files.js";
import { loadKernelsFromFiles } from "../kernels.js";
import { ProgressBar } from "../progress.js";
import { positive } from "./args.js";

export const QUANTIZE_HELP = `tinylm quantize <model> --type <t> --out <file.gguf>   store a model's weights at another precision
    <model>                   a Hugging Face model directory or a .gguf file
    --type <t>                f32 | f16 | q8_0 | q4_1 | q4_0
    --keep-output <t>         keep the output tensor at f16 or q8_0 (a mixed recipe; block types only)
    --out <file.gguf>         the GGUF file to write`;

export const REPORT_HELP = `tinylm report <model> [options]  size, bits per weight, perplexity, KL divergence from F32 and speed per precision
    --types <list>            comma-separated precisions (default f32,f16,q8_0,q4_1,q4_0); a mixed recipe is
                              written q4_0+out:q8_0
    --text <file>             held-out UTF-8 text (default: the Brown corpus's held-out sentences)
    --windows <n>             held-out windows of --window tokens (default 64)
    --window <n>              tokens per window (default min(256, the context length))
    --reps <n>                timed runs of each speed test (default 5)
    --json <file>             also write the report as JSON`;

/** The precisions `tinylm report` shows by default (llama.cpp's usual set, largest first). */
export const DEFAULT_TYPES = "f32,f16,q8_0,q4_1,q4_0";

const option = (args: readonly string[], i: number): string => {
  const v = args[i + 1];
  check(v !== undefined && !v.startsWith("--"), "BAD_ARGUMENT", `${args[i]} needs a value`);
  return v;
};


async function source(path: string | undefined, command: string, k: Kernels): Promise<{ model: Llama; tokenizer?: Tokenizer }> {
  check(path !== undefined, "BAD_ARGUMENT", `${command}: give a model directory or .gguf file`);
  return loadModel(path, { kernels: k });
}

/** `tinylm quantize`: writes the model at one precision (or a mixed recipe) as a GGUF file. */
export async function quantizeCommand(args: readonly string[]): Promise<void> {
  let path: string | undefined, type: string | undefined, keepOutput: string | undefined, out: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--type") type = option(args, i++);
    else if (a === "--keep-output") keepOutput = option(args, i++);
    else if (a === "--out") out = option(args, i++);
    else if (!a.startsWith("--") && path === undefined) path = a;
    else throw new TinyLMError("BAD_ARGUMENT", `quantize: unknown option "${a}"`);
  }
  check(type !== undefined, "BAD_ARGUMENT", "quantize: --type is required (f32, f16, q8_0, q4_1 or q4_0)");
  check(out !== undefined, "BAD_ARGUMENT", "quantize: --out <file.gguf> is required");
  const recipe = parsePrecision(keepOutput === undefined ? type : `${type}+out:${keepOutput}`);
  const k = await loadKernelsFromFiles();
  const { model, tokenizer } = await source(path, "quantize", k);
  const v = precisionVariant(k, model, recipe, { tokenizer });
  await writeFileAtomic(out, v.gguf);
  const params = model.parameterCount();
  process.stdout.write(`wrote ${out}: ${precisionLabel(recipe)}, ${(v.gguf.length / 2 ** 20).toFixed(2)} MiB, ${params.toLocaleString("en")} parameters\n`);
  v.free();
}

/** `tinylm report`: the quantization table for a model, markdown to the terminal and optionally JSON to a file. */
export async function reportCommand(args: readonly string[]): Promise<void> {
  let path: string | undefined, text: string | undefined, json: string | undefined, window: number | undefined;
  let types = DEFAULT_TYPES, windows = 64, reps = 5;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--types") types = option(args, i++);
    else if (a === "--text") text = option(args, i++);
    else if (a === "--json") json = option(args, i++);
    else if (a === "--windows") windows = positive(a, option(args, i++));
    else if (a === "--window") window = positive(a, option(args, i++));
    else if (a === "--reps") reps = positive(a, option(args, i++));
    else if (!a.startsWith("--") && path === undefined) path = a;
    else throw new TinyLMError("BAD_ARGUMENT", `report: unknown option "${a}"`);
  }
  const recipes = types.split(",").map(parsePrecision);
  const k = await loadKernelsFromFiles();
  const { model, tokenizer } = await source(path, "report", k);
  check(model.quantized.size === 0 && model.f16.size === 0, "BAD_ARGUMENT",
    `report: ${path} is already stored at reduced precision; give the F32 model it was made from (the reference of every row)`);
  check(tokenizer !== undefined, "BAD_ARGUMENT", "report: the model carries no tokenizer (tokenizer.json or tokenizer.ggml.*) to read the held-out text with");
  const T = window ?? Math.min(256, model.config.contextLength);
  const heldOut = await heldOutIds(tokenizer, text, windows * T + 1);
  const say = (s = "") => process.stdout.write(`${s}\n`);
  const report = await reportFor(k, model, tokenizer, recipes, heldOut, { windowLength: T, maxWindows: windows, repetitions: reps }, say);
  say(formatQuantReport(report));
  if (json !== undefined) {
    await writeFileAtomic(json, new TextEncoder().encode(quantReportJson(report)));
    say(`wrote ${json}`);
  }
}

/**
 * The report for `model` at each recipe; a recipe this build cannot run yet is skipped with a note (through `say`)
 * rather than failing the others. Progress bars go to stdout.
 */
export async function reportFor(
  k: Kernels, model: Llama, tokenizer: Tokenizer | undefined, recipes: readonly PrecisionRecipe[], heldOut: ArrayLike<number>,
  options: { windowLength: number; maxWindows: number; repetitions: number; warmup?: number; ppTokens?: number; tgTokens?: number },
  say: (line?: string) => void,
  progress: (label: string, total: number) => ProgressBar = (label, total) => new ProgressBar(label, total),
): Promise<Awaited<ReturnType<typeof quantReport>>> {
  check(recipes.length > 0 && recipes[0].type === "F32" && recipes[0].output === undefined, "BAD_ARGUMENT",
    "report: the first precision must be f32, the reference every KL divergence is measured against");
  const variants: PrecisionVariant[] = [];
  try {
    for (const r of recipes) {
      try {
        variants.push(precisionVariant(k, model, r, { tokenizer }));
      } catch (e) {
        if (!(e instanceof TinyLMError && e.code === "UNSUPPORTED")) throw e;
        say(`skipped ${precisionLabel(r)}: ${e.message}`);
      }
    }
    const bars = new Map<string, ProgressBar>();
    return await quantReport(variants, heldOut, {
      ...options,
      onProgress: (p) => {
        const label = p.stage === "quality" ? "perplexity and KL" : "pp and tg speed";
        let bar = bars.get(label);
        if (bar === undefined) bars.set(label, (bar = progress(label, p.total)));
        bar.update(p.done, p.label);
        if (p.done === p.total) bar.done();
      },
    });
  } finally {
    for (const v of variants) v.free();
  }
}

// Enough held-out token ids for `need` positions: the user's text, or the Brown corpus's held-out sentences.
async function heldOutIds(tok: Tokenizer, file: string | undefined, need: number): Promise<Int32Array> {
  let lines: string[];
  if (file !== undefined) lines = (await readTextFile(file)).split("\n");
  else lines = brownSplits().heldOut;
  // Encode in slices until there are enough tokens: a long text costs only what the report reads.
  const ids: number[] = [];
  for (let i = 0; i < lines.length && ids.length < need; i += 200) ids.push(...tok.encode(lines.slice(i, i + 200).join("\n") + "\n"));
  return Int32Array.from(ids);
}
