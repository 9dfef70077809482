// Loaders for OpenAI's files: `.tiktoken` rank files and GPT-2's encoder.json + vocab.bpe.
import { TinyLMError, check } from "../errors.js";
import { ByteTable, base64Decode } from "./bytes.js";
import { CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN } from "./patterns.js";
import { MAX_ID } from "./json.js";

export interface TiktokenEncodingSpec {
  pattern: string;
  specialTokens: Record<string, number>;
}

/** The encodings tiktoken ships, with the split pattern and special tokens of openai_public.py. */
export const TIKTOKEN_ENCODINGS: Record<string, TiktokenEncodingSpec> = {
  r50k_base: { pattern: GPT2_PATTERN, specialTokens: { "<|endoftext|>": 50256 } },
  p50k_base: { pattern: GPT2_PATTERN, specialTokens: { "<|endoftext|>": 50256 } },
  p50k_edit: {
    pattern: GPT2_PATTERN,
    specialTokens: { "<|endoftext|>": 50256, "<|fim_prefix|>": 50281, "<|fim_middle|>": 50282, "<|fim_suffix|>": 50283 },
  },
  cl100k_base: {
    pattern: CL100K_PATTERN,
    specialTokens: {
      "<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
      "<|endofprompt|>": 100276,
    },
  },
  o200k_base: { pattern: O200K_PATTERN, specialTokens: { "<|endoftext|>": 199999, "<|endofprompt|>": 200018 } },
};

/**
 * Parses a `.tiktoken` file: one `base64(bytes) rank` per line. Returns bytes by rank. Throws BAD_FILE naming the
 * line for a malformed line, a duplicate rank or duplicate bytes.
 */
export function parseTiktokenRanks(text: string): (Uint8Array | undefined)[] {
  check(typeof text === "string", "BAD_ARGUMENT", "a .tiktoken rank file must be given as its text");
  const ranks: (Uint8Array | undefined)[] = [];
  let lines = 1;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) lines++;
  const seen = new ByteTable(lines);
  let line = 0;
  let count = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    line++;
    const row = text.slice(start, text.charCodeAt(end - 1) === 13 ? end - 1 : end);
    start = end + 1;
    if (row.length === 0) continue;
    const space = row.indexOf(" ");
    const bad = (why: string) => new TinyLMError("BAD_FILE", `.tiktoken line ${line} ${why}: ${JSON.stringify(row.slice(0, 80))}`);
    if (space <= 0 || row.indexOf(" ", space + 1) >= 0) throw bad("is not `base64 rank`");
    const bytes = base64Decode(row.slice(0, space));
    if (bytes === undefined || bytes.length === 0) throw bad("has invalid base64");
    let rank = 0;
    for (let i = space + 1; i < row.length; i++) {
      const d = row.charCodeAt(i) - 48;
      if (d < 0 || d > 9 || rank >= MAX_ID) throw bad(`has a rank that is not an integer in [0, ${MAX_ID})`);
      rank = rank * 10 + d;
    }
    if (space + 1 === row.length) throw bad("has no rank");
    if (rank >= MAX_ID) throw bad(`has a rank that is not an integer in [0, ${MAX_ID})`);
    if (ranks[rank] !== undefined) throw bad(`repeats rank ${rank}`);
    const before = seen.add(bytes, rank);
    if (before >= 0) throw bad(`repeats the bytes of rank ${before}`);
    ranks[rank] = bytes;
    count++;
  }
  check(count > 0, "BAD_FILE", "the .tiktoken file has no ranks");
  for (let b = 0; b < 256; b++) {
    check(seen.find(Uint8Array.of(b), 0, 1) >= 0, "BAD_FILE", `the .tiktoken file has no rank for the single byte 0x${b.toString(16).padStart(2, "0")}, so some text could not be encoded`);
  }
  return ranks;
}

/**
 * Parses GPT-2's encoder.json (object or text) and vocab.bpe into a vocabulary and merges in priority order.
 * Throws BAD_FILE for truncated JSON, duplicate ids or a malformed merge line.
 */
export function parseGpt2Files(encoderJson: string | Record<string, number>, vocabBpe: string): { vocab: Map<string, number>; merges: [string, string][] } {
  let enc: unknown = encoderJson;
  if (typeof encoderJson === "string") {
    try {
      enc = JSON.parse(encoderJson);
    } catch (e) {
      throw new TinyLMError("BAD_FILE", `encoder.json is not valid JSON (truncated?): ${(e as Error).message}`);
    }
  }
  check(enc !== null && typeof enc === "object" && !Array.isArray(enc), "BAD_FILE", "encoder.json must be an object of token → id");
  const vocab = new Map<string, number>();
  const owner = new Map<number, string>();
  for (const [token, id] of Object.entries(enc as Record<string, unknown>)) {
    check(Number.isInteger(id) && (id as number) >= 0 && (id as number) < MAX_ID, "BAD_FILE", `encoder.json gives token ${JSON.stringify(token)} the id ${JSON.stringify(id)}, not an integer in [0, ${MAX_ID})`);
    const other = owner.get(id as number);
    check(other === undefined, "BAD_FILE", () => `encoder.json gives id ${id} to both ${JSON.stringify(other)} and ${JSON.stringify(token)}`);
    owner.set(id as number, token);
    vocab.set(token, id as number);
  }
  check(typeof vocabBpe === "string", "BAD_ARGUMENT", "vocab.bpe must be given as its text");
  const merges: [string, string][] = [];
  const lines = vocabBpe.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const row = lines[i].replace(/\r$/, "");
    if (row.length === 0 || (i === 0 && row.startsWith("#version"))) continue;
    const parts = row.split(" ");
    check(parts.length === 2 && parts[0] !== "" && parts[1] !== "", "BAD_FILE", `vocab.bpe line ${i + 1} is not two tokens separated by one space: ${JSON.stringify(row.slice(0, 80))}`);
    merges.push([parts[0], parts[1]]);
  }
  return { vocab, merges };
}
