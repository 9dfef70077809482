// Byte-level BPE training vs the official Hugging Face `tokenizers` trainer (the independent reference):
// same merges, same vocabulary, same ids on held-out text; plus option checks against direct recounts.
import { describe, expect, it } from "vitest";
import { BPE, Tokenizer as HF, byteLevelPreTokenizer } from "tokenizers";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";
import { BYTE_TO_UNICODE, toByteLevel, GPT2_PATTERN } from "../../src/tokenizer/train/pretokenize.js";
import { TinyLMError } from "../../src/errors.js";
import { HELD_OUT, HELD_OUT_PARAGRAPH, brownSlice, byId, hfIds, hfTrain } from "./train-helpers.js";

const SLICE = brownSlice(300_000);

function hfByteLevel(): HF {
  const t = new HF(BPE.empty());
  t.setPreTokenizer(byteLevelPreTokenizer(false, true));
  return t;
}

const REF = hfTrain(hfByteLevel(), SLICE);
const REF_TOK = HF.fromString(JSON.stringify(REF));

describe("BpeTrainer (byte-level) vs Hugging Face tokenizers' BpeTrainer", () => {
  it("learns minbpe's textbook case like HF: (a,a), then (a,b) beats (aa,a) on the id tie-break, then (aa,ab)", async () => {
    const ours = await new BpeTrainer({ vocabSize: 4 + 3, initialAlphabet: [] }).train("aaabdaaabac");
    const model = ours.model as any;
    expect(model.merges).toEqual([["a", "a"], ["a", "b"], ["aa", "ab"]]);
    const ref = hfTrain(hfByteLevel(), "aaabdaaabac");
    expect(model.merges).toEqual(ref.model.merges.slice(0, 3));
    // minbpe's [258, 100, 258, 97, 99]: aaab d aaab a c.
    const enc = await HF.fromString(JSON.stringify(ours)).encode("aaabdaaabac");
    expect(enc.getTokens()).toEqual(["aaab", "d", "aaab", "a", "c"]);
  });

  it("trained to completion on 300 KB of Brown: the same vocabulary and merges as HF", async () => {
    const ours = (await new BpeTrainer({ vocabSize: 30000, initialAlphabet: [] }).train(SLICE)).model as any;
    expect(ours.merges.length).toBeGreaterThan(10_000);
    expect(ours.merges).toEqual(REF.model.merges);
    expect(byId(ours.vocab)).toEqual(byId(REF.model.vocab));
  });

  it("with a smaller vocabulary: a prefix of HF's run (ids < vocabSize, the first merges)", async () => {
    const ours = (await new BpeTrainer({ vocabSize: 1000, initialAlphabet: [] }).train(SLICE)).model as any;
    const refVocab = byId(REF.model.vocab);
    expect(byId(ours.vocab)).toEqual(refVocab.slice(0, 1000));
    expect(ours.merges).toEqual(REF.model.merges.slice(0, ours.merges.length));
  });

  it("with the defaults (256 byte symbols) and a special token: HF's merges still, and a lossless encoder", async () => {
    const json = await new BpeTrainer({ vocabSize: 30000, specialTokens: ["<|endoftext|>"] }).train(SLICE);
    const m = json.model as any;
    const vocab = byId(m.vocab);
    expect(vocab[0]).toBe("<|endoftext|>");
    expect(new Set(vocab.slice(1, 257))).toEqual(new Set(BYTE_TO_UNICODE));
    // Extra alphabet symbols shift ids but keep their order, so the id tie-break picks the same pairs.
    expect(m.merges).toEqual(REF.model.merges.slice(0, m.merges.length));
    expect(json.added_tokens).toEqual([
      { id: 0, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    ]);
    const tok = HF.fromString(JSON.stringify(json));
    const text = HELD_OUT_PARAGRAPH + " naïve café 大模型 🙂<|endoftext|>";
    const enc = await tok.encode(text);
    expect(enc.getIds().at(-1)).toBe(0);
    expect(await tok.decode(enc.getIds(), false)).toBe(text);
  });

  it("a held-out paragraph encodes to the same ids with our tokenizer.json as with HF's trained tokenizer", async () => {
    const ours = HF.fromString(JSON.stringify(await new BpeTrainer({ vocabSize: 30000, initialAlphabet: [] }).train(SLICE)));
    for (const text of [HELD_OUT_PARAGRAPH, ...HELD_OUT]) {
      expect(await hfIds(ours, text)).toEqual(await hfIds(REF_TOK, text));
    }
    expect((await hfIds(ours, HELD_OUT_PARAGRAPH)).length).toBeGreaterThan(100);
  });

  it("reads a string, an array of lines and an async iterable the same way", async () => {
    const text = brownSlice(30_000);
    const lines = text.split(/(?<=\n)/);
    async function* gen(): AsyncGenerator<string> {
      for (const l of lines) yield l;
    }
    const t = new BpeTrainer({ vocabSize: 600 });
    const a = await t.train(text);
    expect(await t.train(lines)).toEqual(a);
    expect(await t.train(gen())).toEqual(a);
    // Array elements are used as given: without their "\n" the newline symbol "Ċ" never appears.
    const bare = new BpeTrainer({ vocabSize: 600, initialAlphabet: [] });
    expect((await bare.train(lines)).model.vocab).toHaveProperty("Ċ");
    expect((await bare.train(lines.map((l) => l.trimEnd()))).model.vocab).not.toHaveProperty("Ċ");
  });

  it("minFrequency stops at the first pair seen fewer times (counts recomputed by replaying the merges)", async () => {
    const minFrequency = 40;
    const m = (await new BpeTrainer({ vocabSize: 30000, minFrequency, initialAlphabet: [] }).train(SLICE)).model as any;
    const merges: [string, string][] = m.merges;
    expect(merges).toEqual(REF.model.merges.slice(0, merges.length));
    expect(merges.length).toBeGreaterThan(200);
    // Replay on word counts: the last merge was frequent enough, the next one of HF's run is not.
    const words = new Map<string, number>();
    for (const line of SLICE.split(/(?<=\n)/)) {
      for (const w of line.match(GPT2_PATTERN) ?? []) words.set(toByteLevel(w), (words.get(toByteLevel(w)) ?? 0) + 1);
    }
    let split = [...words].map(([w, c]) => ({ s: [...w], c }));
    const pairCount = (a: string, b: string): number => {
      let n = 0;
      for (const { s, c } of split) for (let i = 0; i + 1 < s.length; i++) if (s[i] === a && s[i + 1] === b) n += c;
      return n;
    };
    const apply = ([a, b]: [string, string]): void => {
      split = split.map(({ s, c }) => {
        const out: string[] = [];
        for (let i = 0; i < s.length; i++) {
          if (s[i] === a && s[i + 1] === b) out.push(a + b), i++;
          else out.push(s[i]);
        }
        return { s: out, c };
      });
    };
    merges.slice(0, -1).forEach(apply);
    expect(pairCount(...merges[merges.length - 1])).toBeGreaterThanOrEqual(minFrequency);
    apply(merges[merges.length - 1]);
    const next = REF.model.merges[merges.length] as [string, string];
    expect(pairCount(...next)).toBeLessThan(minFrequency);
  });

  it("limitAlphabet keeps the most frequent characters only", async () => {
    const text = brownSlice(50_000);
    const m = (await new BpeTrainer({ vocabSize: 500, limitAlphabet: 30, initialAlphabet: [] }).train(text)).model as any;
    const freq = new Map<string, number>();
    for (const w of text.match(GPT2_PATTERN) ?? []) for (const ch of toByteLevel(w)) freq.set(ch, (freq.get(ch) ?? 0) + 1);
    const ranked = [...freq].sort((a, b) => b[1] - a[1]);
    expect(ranked[29][1]).toBeGreaterThan(ranked[30][1]); // no tie at the cut
    const vocab = byId(m.vocab);
    expect(new Set(vocab.slice(0, 30))).toEqual(new Set(ranked.slice(0, 30).map(([c]) => c)));
    expect(vocab.slice(30).every((t) => [...t].length > 1)).toBe(true);
  });

  it("reports progress and stops on an AbortSignal", async () => {
    const seen = new Set<string>();
    let last = 0;
    await new BpeTrainer({ vocabSize: 2000 }).train(SLICE, {
      onProgress: (p) => {
        seen.add(p.stage);
        if (p.stage === "merges") {
          expect(p.done).toBeGreaterThanOrEqual(last);
          expect(p.done).toBeLessThanOrEqual(p.total);
          last = p.done;
        }
      },
    });
    expect([...seen]).toEqual(["count words", "tokenize words", "count pairs", "merges"]);
    expect(last).toBe(2000);

    await expect(new BpeTrainer({ signal: AbortSignal.abort() }).train(SLICE)).rejects.toThrow(/abort/i);
    const ctl = new AbortController();
    let merges = 0;
    const run = new BpeTrainer({ vocabSize: 30000 }).train(brownSlice(2_000_000), {
      signal: ctl.signal,
      onProgress: (p) => {
        if (p.stage === "merges" && ++merges === 100) ctl.abort();
      },
    });
    await expect(run).rejects.toThrow(/abort/i);
  });

  it("rejects bad options and input with TinyLMError BAD_ARGUMENT", async () => {
    const bad: object[] = [
      { vocabSize: 0 },
      { vocabSize: 1.5 },
      { vocabSize: "100" },
      { minFrequency: -1 },
      { specialTokens: "x" },
      { specialTokens: ["<s>", "<s>"] },
      { specialTokens: [""] },
      { limitAlphabet: -2 },
      { initialAlphabet: ["ab"] },
      { addPrefixSpace: 1 },
      { onProgress: 3 },
      { signal: {} },
      { vocab_size: 10 },
    ];
    for (const o of bad) {
      const e = (() => {
        try {
          new BpeTrainer(o as any);
        } catch (err) {
          return err;
        }
      })();
      expect(e, JSON.stringify(o)).toBeInstanceOf(TinyLMError);
      expect((e as TinyLMError).code).toBe("BAD_ARGUMENT");
    }
    const t = new BpeTrainer({ vocabSize: 300 });
    for (const input of [42, null, [1, 2], { a: 1 }]) {
      await expect(t.train(input as any)).rejects.toMatchObject({ name: "TinyLMError", code: "BAD_ARGUMENT" });
    }
  });
});
