// The post-training commands end to end, through the built command line on a tiny model: `tinylm sft` on a saved base
// model, then `tinylm reward` and `tinylm dpo` from the SFT model, then `tinylm ppo` against that reward model. Each
// must exit 0, print the metrics its help promises, and write a directory that loads back with parameters that moved
// and stayed finite. Then one bad input per command, which must exit 1 with a sentence naming the problem.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import type { Kernels } from "../../src/kernels/module.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadModel, loadSftState, saveModel, saveSftState } from "../../src/node/checkpoint.js";
import { loadChatModel } from "../../src/node/commands/sft.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { arithmeticSplits } from "../../src/posttrain/arithmetic.js";
import { ScalarHead } from "../../src/posttrain/head.js";
import { rankingsToJsonl, scriptedRanking } from "../../src/posttrain/preference.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), "tinylm-posttrain-"));
const at = (name: string) => join(dir, name);
const CONTEXT = 32;
let k: Kernels;

async function tinylm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["dist/src/node/cli.js", ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

// Exit 0 and nothing on stderr; on failure the message shows what the command said.
function succeeded(r: { code: number; stdout: string; stderr: string }): string {
  expect(r.stderr, r.stdout).toBe("");
  expect(r.code).toBe(0);
  return r.stdout;
}

/** Per tensor of `after` that `before` also has (same name and size): the largest change; and whether all of `after` is finite. */
function compare(before: Llama, after: Llama): { moved: Map<string, number>; finite: boolean } {
  const moved = new Map<string, number>();
  for (const t of after.tensors) {
    const u = before.tensors.find((x) => x.name === t.name);
    if (u === undefined || u.size !== t.size) continue;
    const a = before.params.view.subarray(u.offset, u.offset + u.size), b = after.params.view.subarray(t.offset, t.offset + t.size);
    let max = 0;
    for (let i = 0; i < b.length; i++) max = Math.max(max, Math.abs(b[i] - a[i]));
    moved.set(t.name, max);
  }
  return { moved, finite: after.params.view.every(Number.isFinite) };
}

// Training happened: every transformer-block tensor changed (each gets a gradient and AdamW moves it), and nothing is NaN.
function expectTrained(before: Llama, after: Llama): void {
  const { moved, finite } = compare(before, after);
  const blocks = [...moved].filter(([name]) => name.startsWith("model.layers."));
  expect(blocks.length).toBe(2 * 9); // per layer: 2 norms, q k v o, gate up down
  for (const [name, max] of blocks) expect(max, name).toBeGreaterThan(0);
  expect(finite).toBe(true);
}

beforeAll(async () => {
  k = await loadKernelsFromFiles("simd");
  const { train, heldOut } = arithmeticSplits({ seed: 3, maxOperand: 9, ops: ["plus"], train: 40, heldOut: 10, wordsFraction: 0 });
  const tok = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train([...train, ...heldOut].map((p) => `${p.prompt} ${p.answer}`)));
  const config = llamaConfig({ vocabSize: tok.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 176, contextLength: CONTEXT });
  await saveModel(Llama.init(k, config, { seed: 1 }), at("base"), { tokenizer: tok });
  const lines = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";
  writeFileSync(at("sft.jsonl"), lines(train.map((p) => ({ prompt: p.prompt, completion: p.answer }))));
  writeFileSync(at("eval.jsonl"), lines(heldOut.map((p) => ({ prompt: p.prompt, completion: p.answer }))));
  // The scripted labeler ranks the right answer, a near miss, a far miss and a word: right, near, far, word.
  const ranked = train.slice(0, 16).map((p) => scriptedRanking(p.prompt, p.answer, [String(+p.answer + 7), p.answer, "seven", String(+p.answer + 1)])!);
  writeFileSync(at("ranks.jsonl"), rankingsToJsonl(ranked));
  writeFileSync(at("prompts.jsonl"), lines(heldOut.map((p) => ({ prompt: p.prompt }))));
}, 30_000);

describe("tinylm sft → reward → dpo → ppo on a tiny model", () => {
  it("sft fine-tunes the base model into a chat model", async () => {
    const out = succeeded(await tinylm("sft", at("base"), "--data", at("sft.jsonl"), "--eval", at("eval.jsonl"), "--steps", "12", "--batch", "8", "--lr", "3e-3", "--out", at("sft")));
    expect(out).toContain("40 training conversations, 10 held out; added 4 special tokens");
    expect(out).toMatch(/before: held-out exact match \d+\.\d%/);
    // The final progress line keeps the last step's metrics.
    expect(out).toMatch(/fine-tuning \[#{24}\] 12\/12 100% .*loss \d+\.\d{3}  token acc \d+\.\d%  lr \S+  \|g\| \d+\.\d{2}  \d+ answer tokens/);
    expect(out).toMatch(/step 12: held-out exact match \d+\.\d%/);
    expect(out).toContain(`wrote ${at("sft")}`);
    const base = await loadModel(at("base"), { kernels: k });
    const chat = await loadChatModel(at("sft"), { kernels: k });
    expect(chat.hasTemplate).toBe(true);
    expect(chat.model.config.vocabSize).toBe(base.model.config.vocabSize + 4);
    expect(chat.tokenizer.tokenToId("<|end|>")).toBeDefined();
    expectTrained(base.model, chat.model);
  }, 20_000);

  it("sft --checkpoint-every writes its state; --resume continues from it at the next step; a state of other data or model is refused", async () => {
    const common = ["sft", at("base"), "--data", at("sft.jsonl"), "--eval", at("eval.jsonl"), "--batch", "8", "--lr", "3e-3", "--checkpoint-every", "2"];
    const state = (run: string) => at(`${run}/sft-state.safetensors`);
    const first = succeeded(await tinylm(...common, "--steps", "4", "--out", at("sft-a")));
    expect(first).toContain(`wrote ${at("sft-a")} (Hugging Face layout; tokenizer_config.json holds the chat template) and ${state("sft-a")}`);
    const stopped = await loadSftState(state("sft-a"));
    expect(stopped.state.step).toBe(4);

    const resumed = succeeded(await tinylm(...common, "--steps", "7", "--resume", state("sft-a"), "--out", at("sft-b")));
    expect(resumed).toContain(`resuming at step 4 from ${state("sft-a")}`);
    expect(resumed).not.toContain("before: held-out exact match");
    // Without a terminal the bar prints a line per quarter of the work: the first one is step 5's, none before it.
    const bar = [...resumed.matchAll(/fine-tuning \[[#.]{24}\] (\d+)\/7/g)].map((m) => Number(m[1]));
    expect(bar[0]).toBe(5);
    expect(bar[bar.length - 1]).toBe(7);
    expect(resumed).toMatch(/step 4: held-out exact match \d+\.\d%\nstep 7: held-out exact match \d+\.\d%/);
    const ended = await loadSftState(state("sft-b"));
    expect(ended.state.step).toBe(7); // the last step's state, though 7 is not a multiple of 2
    expect(ended.state.history.train.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(ended.state.history.train.slice(0, 4)).toEqual(stopped.state.history.train);
    expect(ended.state.tokensSeen).toBeGreaterThan(stopped.state.tokensSeen);

    // Other data; a pretraining-style file; the same parameter count under another config.
    const otherData = await tinylm("sft", at("base"), "--data", at("eval.jsonl"), "--steps", "6", "--resume", state("sft-a"), "--out", at("never"));
    expect(otherData.code).toBe(1);
    expect(otherData.stderr).toContain("sft: the state was saved for 40 training sequences, these examples give 10");
    const notState = await tinylm(...common, "--steps", "6", "--resume", at("base/model.safetensors"), "--out", at("never"));
    expect(notState.code).toBe(1);
    expect(notState.stderr).toContain(`${at("base/model.safetensors")}: not a tinylm training state`);
    await saveSftState(at("rope.safetensors"), { ...stopped.config, ropeTheta: 500 }, stopped.state);
    const otherModel = await tinylm(...common, "--steps", "6", "--resume", at("rope.safetensors"), "--out", at("never"));
    expect(otherModel.code).toBe(1);
    expect(otherModel.stderr).toContain(`${at("rope.safetensors")} was saved from another model: its ropeTheta is 500, ${at("base")} with the chat tokens has 10000`);
    for (const r of [otherData, notState, otherModel]) expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 30_000);

  it("reward trains a scalar head on the SFT body and writes both", async () => {
    const out = succeeded(await tinylm("reward", at("sft"), "--data", at("ranks.jsonl"), "--eval", at("ranks.jsonl"), "--steps", "6", "--batch", "4", "--lr", "1e-3", "--out", at("rm")));
    expect(out).toContain("16 training rankings (96 pairs), 16 held out (96 pairs)");
    expect(out).toMatch(/reward model \[#{24}\] 6\/6 100% .*loss \d+\.\d{3}  pair accuracy \d+\.\d%  \|g\| \d+\.\d{2}/);
    expect(out).toMatch(/held-out pairwise accuracy \d+\.\d%/);
    const sft = await loadChatModel(at("sft"), { kernels: k });
    const body = await loadChatModel(at("rm"), { kernels: k });
    expect(body.hasTemplate).toBe(true);
    expectTrained(sft.model, body.model);
    const head = ScalarHead.load(k, readFileSync(at("rm/score_head.safetensors")));
    expect(head.C).toBe(64);
    // The head starts at zero; training moved it.
    expect(head.params.view.every(Number.isFinite)).toBe(true);
    expect(head.params.view.some((w) => w !== 0)).toBe(true);
  }, 20_000);

  it("dpo tunes the SFT model against a frozen copy of itself", async () => {
    const out = succeeded(await tinylm("dpo", at("sft"), "--data", at("ranks.jsonl"), "--steps", "4", "--batch", "4", "--lr", "1e-4", "--out", at("dpo")));
    expect(out).toContain("16 rankings (96 pairs)");
    expect(out).toMatch(/DPO \[#{24}\] 4\/4 100% .*loss \d+\.\d{3}  margin -?\d+\.\d{2}  pair accuracy \d+\.\d%  \|g\| \d+\.\d{2}/);
    const sft = await loadChatModel(at("sft"), { kernels: k });
    const tuned = await loadChatModel(at("dpo"), { kernels: k });
    expect(tuned.hasTemplate).toBe(true);
    expectTrained(sft.model, tuned.model);
  }, 20_000);

  it("ppo tunes the SFT model against the reward model, with a fixed β by default and an adaptive one on request", async () => {
    const out = succeeded(await tinylm("ppo", at("sft"), "--reward", at("rm"), "--prompts", at("prompts.jsonl"), "--steps", "2", "--batch", "8", "--out", at("ppo")));
    expect(out).toContain(`10 prompts; policy and frozen reference start as ${at("sft")}, reward from ${at("rm")}; β 0.1 fixed`);
    expect(out).toMatch(/PPO \[#{24}\] 2\/2 100% .*reward -?\d+\.\d{3}  KL -?\d+\.\d{2}  β 0\.100  clip \d+\.\d%  entropy \d+\.\d{2}  length \d+\.\d/);
    const sft = await loadChatModel(at("sft"), { kernels: k });
    const tuned = await loadChatModel(at("ppo"), { kernels: k });
    expect(tuned.hasTemplate).toBe(true);
    expectTrained(sft.model, tuned.model);

    // A prompt one token short of the context: the reward model's row (prompt, answer, end marker) is longer than its
    // context, which used to stop PPO with "forward: T = 33 exceeds the context length 32".
    let words = "What is 1 plus 1";
    const length = (w: string) => sft.template.encode(sft.tokenizer, [{ role: "user", content: `${w}?` }], { addGenerationPrompt: true }).ids.length;
    while (length(`${words} plus 1`) < CONTEXT) words += " plus 1";
    expect(length(words)).toBe(CONTEXT - 1);
    writeFileSync(at("long.jsonl"), JSON.stringify({ prompt: `${words}?` }) + "\n");
    const adaptive = succeeded(await tinylm("ppo", at("dpo"), "--reward", at("rm"), "--prompts", at("long.jsonl"), "--steps", "1", "--batch", "4", "--target-kl", "0.5", "--out", at("ppo-long")));
    expect(adaptive).toContain("β starts at 0.1, adapted toward a KL of 0.5 per response");
    expect(adaptive).toContain(`wrote ${at("ppo-long")}`);
  }, 30_000);

  it("one bad input per command: exit 1 and a sentence naming the problem", async () => {
    const long = "What is 1 plus 1".padEnd(300, " plus 1") + "?";
    writeFileSync(at("long-sft.jsonl"), `{"prompt": "What is 1 plus 1?", "completion": "2"}\n${JSON.stringify({ prompt: "What is 1 plus 1?", completion: long })}\n`);
    writeFileSync(at("long-ranks.jsonl"), JSON.stringify({ prompt: "What is 1 plus 1?", responses: ["2", long], ranking: [0, 1] }) + "\n");
    const [sft, reward, dpo, ppo] = await Promise.all([
      tinylm("sft", at("base"), "--data", at("long-sft.jsonl"), "--steps", "1", "--out", at("never")),
      tinylm("reward", at("base"), "--data", at("ranks.jsonl"), "--steps", "1", "--out", at("never")),
      tinylm("dpo", at("sft"), "--data", at("long-ranks.jsonl"), "--steps", "1", "--out", at("never")),
      tinylm("ppo", at("sft"), "--reward", at("sft"), "--prompts", at("prompts.jsonl"), "--steps", "1", "--out", at("never")),
    ]);
    for (const r of [sft, reward, dpo, ppo]) expect(r.code, r.stderr).toBe(1);
    expect(sft.stderr).toMatch(/line 2: the conversation is \d+ tokens; the model's context holds 32/);
    expect(reward.stderr).toContain(`${at("base")}'s tokenizer has no <|system|> <|end|> <|user|> <|assistant|> tokens: give a chat model`);
    expect(dpo.stderr).toMatch(/line 1: the prompt with responses\[1\] is \d+ tokens, longer than the model's context of 32/);
    expect(ppo.stderr).toContain(`cannot read ${at("sft/score_head.safetensors")}`);
    for (const r of [sft, reward, dpo, ppo]) expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  }, 30_000);
});
