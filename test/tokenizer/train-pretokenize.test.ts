// The trainers' own pre-tokenizers vs the official Hugging Face `tokenizers` ones (independent reference): the
// words a trainer counts must be the words HF's trainer counts, on the shared edge-case suite and Brown lines.
import { describe, expect, it } from "vitest";
import { bertNormalizer, bertPreTokenizer, byteLevelPreTokenizer, metaspacePreTokenizer } from "tokenizers";
import {
  bertNormalize,
  countBertWords,
  countByteLevelWords,
  countMetaspaceWords,
  toByteLevel,
} from "../../src/tokenizer/train/pretokenize.js";
import { EDGE_CASES } from "./cases.js";
import { HELD_OUT } from "./train-helpers.js";

const INPUTS = [...EDGE_CASES, ...HELD_OUT, "a ▁b", "▁a", "a▁▁b c", "x\u000by\u0085z\ufeffw", "über  Ça\u0301 naïve 中文字 ！？"];

function words(count: (m: Map<string, number>) => void): string[] {
  const m = new Map<string, number>();
  count(m);
  return [...m].flatMap(([w, n]) => Array<string>(n).fill(w)).sort();
}

const hfWords = (splits: [string, unknown][]): string[] => splits.map(([w]) => w).sort();

describe("trainer pre-tokenization vs Hugging Face tokenizers", () => {
  it("ByteLevel (GPT-2 regex, byte → unicode), with and without add_prefix_space", () => {
    for (const addPrefixSpace of [false, true]) {
      const hf = byteLevelPreTokenizer(addPrefixSpace, true);
      for (const text of INPUTS) {
        const ours = words((m) => countByteLevelWords(m, text, addPrefixSpace)).map(toByteLevel).sort();
        expect(ours, JSON.stringify(text)).toEqual(hfWords(hf.preTokenizeString(text)));
      }
    }
  });

  it("BertNormalizer (lowercase, accents stripped) + BertPreTokenizer", () => {
    const norm = bertNormalizer({ lowercase: true });
    const pre = bertPreTokenizer();
    const o = { cleanText: true, handleChineseChars: true, stripAccents: null, lowercase: true };
    for (const text of INPUTS) {
      const n = bertNormalize(text, o);
      expect(n, JSON.stringify(text)).toBe(norm.normalizeString(text));
      expect(words((m) => countBertWords(m, n)), JSON.stringify(text)).toEqual(hfWords(pre.preTokenizeString(n)));
    }
  });

  it("Metaspace (▁, prepend always, split)", () => {
    const hf = metaspacePreTokenizer();
    for (const text of INPUTS) {
      expect(words((m) => countMetaspaceWords(m, text)), JSON.stringify(text)).toEqual(hfWords(hf.preTokenizeString(text)));
    }
  });
});
