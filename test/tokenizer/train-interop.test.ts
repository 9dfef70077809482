// The trainers' contract with the encoder side: every trained tokenizer.json loads in tinylm's Tokenizer.fromJSON
// and encodes and decodes exactly as the official Hugging Face `tokenizers` package does with the same file.
import { describe, expect, it } from "vitest";
import { Tokenizer as HF } from "tokenizers";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { BpeTrainer, UnigramTrainer, WordPieceTrainer, type TokenizerJson } from "../../src/tokenizer/train/index.js";
import { EDGE_CASES } from "./cases.js";
import { HELD_OUT, brownSlice } from "./train-helpers.js";

const SLICE = brownSlice(150_000);
const INPUTS = [...HELD_OUT, ...EDGE_CASES.filter((s) => s.length < 2000), "The unhappiness of naïve 大模型 users 🙂"];

const trained: [string, () => Promise<TokenizerJson>][] = [
  ["BpeTrainer", () => new BpeTrainer({ vocabSize: 3000, specialTokens: ["<|endoftext|>"] }).train(SLICE)],
  ["WordPieceTrainer", () => new WordPieceTrainer({ vocabSize: 3000 }).train(SLICE)],
  ["UnigramTrainer", () => new UnigramTrainer({ vocabSize: 2000 }).train(SLICE)],
];

describe.each(trained)("%s output in tinylm's Tokenizer vs Hugging Face tokenizers", (_name, train) => {
  it("same ids and decoded text on held-out sentences and the edge cases; toJSON keeps the model", async () => {
    const json = await train();
    const ours = Tokenizer.fromJSON(json);
    const ref = HF.fromString(JSON.stringify(json));
    for (const text of INPUTS) {
      const ids = (await ref.encode(text)).getIds();
      expect(ours.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(ours.decode(ids), JSON.stringify(text)).toBe(await ref.decode(ids, false));
    }
    expect((ours.toJSON() as { model: unknown }).model).toEqual(json.model);
  });
});
