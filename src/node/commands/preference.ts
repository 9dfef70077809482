import { join } from "node:path";
import { TinyLMError, check } from "../../errors.js";
import { Llama } from "../../nn/llama.js";
import { dpo } from "../../posttrain/dpo.js";
import { type RankingExample, readPreferenceJsonl } from "../../posttrain/jsonl.js";
import { RewardModel, pairwiseAccuracy, trainRewardModel } from "../../posttrain/reward.js";
import { parseTextFile, writeFileAtomic } from "../files.js";
import { loadKernelsFromFiles } from "../kernels.js";
import { ProgressBar } from "../progress.js";
import { checkChatTokens, loadChatModel, saveChatModel } from "./sft.js";

const DATA = `JSONL: {"prompt", "responses": […], "ranking": [best index, …]} or {"prompt", "chosen", "rejected"} per line`;

export const REWARD_HELP = `tinylm reward <chat model dir> --data <file> [options]   train a reward model (SFT body + scalar head) on rankings
    --data <file>             ${DATA}
    --eval <file>             held-out rankings in the same format: pairwise accuracy after training
    --steps <n>               optimizer steps (default 200)
    --batch <n>               prompts per step, each with all its C(K,2) pairs (default 8)
    --lr <x>                  body learning rate (default 1e-4; the head uses 1e-2)
    --margin <x>              required score gap in −log σ(r_better − r_worse − margin) (default 0)
    --centering <x>           λ of the reward-centering term λ(r_better + r_worse)² (default 0.01)
    --seed <n>                data order (default 0)
    --out <dir>               the body (Hugging Face layout) and score_head.safetensors (default runs/reward)`;

export const DPO_HELP = `tinylm dpo <chat model dir> --data <file> [options]   direct preference optimization of a chat model on rankings
    --data <file>             ${DATA}
    --steps <n>               optimizer steps (default 200)
    --batch <n>               prompts per step (default 8)
    --lr <x>                  learning rate (default 2e-5)
    --beta <x>                strength of the tie to the frozen reference (the input model) (default 0.1)
    --seed <n>                data order (default 0)
    --out <dir>               the tuned chat model (default runs/dpo)`;

/** `tinylm reward`: a reward model initialised from a chat model, trained on ranking JSONL. */
export async function rewardCommand(args: readonly string[]): Promise<void> {
  const o = parse("reward", args, { steps: 200, batch: 8, lr: 1e-4, margin: 0, centering: 0.01, beta: 0.1, out: "runs/reward" });
  const say = (s = "") => process.stdout.write(`${s}\n`);
  const train = await readRankings(o.data);
  const held = o.eval === undefined ? undefined : await readRankings(o.eval);
  const loaded = await loadChatModel(o.model, { kernels: await loadKernelsFromFiles() });
  checkChatTokens(o.model, loaded.tokenizer, loaded.template);
  const rm = RewardModel.fromSft(loaded.model, loaded.tokenizer, { template: loaded.template, head: { optimizer: { lr: 1e-2 } } });
  say(`${train.length} training rankings (${pairCount(train)} pairs)${held ? `, ${held.length} held out (${pairCount(held)} pairs)` : ""}`);
  const bar = new ProgressBar("reward model", o.steps);
  await trainRewardModel(rm, train, { steps: o.steps, batchSize: o.batch, lr: o.lr, margin: o.margin, centering: o.centering, seed: o.seed,
    onStep: (s) => bar.update(s.step, `loss ${s.loss.toFixed(3)}  pair accuracy ${pct(s.accuracy)}  |g| ${s.gradNorm.toFixed(2)}`) });
  bar.done();
  if (held) say(`held-out pairwise accuracy ${pct(pairwiseAccuracy(rm, held).accuracy)}`);
  await saveChatModel(rm.body, o.out, loaded.tokenizer, loaded.template);
  await writeFileAtomic(join(o.out, "score_head.safetensors"), rm.head.save());
  say(`wrote ${o.out} (the body; score_head.safetensors holds the scalar head: score.weight [1, ${rm.head.C}], score.bias [1])`);
}

/** `tinylm dpo`: a chat model tuned on ranking JSONL against a frozen copy of itself. */
export async function dpoCommand(args: readonly string[]): Promise<void> {
  const o = parse("dpo", args, { steps: 200, batch: 8, lr: 2e-5, margin: 0, centering: 0, beta: 0.1, out: "runs/dpo" });
  const say = (s = "") => process.stdout.write(`${s}\n`);
  const train = await readRankings(o.data);
  const loaded = await loadChatModel(o.model, { kernels: await loadKernelsFromFiles() });
  checkChatTokens(o.model, loaded.tokenizer, loaded.template);
  const reference = loaded.model;
  const policy = new Llama(reference.k, reference.config, reference.k.f32(reference.params.view));
  say(`${train.length} rankings (${pairCount(train)} pairs); policy and frozen reference start as ${o.model}`);
  const bar = new ProgressBar("DPO", o.steps);
  await dpo(policy, reference, loaded.tokenizer, train, { steps: o.steps, batchSize: o.batch, lr: o.lr, beta: o.beta, seed: o.seed, template: loaded.template,
    onStep: (s) => bar.update(s.step, `loss ${s.loss.toFixed(3)}  margin ${s.margin.toFixed(2)}  pair accuracy ${pct(s.accuracy)}  |g| ${s.gradNorm.toFixed(2)}`) });
  bar.done();
  await saveChatModel(policy, o.out, loaded.tokenizer, loaded.template);
  say(`wrote ${o.out}`);
}

function readRankings(file: string): Promise<RankingExample[]> {
  return parseTextFile(file, readPreferenceJsonl);
}

function pairCount(examples: readonly RankingExample[]): number {
  return examples.reduce((s, e) => s + (e.responses.length * (e.responses.length - 1)) / 2, 0);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}

interface Parsed { steps: number; batch: number; lr: number; margin: number; centering: number; beta: number; out: string }

function parse(command: "reward" | "dpo", args: readonly string[], defaults: Parsed) {
  const o = { ...defaults, model: undefined as string | undefined, data: undefined as string | undefined, eval: undefined as string | undefined, seed: 0 };
  const num = (flag: string, v: string, kind: "integer" | "positive" | "non-negative"): number => {
    const x = Number(v);
    const ok = Number.isFinite(x) && (kind === "non-negative" ? x >= 0 : x > 0) && (kind !== "integer" || Number.isInteger(x));
    check(ok, "BAD_ARGUMENT", `${flag} needs a ${kind === "integer" ? "positive integer" : `${kind} number`}, got ${v}`);
    return x;
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i], v = args[i + 1];
    if (!flag.startsWith("--")) {
      check(o.model === undefined, "BAD_ARGUMENT", `${command}: unexpected argument "${flag}" (the model directory is ${o.model})`);
      o.model = flag;
      continue;
    }
    check(v !== undefined && !v.startsWith("--"), "BAD_ARGUMENT", `${flag} needs a value`);
    const rewardOnly = flag === "--eval" || flag === "--margin" || flag === "--centering";
    check(!(rewardOnly && command === "dpo") && !(flag === "--beta" && command === "reward"), "BAD_ARGUMENT", `${command}: unknown option "${flag}"`);
    switch (flag) {
      case "--data": o.data = v; break;
      case "--eval": o.eval = v; break;
      case "--steps": o.steps = num(flag, v, "integer"); break;
      case "--batch": o.batch = num(flag, v, "integer"); break;
      case "--lr": o.lr = num(flag, v, "positive"); break;
      case "--margin": o.margin = Number(v); check(Number.isFinite(o.margin), "BAD_ARGUMENT", "--margin needs a number"); break;
      case "--centering": o.centering = num(flag, v, "non-negative"); break;
      case "--beta": o.beta = num(flag, v, "positive"); break;
      case "--seed": o.seed = Number(v); check(Number.isInteger(o.seed), "BAD_ARGUMENT", "--seed needs an integer"); break;
      case "--out": o.out = v; break;
      default: throw new TinyLMError("BAD_ARGUMENT", `${command}: unknown option "${flag}"`);
    }
    i++;
  }
  check(o.model !== undefined, "BAD_ARGUMENT", `${command}: give the chat model's directory (e.g. runs/sft)`);
  check(o.data !== undefined, "BAD_ARGUMENT", `${command}: --data <file.jsonl> is required`);
  return { ...o, model: o.model, data: o.data };
}
