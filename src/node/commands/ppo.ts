import { join } from "node:path";
import { TinyLMError, check } from "../../errors.js";
import { type ChatMessage, END_OF_TURN, checkMessages } from "../../posttrain/chat.js";
import { ScalarHead } from "../../posttrain/head.js";
import { parseJsonl } from "../../posttrain/jsonl.js";
import { ppo } from "../../posttrain/ppo.js";
import { RewardModel } from "../../posttrain/reward.js";
import { parseTextFile, readFileBytes } from "../files.js";
import { loadKernelsFromFiles } from "../kernels.js";
import { ProgressBar } from "../progress.js";
import { checkChatTokens, loadChatModel, saveChatModel } from "./sft.js";
import { positive } from "./args.js";

export const PPO_HELP = `tinylm ppo <chat model dir> --reward <dir> --prompts <file> [options]   PPO of a chat model against a reward model
    --reward <dir>            what \`tinylm reward\` wrote: the body and score_head.safetensors
    --prompts <file>          JSONL: {"prompt": "…"} or {"messages": [{role, content}, …]} per line (answered by the policy)
    --steps <n>               rollout batches, each followed by 4 epochs of minibatch updates (default 100)
    --batch <n>               responses sampled per rollout batch (default 32)
    --lr <x>                  learning rate of the policy (default 3e-5; the value head uses 1e-2)
    --kl <x>                  KL coefficient β of the per-token penalty to the input model (default 0.1, fixed)
    --target-kl <x>           make β adaptive (Ziegler et al.), starting at --kl: target KL per response in nats (default: off)
    --max-new <n>             most tokens per response (default 16)
    --seed <n>                prompt choice and sampling (default 0)
    --out <dir>               the tuned chat model (default runs/ppo)`;

/** `tinylm ppo`: a chat model tuned by PPO on prompts, rewarded by a reward model, held near a frozen copy of itself. */
export async function ppoCommand(args: readonly string[]): Promise<void> {
  const o = parse(args);
  const say = (s = "") => process.stdout.write(`${s}\n`);
  const conversations = await parseTextFile(o.prompts, readPromptsJsonl);
  const k = await loadKernelsFromFiles();
  const { model: policy, tokenizer: tok, template } = await loadChatModel(o.model, { kernels: k });
  const rmLoaded = await loadChatModel(o.reward, { kernels: k });
  const rm = new RewardModel(rmLoaded.model, ScalarHead.load(k, await readFileBytes(join(o.reward, "score_head.safetensors"))), rmLoaded.tokenizer, rmLoaded.template);
  checkChatTokens(o.model, tok, template);
  checkChatTokens(o.reward, rm.tokenizer, rm.template);
  const endId = tok.tokenToId(END_OF_TURN);
  check(endId !== undefined, "BAD_FILE", `${o.model}'s chat template has no ${END_OF_TURN} marker to end an answer with`);
  const rmContext = rm.body.config.contextLength;
  const byKey = new Map<string, ChatMessage[]>();
  const prompts = conversations.map((messages, i) => {
    const ids = template.encode(tok, messages, { addGenerationPrompt: true }).ids;
    check(ids.length < policy.config.contextLength, "BAD_FILE", `${o.prompts}: prompt ${i + 1} is ${ids.length} tokens, leaving no room in the context of ${policy.config.contextLength}`);
    const judged = rm.template.encode(rm.tokenizer, messages, { addGenerationPrompt: true }).ids.length;
    check(judged < rmContext, "BAD_FILE", `${o.prompts}: prompt ${i + 1} is ${judged} tokens for the reward model, leaving no room in its context of ${rmContext}`);
    byKey.set(ids.join(","), messages);
    return ids;
  });
  const reward = (prompt: readonly number[], response: readonly number[]): number => {
    const messages = [...byKey.get(prompt.join(","))!, { role: "assistant" as const, content: tok.decode(Array.from(response)) }];
    // The row can outgrow the reward model's context: the end marker is added even to a response the policy's context
    // cut off, and decoded text may re-encode into more tokens (a sampled marker comes back as plain text). It then
    // scores what fits; a cut-off response also pays the missing-end penalty.
    const { ids, train } = rm.template.encode(rm.tokenizer, messages);
    return rm.scoreItem({ rows: [{ ids: ids.slice(0, rmContext), train: train.slice(0, rmContext) }], pairs: [] })[0];
  };
  say(`${prompts.length} prompts; policy and frozen reference start as ${o.model}, reward from ${o.reward}; ` +
    (o.targetKl === undefined ? `β ${o.kl} fixed` : `β starts at ${o.kl}, adapted toward a KL of ${o.targetKl} per response`));
  const head = new ScalarHead(k, policy.config.dim, { optimizer: { lr: 1e-2 } });
  const bar = new ProgressBar("PPO", o.steps);
  await ppo(policy, head, prompts, reward, {
    steps: o.steps, batchSize: o.batch, maxNewTokens: o.maxNew, endId, missingEndPenalty: 1, lr: o.lr, klCoef: o.kl, targetKl: o.targetKl, seed: o.seed,
    onStep: (s) => bar.update(s.step, `reward ${s.reward.toFixed(3)}  KL ${s.kl.toFixed(2)}  β ${s.klCoef.toFixed(3)}  clip ${(100 * s.clipFrac).toFixed(1)}%  entropy ${s.entropy.toFixed(2)}  length ${s.responseLength.toFixed(1)}`),
  });
  bar.done();
  await saveChatModel(policy, o.out, tok, template);
  say(`wrote ${o.out}`);
}

/** Prompts from `{prompt}` or `{messages}` lines; a final assistant message, if any, is dropped (the policy writes it). */
export function readPromptsJsonl(text: string): ChatMessage[][] {
  const out: ChatMessage[][] = [];
  for (const { line, value } of parseJsonl(text)) {
    const where = `line ${line}`;
    let messages: ChatMessage[];
    if (value.messages !== undefined) messages = checkMessages(value.messages, where);
    else {
      check(typeof value.prompt === "string" && value.prompt.trim() !== "", "BAD_FILE", `${where}: needs a non-empty "prompt" string or a "messages" array`);
      messages = [{ role: "user", content: value.prompt }];
    }
    if (messages[messages.length - 1].role === "assistant") messages = messages.slice(0, -1);
    check(messages.length > 0, "BAD_FILE", `${where}: no prompt before the assistant's answer`);
    out.push(messages);
  }
  check(out.length > 0, "BAD_FILE", "no prompts (the file is empty)");
  return out;
}

function parse(args: readonly string[]) {
  const o = { model: undefined as string | undefined, reward: undefined as string | undefined, prompts: undefined as string | undefined,
    steps: 100, batch: 32, lr: 3e-5, kl: 0.1, targetKl: undefined as number | undefined, maxNew: 16, seed: 0, out: "runs/ppo" };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i], v = args[i + 1];
    if (!flag.startsWith("--")) {
      check(o.model === undefined, "BAD_ARGUMENT", `ppo: unexpected argument "${flag}" (the model directory is ${o.model})`);
      o.model = flag;
      continue;
    }
    check(v !== undefined && !v.startsWith("--"), "BAD_ARGUMENT", `${flag} needs a value`);
    switch (flag) {
      case "--reward": o.reward = v; break;
      case "--prompts": o.prompts = v; break;
      case "--steps": o.steps = positive(flag, v, true); break;
      case "--batch": o.batch = positive(flag, v, true); break;
      case "--lr": o.lr = positive(flag, v, false); break;
      case "--kl": o.kl = positive(flag, v, false); break;
      case "--target-kl": o.targetKl = positive(flag, v, false); break;
      case "--max-new": o.maxNew = positive(flag, v, true); break;
      case "--seed": o.seed = Number(v); check(Number.isInteger(o.seed) && o.seed >= 0, "BAD_ARGUMENT", "--seed needs a non-negative integer"); break;
      case "--out": o.out = v; break;
      default: throw new TinyLMError("BAD_ARGUMENT", `ppo: unknown option "${flag}"`);
    }
    i++;
  }
  check(o.model !== undefined, "BAD_ARGUMENT", "ppo: give the chat model's directory (e.g. runs/sft)");
  check(o.reward !== undefined, "BAD_ARGUMENT", "ppo: --reward <dir> (what `tinylm reward` wrote) is required");
  check(o.prompts !== undefined, "BAD_ARGUMENT", "ppo: --prompts <file.jsonl> is required");
  return { ...o, model: o.model, reward: o.reward, prompts: o.prompts };
}
