// Unigram (SentencePiece-style) training. HF's and sentencepiece's trainers are not bit-identical to each other
// nor to ours, so this checks properties, and uses the official Hugging Face `tokenizers` package as the
// independent reference for loading, Viterbi segmentation and (loosely) quality.
import { describe, expect, it } from "vitest";
import { Tokenizer as HF, Unigram, metaspacePreTokenizer } from "tokenizers";
import { UnigramTrainer, unigramSegment } from "../../src/tokenizer/train/index.js";
import { digamma } from "../../src/tokenizer/train/unigram.js";
import { HELD_OUT, HELD_OUT_PARAGRAPH, brownSlice, hfTrain } from "./train-helpers.js";

const SLICE = brownSlice(300_000);
const JSON_2K = await new UnigramTrainer({ vocabSize: 2000, specialTokens: ["<s>", "</s>"] }).train(SLICE);
const VOCAB: [string, number][] = (JSON_2K.model as any).vocab;
const PIECES = VOCAB.slice(3);
const HELD_WORDS = HELD_OUT.flatMap((s) => s.split(" ").map((w) => "▁" + w));

const cost = (vocab: Map<string, number>, pieces: string[]): number => -pieces.reduce((a, p) => a + vocab.get(p)!, 0);

describe("UnigramTrainer", () => {
  it("hits the vocabulary size: <unk>, the special tokens, every character, unique pieces", () => {
    expect(VOCAB.length).toBe(2000);
    expect(VOCAB.slice(0, 3)).toEqual([["<unk>", 0], ["<s>", 0], ["</s>", 0]]);
    expect((JSON_2K.model as any).unk_id).toBe(0);
    expect(new Set(VOCAB.map(([p]) => p)).size).toBe(2000);
    const pieces = new Set(PIECES.map(([p]) => p));
    for (const ch of new Set(SLICE.replace(/\n/g, "").replace(/ /g, "▁"))) expect(pieces.has(ch), ch).toBe(true);
    expect(pieces.has("▁the")).toBe(true);
    expect(JSON_2K.added_tokens.map((t) => [t.id, t.content])).toEqual([[0, "<unk>"], [1, "<s>"], [2, "</s>"]]);
  });

  it("scores are log-probabilities: finite, negative, sorted, and their probabilities sum to at most 1", () => {
    let sum = 0;
    for (let i = 0; i < PIECES.length; i++) {
      const s = PIECES[i][1];
      expect(Number.isFinite(s) && s < 0, PIECES[i][0]).toBe(true);
      if (i > 0) expect(s).toBeLessThanOrEqual(PIECES[i - 1][1]);
      sum += Math.exp(s);
    }
    expect(sum).toBeLessThanOrEqual(1 + 1e-9);
    expect(sum).toBeGreaterThan(0.5);
  });

  it("digamma (sentencepiece's series) matches known values to 1e-10: ψ(1) = −γ, ψ(1/2) = −γ − 2 ln 2, ψ(10)", () => {
    const gamma = 0.5772156649015329;
    expect(Math.abs(digamma(1) + gamma)).toBeLessThan(1e-10);
    expect(Math.abs(digamma(0.5) + gamma + 2 * Math.LN2)).toBeLessThan(1e-10);
    expect(Math.abs(digamma(10) - 2.251752589066721)).toBeLessThan(1e-10);
  });

  it("Viterbi: the best segmentation by exhaustive search, and never worse than characters on held-out words", () => {
    const scores = new Map(VOCAB);
    const brute = (w: string[]): number => {
      if (w.length === 0) return 0;
      let best = Infinity;
      for (let k = 1; k <= w.length; k++) {
        const s = scores.get(w.slice(0, k).join(""));
        if (s !== undefined) best = Math.min(best, -s + brute(w.slice(k)));
      }
      return best;
    };
    let tokens = 0;
    let chars = 0;
    for (const w of HELD_WORDS) {
      const seg = unigramSegment(VOCAB, w);
      expect(seg.join("")).toBe(w);
      const c = [...w];
      const ours = cost(scores, seg);
      if (c.length <= 12) expect(ours).toBeCloseTo(brute(c), 9);
      expect(ours).toBeLessThanOrEqual(cost(scores, c) + 1e-9);
      tokens += seg.length;
      chars += c.length;
    }
    expect(tokens / HELD_WORDS.length).toBeLessThan(0.45 * (chars / HELD_WORDS.length));
  });

  it("loads in HF tokenizers, whose Viterbi gives our pieces, and decodes back to the text", async () => {
    const tok = HF.fromString(JSON.stringify(JSON_2K));
    const enc = await tok.encode(HELD_OUT_PARAGRAPH);
    const pieces = enc.getTokens();
    expect(pieces).toEqual(HELD_OUT_PARAGRAPH.split(" ").flatMap((w) => unigramSegment(VOCAB, "▁" + w)));
    expect(pieces.join("").replace(/▁/g, " ")).toBe(" " + HELD_OUT_PARAGRAPH);
    expect(await tok.decode(enc.getIds(), false)).toBe(HELD_OUT_PARAGRAPH);
    // An unseen character is the unknown id (HF reports the original text as its token string).
    const unk = await tok.encode("a☃");
    expect(unk.getIds().slice(-1)).toEqual([0]);
    expect(unigramSegment(VOCAB, "▁a☃").slice(-1)).toEqual(["<unk>"]);
  });

  it("quality: at 8,000 pieces, no more tokens per held-out word than HF's own Unigram trainer", async () => {
    const ours: [string, number][] = ((await new UnigramTrainer({ vocabSize: 8000 }).train(SLICE)).model as any).vocab;
    const t = new HF(Unigram.empty());
    t.setPreTokenizer(metaspacePreTokenizer());
    const ref: [string, number][] = hfTrain(t, SLICE).model.vocab;
    const perWord = (v: [string, number][]): number =>
      HELD_WORDS.reduce((a, w) => a + unigramSegment(v, w).length, 0) / HELD_WORDS.length;
    expect(ours.length).toBe(8000);
    expect(perWord(ours)).toBeLessThanOrEqual(perWord(ref) * 1.02);
  });

  it("a 10,000-character word (its probability underflows f64) trains to finite scores and segments losslessly", async () => {
    let seed = 7;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) / 0x7fffffff;
    const long = Array.from({ length: 10_000 }, () => "abcdefghij"[Math.floor(rnd() * 10)]).join("");
    const json = await new UnigramTrainer({ vocabSize: 1000 }).train(brownSlice(50_000) + `${long}\n${long}\n`);
    const vocab: [string, number][] = (json.model as any).vocab;
    expect(vocab.every(([, s]) => Number.isFinite(s))).toBe(true);
    const pieces = (await HF.fromString(JSON.stringify(json)).encode(long)).getTokens();
    expect(pieces.join("")).toBe("▁" + long);
    expect(pieces.length).toBeLessThan(long.length / 1.2);
  });

  it("reports its stages and stops on an AbortSignal", async () => {
    const stages = new Set<string>();
    await new UnigramTrainer({ vocabSize: 500 }).train(brownSlice(50_000), { onProgress: (p) => stages.add(p.stage) });
    expect([...stages]).toEqual(["count words", "seeds", "em"]);
    const ctl = new AbortController();
    const run = new UnigramTrainer({ vocabSize: 1000 }).train(SLICE, {
      signal: ctl.signal,
      onProgress: (p) => p.stage === "seeds" && ctl.abort(),
    });
    await expect(run).rejects.toThrow(/abort/i);
  });

  it("rejects bad options with TinyLMError BAD_ARGUMENT", async () => {
    for (const o of [{ vocabSize: 0 }, { shrinkingFactor: 1 }, { shrinkingFactor: NaN }, { maxPieceLength: 0 }, { maxPieceLength: 300 }, { seedSize: 0 }, { nSubIterations: 0 }, { unkToken: "" }, { initialAlphabet: "abc" }, { bogus: true }]) {
      expect(() => new UnigramTrainer(o as any), JSON.stringify(o)).toThrow(expect.objectContaining({ code: "BAD_ARGUMENT" }));
    }
    await expect(new UnigramTrainer({ vocabSize: 20 }).train(SLICE)).rejects.toMatchObject({ code: "BAD_ARGUMENT", message: expect.stringMatching(/characters/) });
  });
});
