// `tinylm sft` on a tiny saved model: it reads JSONL, fine-tunes, and writes a checkpoint whose tokenizer_config.json
// carries the chat template, which loadChatModel reads back.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { saveModel } from "../../src/node/checkpoint.js";
import { loadChatModel, sftCommand } from "../../src/node/commands/sft.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { arithmeticSplits } from "../../src/posttrain/arithmetic.js";
import { DEFAULT_CHAT_TEMPLATE } from "../../src/posttrain/chat.js";
import { chatTemplateFromTokenizerConfig } from "../../src/io/tokenizer-config.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

const dir = mkdtempSync(join(tmpdir(), "tinylm-sft-"));
let out = "";

beforeAll(async () => {
  const { train, heldOut } = arithmeticSplits({ seed: 2, maxOperand: 9, ops: ["plus"], train: 60, heldOut: 10, wordsFraction: 0 });
  const tok = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 290, specialTokens: ["<|endoftext|>"] }).train(train.map((p) => `${p.prompt} ${p.answer}`)));
  const k = await loadKernelsFromFiles("simd");
  await saveModel(Llama.init(k, llamaConfig({ vocabSize: tok.vocabSize, dim: 32, nLayers: 1, nHeads: 2, ffnDim: 64, contextLength: 32 })), join(dir, "base"), { tokenizer: tok });
  writeFileSync(join(dir, "train.jsonl"), train.map((p) => JSON.stringify({ prompt: p.prompt, completion: p.answer })).join("\n"));
  writeFileSync(join(dir, "eval.jsonl"), heldOut.map((p) => JSON.stringify({ messages: [{ role: "user", content: p.prompt }, { role: "assistant", content: p.answer }] })).join("\n"));
  vi.spyOn(process.stdout, "write").mockImplementation((s) => ((out += String(s)), true));
});

afterAll(() => vi.restoreAllMocks());

describe("tinylm sft", () => {
  it("fine-tunes a saved model and writes a chat checkpoint that loads back with its template", async () => {
    await sftCommand([join(dir, "base"), "--data", join(dir, "train.jsonl"), "--eval", join(dir, "eval.jsonl"), "--steps", "20", "--batch", "4", "--out", join(dir, "chat")]);
    expect(out).toMatch(/60 training conversations, 10 held out; added 4 special tokens/);
    expect(out).toMatch(/before: held-out exact match \d+\.\d%/);
    expect(out).toMatch(/step 20: held-out exact match \d+\.\d%/);
    const config = readFileSync(join(dir, "chat", "tokenizer_config.json"));
    expect(chatTemplateFromTokenizerConfig(config)).toBe(DEFAULT_CHAT_TEMPLATE);
    expect(JSON.parse(config.toString()).eos_token).toBe("<|end|>");
    const loaded = await loadChatModel(join(dir, "chat"));
    expect(loaded.hasTemplate).toBe(true);
    expect(loaded.model.config.vocabSize).toBe(loaded.tokenizer.vocabSize);
    expect(loaded.tokenizer.tokenToId("<|end|>")).toBeDefined();
    expect(JSON.parse(readFileSync(join(dir, "chat", "generation_config.json"), "utf8")).eos_token_id).toBe(loaded.tokenizer.tokenToId("<|end|>"));
    // Fine-tuning a chat model again adds nothing.
    out = "";
    await sftCommand([join(dir, "chat"), "--data", join(dir, "train.jsonl"), "--steps", "2", "--batch", "2", "--out", join(dir, "chat2")]);
    expect(out).toContain("the chat tokens are already in the vocabulary");
  }, 30_000);

  it("names the file and line of a malformed record, and rejects bad options", async () => {
    writeFileSync(join(dir, "bad.jsonl"), `{"prompt": "a", "completion": "b"}\n{"prompt": "a", "answer": "b"}\n`);
    await expect(sftCommand([join(dir, "base"), "--data", join(dir, "bad.jsonl")])).rejects.toThrow(/bad\.jsonl: line 2: missing "completion"/);
    await expect(sftCommand([join(dir, "base")])).rejects.toThrow(/--data/);
    await expect(sftCommand(["--data", join(dir, "train.jsonl")])).rejects.toThrow(/base model's directory/);
    await expect(sftCommand([join(dir, "base"), "--data", join(dir, "train.jsonl"), "--steps", "0"])).rejects.toThrow(/--steps needs a positive integer/);
    await expect(sftCommand([join(dir, "base"), "--data", join(dir, "train.jsonl"), "--frob", "1"])).rejects.toThrow(/unknown option "--frob"/);
  });
});
