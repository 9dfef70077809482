// Shared by the trainer tests: a Brown slice, held-out text, and training with the official Hugging Face
// `tokenizers` package (Rust core, Node binding) — the independent reference. Its Node API trains only with
// the model's default trainer (vocab 30000, min frequency 0, no special tokens, no initial alphabet), from files.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as HF } from "tokenizers";
import { readBrown } from "../../src/node/brown.js";

const ALL = readBrown();

/** The first ~`chars` characters of Brown, whole sentences, one per line, each ending in "\n". */
export function brownSlice(chars = 300_000): string {
  const out: string[] = [];
  let n = 0;
  for (const s of ALL) {
    if (n >= chars) break;
    out.push(s);
    n += s.length + 1;
  }
  return out.join("\n") + "\n";
}

/** Sentences from the end of the corpus (humor, category r), far from every training slice. */
export const HELD_OUT: string[] = ALL.slice(-40);
export const HELD_OUT_PARAGRAPH = HELD_OUT.slice(0, 12).join(" ");

/** Trains `tok` (an HF Tokenizer with model, normalizer, pre-tokenizer set) on `text` and returns its tokenizer.json. */
export function hfTrain(tok: HF, text: string): any {
  const dir = mkdtempSync(join(tmpdir(), "tinylm-train-"));
  try {
    const file = join(dir, "corpus.txt");
    writeFileSync(file, text);
    tok.train([file]);
    tok.save(join(dir, "tokenizer.json"), false);
    return JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Vocabulary tokens ordered by id. */
export function byId(vocab: Record<string, number>): string[] {
  const out: string[] = [];
  for (const [t, id] of Object.entries(vocab)) out[id] = t;
  return out;
}

export async function hfIds(tok: HF, text: string): Promise<number[]> {
  return (await tok.encode(text)).getIds();
}
