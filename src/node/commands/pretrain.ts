import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { TinyLMError, check } from "../../errors.js";
import { generateAll } from "../../generate/generate.js";
import { type PresetName, PRESETS, llamaConfig, parameterTable } from "../../nn/config.js";
import { Llama } from "../../nn/llama.js";
import { Tokenizer } from "../../tokenizer/tokenizer.js";
import { BpeTrainer } from "../../tokenizer/train/index.js";
import { lossChartSvg } from "../../train/chart.js";
import { splitTokens } from "../../train/data.js";
import { type TrainState, pretrain } from "../../train/pretrain.js";
import { brownSplits } from "../brown.js";
import { loadTrainState, saveModel, saveTrainState } from "../checkpoint.js";
import { parseTextFile, readTextFile } from "../files.js";
import { loadKernelsFromFiles } from "../kernels.js";
import { ProgressBar } from "../progress.js";
import { positive } from "./args.js";

export const PRETRAIN_HELP = `tinylm pretrain [options]       train a Llama-style model from scratch on your text (default: the Brown corpus)
    --text <file>             a UTF-8 text file to train on (repeatable); documents are separated by blank lines
    --tokenizer <file>        a tokenizer.json to use (default: train a byte-level BPE on the text)
    --vocab <n>               vocabulary of the trained BPE (default 4096)
    --preset <name>           ${Object.keys(PRESETS).join(" | ")} (default micro)
    --steps <n>               optimizer steps (default 1000)
    --batch <n>               sequences per step (default 8)
    --seq <n>                 tokens per sequence (default 128)
    --lr <x>                  peak learning rate (default 3e-3)
    --eval-every <n>          held-out loss every n steps (default 100)
    --checkpoint-every <n>    write <out>/train-state.safetensors every n steps (default 200)
    --resume <file>           continue from a train-state file, exactly as if never stopped
    --seed <n>                data order and initialisation (default 0)
    --out <dir>               where the model, tokenizer, states and loss chart go (default runs/pretrain)`;

const EOT = "<|endoftext|>";

/** `tinylm pretrain`: parses its options, trains, writes <out>/model (HF), <out>/model.gguf and <out>/loss.svg. */
export async function pretrainCommand(args: readonly string[]): Promise<void> {
  const o = parse(args);
  const k = await loadKernelsFromFiles();
  const say = (s = "") => process.stdout.write(`${s}\n`);

  const documents = o.text.length > 0 ? await readDocuments(o.text) : undefined;
  const lines = documents ?? (() => { const b = brownSplits(); return [...b.train, ...b.heldOut]; })();
  let tok: Tokenizer;
  if (o.tokenizer) tok = await parseTextFile(o.tokenizer, (text) => Tokenizer.fromJSON(text));
  else {
    const bar = new ProgressBar("training BPE", 100);
    tok = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: o.vocab, specialTokens: [EOT] }).train(lines, { onProgress: (p) => bar.update(Math.floor((100 * p.done) / Math.max(1, p.total)), p.stage) }));
    bar.done();
  }
  const eot = tok.tokenToId(EOT);
  const tokens = Int32Array.from(tok.encode(lines.join(eot === undefined ? "\n" : `\n${EOT}`), { allowedSpecial: eot === undefined ? [] : [EOT] }));
  const data = splitTokens(tokens, 0.1);
  check(data.val.length > o.seq + 1, "BAD_ARGUMENT", `the text gives ${tokens.length} tokens, too few for a held-out split with --seq ${o.seq}`);

  let resume: TrainState | undefined;
  let config = llamaConfig(o.preset, { vocabSize: tok.vocabSize, contextLength: o.seq });
  if (o.resume) {
    const saved = await loadTrainState(o.resume);
    check(saved.config.vocabSize === tok.vocabSize, "BAD_ARGUMENT", `the train state's vocabulary (${saved.config.vocabSize}) differs from the tokenizer's (${tok.vocabSize})`);
    config = saved.config;
    resume = saved.state;
  }
  const model = resume ? new Llama(k, config) : Llama.init(k, config, { seed: o.seed });
  say(`${parameterTable(config).total.toLocaleString("en")} parameters, ${data.train.length.toLocaleString("en")} training tokens, ` +
    `${data.val.length.toLocaleString("en")} held out; ${k.flavor} kernels`);
  await mkdir(o.out, { recursive: true });
  const bar = new ProgressBar("pretraining", o.steps);
  const state = await pretrain(model, data, {
    steps: o.steps, batchSize: o.batch, seqLen: o.seq, lr: o.lr, evalEvery: o.evalEvery, checkpointEvery: o.checkpointEvery, seed: o.seed,
    onStep: (s) => bar.update(s.step, `loss ${s.loss.toFixed(3)}  lr ${s.lr.toExponential(1)}  |g| ${s.gradNorm.toFixed(2)}  ${Math.round(s.tokensPerSecond)} tok/s`),
    onCheckpoint: (s) => saveTrainState(join(o.out, "train-state.safetensors"), config, s),
  }, resume);
  bar.done();
  for (const e of state.history.val) say(`step ${e.step}: held-out loss ${e.valLoss.toFixed(3)}, perplexity ${e.perplexity.toFixed(1)}`);
  await saveTrainState(join(o.out, "train-state.safetensors"), config, state);
  await saveModel(model, join(o.out, "model"), { tokenizer: tok, eosTokenId: eot });
  await saveModel(model, join(o.out, "model.gguf"), { format: "gguf", tokenizer: tok });
  await writeFile(join(o.out, "loss.svg"), lossChartSvg([
    { label: "train", color: "#1f77b4", points: state.history.train },
    { label: "held-out", color: "#d62728", points: state.history.val.map((v) => ({ step: v.step, loss: v.valLoss })) },
  ], { title: "pretraining loss" }));
  const sample = await generateAll(model, tok.encode(lines[0].split(" ").slice(0, 3).join(" ")), { maxTokens: 40, temperature: 0.8, topK: 40, stopIds: eot === undefined ? [] : [eot] });
  say(`sample: ${lines[0].split(" ").slice(0, 3).join(" ")}${tok.decode(sample.ids)}`);
  say(`wrote ${join(o.out, "model")} (Hugging Face), ${join(o.out, "model.gguf")}, ${join(o.out, "train-state.safetensors")} and ${join(o.out, "loss.svg")}`);
}

async function readDocuments(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    const text = await readTextFile(f);
    out.push(...text.split(/\n\s*\n/).map((d) => d.trim()).filter(Boolean));
  }
  check(out.length > 0, "BAD_ARGUMENT", "the text files are empty");
  return out;
}

function parse(args: readonly string[]) {
  const o = { text: [] as string[], tokenizer: undefined as string | undefined, vocab: 4096, preset: "micro" as PresetName, steps: 1000, batch: 8, seq: 128,
    lr: 3e-3, evalEvery: 100, checkpointEvery: 200, resume: undefined as string | undefined, seed: 0, out: "runs/pretrain" };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i], v = args[i + 1];
    switch (flag) {
      case "--text": o.text.push(v); i++; break;
      case "--tokenizer": o.tokenizer = v; i++; break;
      case "--vocab": o.vocab = positive(flag, v); i++; break;
      case "--preset":
        check(v !== undefined && v in PRESETS, "BAD_ARGUMENT", `--preset must be one of ${Object.keys(PRESETS).join(", ")}`);
        o.preset = v as PresetName; i++; break;
      case "--steps": o.steps = positive(flag, v); i++; break;
      case "--batch": o.batch = positive(flag, v); i++; break;
      case "--seq": o.seq = positive(flag, v); i++; break;
      case "--lr": o.lr = positive(flag, v, false); i++; break;
      case "--eval-every": o.evalEvery = positive(flag, v); i++; break;
      case "--checkpoint-every": o.checkpointEvery = positive(flag, v); i++; break;
      case "--resume": o.resume = v; i++; break;
      case "--seed": o.seed = Number(v); check(Number.isInteger(o.seed), "BAD_ARGUMENT", "--seed needs an integer"); i++; break;
      case "--out": o.out = v; i++; break;
      default: throw new TinyLMError("BAD_ARGUMENT", `pretrain: unknown option "${flag}"`);
    }
    check(flag === undefined || (v !== undefined && !v.startsWith("--")), "BAD_ARGUMENT", `${flag} needs a value`);
  }
  return o;
}
