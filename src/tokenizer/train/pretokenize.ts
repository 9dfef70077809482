/**
 * The normalizers and pre-tokenizers the trainers need, as word counters: training only needs the words,
 * not offsets, so these are smaller and faster than the encoder's pipeline objects. Each one matches its
 * Hugging Face `tokenizers` namesake (test/tokenizer/train-pretokenize.test.ts checks that). The GPT-2 pattern
 * and the byte table come from the encoder side.
 */
import { BYTE_TO_CHAR } from "../bytes.js";
import { GPT2_PATTERN as GPT2_RUST_PATTERN, regexFromRust } from "../patterns.js";

/**
 * GPT-2's split pattern, as HF's ByteLevel pre-tokenizer (use_regex: true) applies it, with the encoder's
 * Rust → JS translation (\s means Unicode White_Space there: no U+FEFF, but U+0085).
 */
export const GPT2_PATTERN: RegExp = regexFromRust(GPT2_RUST_PATTERN);

/** GPT-2's byte → printable character table (the encoder's), so every byte string becomes a visible string. */
export const BYTE_TO_UNICODE: readonly string[] = BYTE_TO_CHAR;

const utf8 = new TextEncoder();

/** The byte-level spelling of `s`: its UTF-8 bytes, each written as its BYTE_TO_UNICODE character. */
export function toByteLevel(s: string): string {
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 127) {
      ascii = false;
      break;
    }
  }
  let out = "";
  if (ascii) {
    for (let i = 0; i < s.length; i++) out += BYTE_TO_UNICODE[s.charCodeAt(i)];
  } else {
    for (const b of utf8.encode(s)) out += BYTE_TO_UNICODE[b];
  }
  return out;
}

/** Counts the GPT-2 pre-tokens of `seq` (before the byte mapping, which is one-to-one) into `counts`. */
export function countByteLevelWords(counts: Map<string, number>, seq: string, addPrefixSpace: boolean): void {
  // HF adds the space unless the sequence starts with one (another whitespace character does not count).
  const text = addPrefixSpace && seq.length > 0 && seq.charCodeAt(0) !== 32 ? " " + seq : seq;
  GPT2_PATTERN.lastIndex = 0;
  for (let m = GPT2_PATTERN.exec(text); m !== null; m = GPT2_PATTERN.exec(text)) {
    const w = m[0];
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
}

// CJK Unified Ideographs blocks, the set BERT puts spaces around (HF's `is_chinese_char`).
function isChineseChar(c: number): boolean {
  return (
    (c >= 0x4e00 && c <= 0x9fff) ||
    (c >= 0x3400 && c <= 0x4dbf) ||
    (c >= 0x20000 && c <= 0x2a6df) ||
    (c >= 0x2a700 && c <= 0x2b73f) ||
    (c >= 0x2b740 && c <= 0x2b81f) ||
    (c >= 0x2b920 && c <= 0x2ceaf) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0x2f800 && c <= 0x2fa1f)
  );
}

export interface BertNormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  /** null follows `lowercase`, as in HF. */
  stripAccents: boolean | null;
  lowercase: boolean;
}

const CONTROL = /\p{C}/u;
// Rust's char::is_whitespace (Unicode White_Space); JS's \s differs (it has U+FEFF, lacks U+0085).
const WS_CLASS = "\\p{White_Space}";
const WHITESPACE = new RegExp(`[${WS_CLASS}]`, "u");
const MARKS = /\p{Mn}/gu;
const NON_ASCII = /[^\x00-\x7f]/;

/** HF's BertNormalizer: drop control characters, whitespace → " ", space out CJK, strip accents, lowercase. */
export function bertNormalize(s: string, o: BertNormalizerOptions): string {
  let out = s;
  if (o.cleanText || o.handleChineseChars) {
    let t = "";
    for (const ch of out) {
      const c = ch.codePointAt(0)!;
      if (o.cleanText) {
        // HF filters first, so a control character that is also whitespace (\v, \f, U+0085) is dropped.
        if (c === 0 || c === 0xfffd || (CONTROL.test(ch) && ch !== "\t" && ch !== "\n" && ch !== "\r")) continue;
        if (WHITESPACE.test(ch)) {
          t += " ";
          continue;
        }
      }
      t += o.handleChineseChars && isChineseChar(c) ? " " + ch + " " : ch;
    }
    out = t;
  }
  if (o.stripAccents ?? o.lowercase) {
    if (NON_ASCII.test(out)) out = out.normalize("NFD").replace(MARKS, "");
  }
  if (o.lowercase) out = out.toLowerCase();
  return out;
}

// BERT punctuation: ASCII punctuation plus the Unicode P* categories (HF's `is_bert_punc`).
const BERT_SPLIT_G = new RegExp(`[${WS_CLASS}]+|([!-/:-@[-\`{-~]|\\p{P})`, "gu");

/** Counts HF BertPreTokenizer words of an already normalized sequence: split on whitespace, punctuation isolated. */
export function countBertWords(counts: Map<string, number>, seq: string): void {
  BERT_SPLIT_G.lastIndex = 0;
  let start = 0;
  for (let m = BERT_SPLIT_G.exec(seq); m !== null; m = BERT_SPLIT_G.exec(seq)) {
    if (m.index > start) {
      const w = seq.slice(start, m.index);
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    if (m[1] !== undefined) counts.set(m[1], (counts.get(m[1]) ?? 0) + 1);
    start = m.index + m[0].length;
  }
  if (start < seq.length) {
    const w = seq.slice(start);
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
}

export const METASPACE = "\u2581";

/**
 * Counts HF Metaspace words (replacement "▁", prepend_scheme "always", split true): spaces become
 * "▁", one "▁" is prepended unless the text starts with one, and each word starts at a "▁".
 */
export function countMetaspaceWords(counts: Map<string, number>, seq: string): void {
  if (seq.length === 0) return;
  if (!seq.includes(METASPACE)) {
    // Each space starts a word, and so does the prepended "▁" unless the text already starts with a space.
    const parts = seq.split(" ");
    for (let i = seq.charCodeAt(0) === 32 ? 1 : 0; i < parts.length; i++) {
      const w = METASPACE + parts[i];
      counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    return;
  }
  let text = seq.replaceAll(" ", METASPACE);
  if (!text.startsWith(METASPACE)) text = METASPACE + text;
  let start = 0;
  for (let i = 1; i <= text.length; i++) {
    if (i === text.length || text.charCodeAt(i) === 0x2581) {
      const w = text.slice(start, i);
      counts.set(w, (counts.get(w) ?? 0) + 1);
      start = i;
    }
  }
}
