import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { TinyLMError, check } from "../../errors.js";
import { chatTemplateFromTokenizerConfig, tokenizerConfigFile } from "../../io/tokenizer-config.js";
import type { Kernels } from "../../kernels/module.js";
import type { LlamaConfig } from "../../nn/config.js";
import type { Llama } from "../../nn/llama.js";
import { ChatTemplate, END_OF_TURN, type ChatExample } from "../../posttrain/chat.js";
import { readSftJsonl } from "../../posttrain/jsonl.js";
import { type EvalItem, type SftState, exactMatch, prepareChatModel, sft } from "../../posttrain/sft.js";
import type { Tokenizer } from "../../tokenizer/tokenizer.js";
import { loadModel, loadSftState, saveModel, saveSftState } from "../checkpoint.js";
import { parseTextFile, writeFileAtomic } from "../files.js";
import { loadKernelsFromFiles } from "../kernels.js";
import { ProgressBar } from "../progress.js";
import { positive } from "./args.js";

export const SFT_HELP = `tinylm sft <model dir> --data <file> [options]   fine-tune a model on question → answer pairs (loss on the answers only)
    --data <file>             JSONL: {"prompt", "completion"} or {"messages": [{"role", "content"}, …]} per line
    --eval <file>             held-out JSONL in the same format: exact-match accuracy of greedy answers, before and after
    --steps <n>               optimizer steps (default 500)
    --batch <n>               conversations per step (default 16)
    --lr <x>                  peak learning rate (default 1e-3)
    --pack                    pack several conversations into each sequence instead of padding
    --eval-every <n>          evaluate every n steps (default: only at the end)
    --seed <n>                data order (default 0)
    --checkpoint-every <n>    write <out>/sft-state.safetensors every n steps and at the end (default: never)
    --resume <file>           continue from an sft-state file, exactly as if never stopped (same model, data and options;
                              a larger --steps trains further)
    --out <dir>               the fine-tuned model, Hugging Face layout with tokenizer_config.json's chat_template (default runs/sft)`;

/**
 * Saves a chat model as a Hugging Face directory: the model files and tokenizer.json (saveModel), plus
 * tokenizer_config.json with the chat template and <|end|> as the end-of-sequence token, so generation — here or in
 * transformers — renders prompts and stops exactly as fine-tuning did.
 */
export async function saveChatModel(model: Llama, dir: string, tok: Tokenizer, template: ChatTemplate): Promise<void> {
  const end = tok.tokenToId(END_OF_TURN);
  await saveModel(model, dir, { tokenizer: tok, eosTokenId: end });
  await writeFileAtomic(join(dir, "tokenizer_config.json"), tokenizerConfigFile(tok, {
    chatTemplate: template.source, eosToken: end === undefined ? undefined : END_OF_TURN, modelMaxLength: model.config.contextLength,
  }));
}

/** A model directory with its tokenizer and chat template (the default template when the directory has none). */
export async function loadChatModel(dir: string, options: { kernels?: Kernels } = {}): Promise<{ model: Llama; tokenizer: Tokenizer; template: ChatTemplate; hasTemplate: boolean }> {
  const { model, tokenizer } = await loadModel(dir, options);
  check(tokenizer !== undefined, "BAD_FILE", `${dir} has no tokenizer (tokenizer.json or an embedded GGUF vocabulary)`);
  const config = await readFile(join(dir, "tokenizer_config.json"), "utf8").catch(() => undefined);
  const source = config === undefined ? undefined : chatTemplateFromTokenizerConfig(config);
  return { model, tokenizer, template: new ChatTemplate(source), hasTemplate: source !== undefined };
}

/**
 * Checks that a loaded model's tokenizer has every marker of its chat template as one token, as a model \`tinylm sft\`
 * wrote does. A base model's tokenizer would spell the markers out as plain text: longer rows, and no end token to stop at.
 */
export function checkChatTokens(dir: string, tokenizer: Tokenizer, template: ChatTemplate): void {
  const missing = template.specialTokens().filter((t) => tokenizer.tokenToId(t) === undefined);
  check(missing.length === 0, "BAD_FILE", `${dir}'s tokenizer has no ${missing.join(" ")} token${missing.length > 1 ? "s" : ""}: give a chat model (what \`tinylm sft\` writes)`);
}

/** Held-out items from SFT examples: everything before the last assistant message is the prompt, it is the answer. */
export function evalItems(examples: readonly ChatExample[]): EvalItem[] {
  return examples.map((ex) => {
    const last = ex.messages.map((m) => m.role).lastIndexOf("assistant");
    return { prompt: ex.messages.slice(0, last), answer: ex.messages[last].content };
  });
}

/** `tinylm sft`: fine-tunes a saved model on JSONL conversations and writes the chat model. */
export async function sftCommand(args: readonly string[]): Promise<void> {
  const o = parse(args);
  const say = (s = "") => process.stdout.write(`${s}\n`);
  const readJsonl = (file: string) => parseTextFile(file, readSftJsonl);
  const train = await readJsonl(o.data);
  const held = o.eval === undefined ? undefined : evalItems(await readJsonl(o.eval));
  const k = await loadKernelsFromFiles();
  const loaded = await loadChatModel(o.model, { kernels: k });
  const { model, tokenizer, added } = prepareChatModel(loaded.model, loaded.tokenizer, loaded.template);
  say(`${train.length} training conversations${held ? `, ${held.length} held out` : ""}; ` +
    (added > 0 ? `added ${added} special tokens (${loaded.template.specialTokens().join(" ")}), vocabulary ${model.config.vocabSize}` : "the chat tokens are already in the vocabulary"));
  let resume: SftState | undefined;
  if (o.resume) {
    const saved = await loadSftState(o.resume);
    const differs = (Object.keys(model.config) as (keyof LlamaConfig)[]).find((key) => saved.config[key] !== model.config[key]);
    check(differs === undefined, "BAD_ARGUMENT",
      () => `${o.resume} was saved from another model: its ${differs} is ${saved.config[differs!]}, ${o.model} with the chat tokens has ${model.config[differs!]}`);
    resume = saved.state;
    say(`resuming at step ${resume.step} from ${o.resume}`);
  } else if (held) say(`before: held-out exact match ${pct((await exactMatch(model, tokenizer, held, { template: loaded.template })).accuracy)}`);
  const statePath = join(o.out, "sft-state.safetensors");
  if (o.checkpointEvery > 0) await mkdir(o.out, { recursive: true });
  const bar = new ProgressBar("fine-tuning", o.steps);
  const result = await sft(model, tokenizer, train, {
    steps: o.steps, batchSize: o.batch, lr: o.lr, pack: o.pack, seed: o.seed, template: loaded.template, eval: held, evalEvery: o.evalEvery,
    checkpointEvery: o.checkpointEvery, onCheckpoint: (s) => saveSftState(statePath, model.config, s),
    onStep: (s) => bar.update(s.step, `loss ${s.loss.toFixed(3)}  token acc ${pct(s.tokenAccuracy)}  lr ${s.lr.toExponential(1)}  |g| ${s.gradNorm.toFixed(2)}  ${s.tokensSeen} answer tokens`),
  }, resume);
  bar.done();
  // The last step's state, unless onCheckpoint just wrote it: resuming from it with a larger --steps trains further.
  if (o.checkpointEvery > 0 && result.state.step % o.checkpointEvery !== 0) await saveSftState(statePath, model.config, result.state);
  for (const e of result.eval) say(`step ${e.step}: held-out exact match ${pct(e.exactMatch)}`);
  const lastEval = result.eval[result.eval.length - 1];
  for (const s of lastEval?.samples.slice(0, 5) ?? []) say(`  ${s.correct ? "✓" : "✗"} ${s.prompt} → ${JSON.stringify(s.output)} (expected ${JSON.stringify(s.answer)})`);
  await saveChatModel(model, o.out, tokenizer, loaded.template);
  say(`wrote ${o.out} (Hugging Face layout; tokenizer_config.json holds the chat template)${o.checkpointEvery > 0 ? ` and ${statePath}` : ""}`);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

function parse(args: readonly string[]) {
  const o = { model: undefined as string | undefined, data: undefined as string | undefined, eval: undefined as string | undefined, steps: 500, batch: 16, lr: 1e-3,
    pack: false, evalEvery: 0, seed: 0, checkpointEvery: 0, resume: undefined as string | undefined, out: "runs/sft" };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i], v = args[i + 1];
    if (!flag.startsWith("--")) {
      check(o.model === undefined, "BAD_ARGUMENT", `sft: unexpected argument "${flag}" (the model directory is ${o.model})`);
      o.model = flag;
      continue;
    }
    if (flag === "--pack") { o.pack = true; continue; }
    check(v !== undefined && !v.startsWith("--"), "BAD_ARGUMENT", `${flag} needs a value`);
    switch (flag) {
      case "--data": o.data = v; break;
      case "--eval": o.eval = v; break;
      case "--steps": o.steps = positive(flag, v); break;
      case "--batch": o.batch = positive(flag, v); break;
      case "--lr": o.lr = positive(flag, v, false); break;
      case "--eval-every": o.evalEvery = positive(flag, v); break;
      case "--seed": o.seed = Number(v); check(Number.isInteger(o.seed), "BAD_ARGUMENT", "--seed needs an integer"); break;
      case "--checkpoint-every": o.checkpointEvery = positive(flag, v); break;
      case "--resume": o.resume = v; break;
      case "--out": o.out = v; break;
      default: throw new TinyLMError("BAD_ARGUMENT", `sft: unknown option "${flag}"`);
    }
    i++;
  }
  check(o.model !== undefined, "BAD_ARGUMENT", "sft: give the base model's directory (e.g. runs/pretrain/model)");
  check(o.data !== undefined, "BAD_ARGUMENT", "sft: --data <file.jsonl> is required");
  return { ...o, model: o.model, data: o.data };
}
