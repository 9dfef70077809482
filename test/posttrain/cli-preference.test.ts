// `tinylm reward` and `tinylm dpo` on a tiny saved chat model: they read both ranking forms, train, and write files
// that load back; a malformed ranking names its file and line.
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { dpoCommand, rewardCommand } from "../../src/node/commands/preference.js";
import { loadChatModel, saveChatModel } from "../../src/node/commands/sft.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { ChatTemplate } from "../../src/posttrain/chat.js";
import { ScalarHead } from "../../src/posttrain/head.js";
import { prepareChatModel } from "../../src/posttrain/sft.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

const dir = mkdtempSync(join(tmpdir(), "tinylm-pref-"));
let out = "";

beforeAll(async () => {
  const lines = Array.from({ length: 10 }, (_, i) => `What is ${i} plus 2? ${i + 2}`);
  const base = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 280, specialTokens: ["<|endoftext|>"] }).train(lines));
  const k = await loadKernelsFromFiles("simd");
  const template = new ChatTemplate();
  const { model, tokenizer } = prepareChatModel(Llama.init(k, llamaConfig({ vocabSize: base.vocabSize, dim: 32, nLayers: 1, nHeads: 2, ffnDim: 64, contextLength: 32 })), base, template);
  await saveChatModel(model, join(dir, "chat"), tokenizer, template);
  const rows = Array.from({ length: 10 }, (_, i) => i % 2 === 0
    ? { prompt: `What is ${i} plus 2?`, responses: [`${i + 3}`, `${i + 2}`, `${i + 2} or so`], ranking: [1, 2, 0] }
    : { prompt: `What is ${i} plus 2?`, chosen: `${i + 2}`, rejected: `${i + 1}` });
  writeFileSync(join(dir, "ranks.jsonl"), rows.map((r) => JSON.stringify(r)).join("\n"));
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
});

afterAll(() => vi.restoreAllMocks());

describe("tinylm reward / dpo", () => {
  it("reward trains on both ranking forms and writes the body and a scalar head that load back", async () => {
    await rewardCommand([join(dir, "chat"), "--data", join(dir, "ranks.jsonl"), "--eval", join(dir, "ranks.jsonl"), "--steps", "5", "--batch", "2", "--out", join(dir, "rm")]);
    expect(out).toMatch(/10 training rankings \(20 pairs\), 10 held out \(20 pairs\)/);
    expect(out).toMatch(/held-out pairwise accuracy \d+\.\d%/);
    const head = ScalarHead.load(await loadKernelsFromFiles("simd"), readFileSync(join(dir, "rm", "score_head.safetensors")));
    expect(head.C).toBe(32);
    expect((await loadChatModel(join(dir, "rm"))).hasTemplate).toBe(true);
  }, 30_000);

  it("dpo writes a tuned chat model", async () => {
    out = "";
    await dpoCommand([join(dir, "chat"), "--data", join(dir, "ranks.jsonl"), "--steps", "3", "--batch", "2", "--beta", "0.2", "--out", join(dir, "dpo")]);
    expect(out).toMatch(/10 rankings \(20 pairs\)/);
    expect(existsSync(join(dir, "dpo", "tokenizer_config.json"))).toBe(true);
  }, 30_000);

  it("names the file and line of a malformed ranking, and rejects bad options", async () => {
    writeFileSync(join(dir, "bad.jsonl"), `{"prompt": "a", "chosen": "b", "rejected": "c"}\n{"prompt": "a", "responses": ["b", "c"], "ranking": [0, 0]}\n`);
    await expect(rewardCommand([join(dir, "chat"), "--data", join(dir, "bad.jsonl")])).rejects.toThrow(/bad\.jsonl: line 2: "ranking" must be a permutation/);
    await expect(dpoCommand([join(dir, "chat")])).rejects.toThrow(/--data/);
    await expect(dpoCommand([join(dir, "chat"), "--data", join(dir, "ranks.jsonl"), "--margin", "1"])).rejects.toThrow(/unknown option "--margin"/);
    await expect(rewardCommand([join(dir, "chat"), "--data", join(dir, "ranks.jsonl"), "--steps", "0"])).rejects.toThrow(/--steps needs a positive integer/);
  });
});
