// Normalizers: text → text before pre-tokenization, with Hugging Face's semantics (tokenizers/src/normalizers).
import { TinyLMError, check } from "../errors.js";
import { escapeRegex, regexFromRust } from "./patterns.js";

export interface Normalizer {
  normalize(s: string): string;
  toJSON(): Record<string, unknown>;
}

export class UnicodeNormalizer implements Normalizer {
  constructor(readonly form: "NFC" | "NFD" | "NFKC" | "NFKD") {}
  normalize(s: string): string {
    return s.normalize(this.form);
  }
  toJSON() {
    return { type: this.form };
  }
}

export class LowercaseNormalizer implements Normalizer {
  normalize(s: string): string {
    return s.toLowerCase();
  }
  toJSON() {
    return { type: "Lowercase" };
  }
}

// What HF strips as accents: nonspacing marks only (Hindi's spacing vowel signs, category Mc, stay).
const MARKS = /\p{Mn}/gu;
export class StripAccentsNormalizer implements Normalizer {
  normalize(s: string): string {
    return s.replace(MARKS, "");
  }
  toJSON() {
    return { type: "StripAccents" };
  }
}

export class ReplaceNormalizer implements Normalizer {
  private readonly re: RegExp;
  constructor(readonly pattern: { String: string } | { Regex: string }, readonly content: string, readonly kind = "Replace") {
    this.re = "Regex" in pattern ? regexFromRust(pattern.Regex) : new RegExp(escapeRegex(pattern.String), "gu");
  }
  normalize(s: string): string {
    if ("String" in this.pattern && this.pattern.String === "") return s;
    return s.replace(this.re, () => this.content);
  }
  toJSON() {
    return { type: this.kind, pattern: this.pattern, content: this.content };
  }
}

export class PrependNormalizer implements Normalizer {
  constructor(readonly prepend: string) {}
  normalize(s: string): string {
    return s.length > 0 ? this.prepend + s : s;
  }
  toJSON() {
    return { type: "Prepend", prepend: this.prepend };
  }
}

export class StripNormalizer implements Normalizer {
  constructor(readonly left: boolean, readonly right: boolean) {}
  normalize(s: string): string {
    if (this.left) s = s.replace(/^\p{White_Space}+/u, "");
    if (this.right) s = s.replace(/\p{White_Space}+$/u, "");
    return s;
  }
  toJSON() {
    return { type: "Strip", strip_left: this.left, strip_right: this.right };
  }
}

// BERT's cleanup (tokenizers/src/normalizers/bert.rs): drop NUL, U+FFFD and "other" characters except \t\n\r, turn
// whitespace into spaces, put spaces around CJK ideographs, strip accents, lowercase.
const BERT_DROP = /[\0\uFFFD]|(?![\t\n\r])\p{C}/gu;
const BERT_SPACE = /[\t\n\r]|\p{White_Space}/gu;
const CJK = /[\u4E00-\u9FFF\u3400-\u4DBF\u{20000}-\u{2A6DF}\u{2A700}-\u{2B73F}\u{2B740}-\u{2B81F}\u{2B920}-\u{2CEAF}\uF900-\uFAFF\u{2F800}-\u{2FA1F}]/gu;
export class BertNormalizer implements Normalizer {
  constructor(readonly cleanText: boolean, readonly handleChineseChars: boolean, readonly stripAccents: boolean | null, readonly lowercase: boolean) {}
  normalize(s: string): string {
    if (this.cleanText) s = s.replace(BERT_DROP, "").replace(BERT_SPACE, " ");
    if (this.handleChineseChars) s = s.replace(CJK, " $& ");
    if (this.stripAccents ?? this.lowercase) s = s.normalize("NFD").replace(MARKS, "");
    if (this.lowercase) s = s.toLowerCase();
    return s;
  }
  toJSON() {
    return { type: "BertNormalizer", clean_text: this.cleanText, handle_chinese_chars: this.handleChineseChars, strip_accents: this.stripAccents, lowercase: this.lowercase };
  }
}

export class SequenceNormalizer implements Normalizer {
  constructor(readonly steps: Normalizer[]) {}
  normalize(s: string): string {
    for (const n of this.steps) s = n.normalize(s);
    return s;
  }
  toJSON() {
    return { type: "Sequence", normalizers: this.steps.map((n) => n.toJSON()) };
  }
}

export function normalizerFromJSON(j: any): Normalizer {
  check(j !== null && typeof j === "object", "BAD_FILE", "a normalizer must be an object");
  switch (j.type) {
    case "NFC": case "NFD": case "NFKC": case "NFKD":
      return new UnicodeNormalizer(j.type);
    case "Lowercase":
      return new LowercaseNormalizer();
    case "StripAccents":
      return new StripAccentsNormalizer();
    case "Replace":
      check(j.pattern && (typeof j.pattern.String === "string" || typeof j.pattern.Regex === "string") && typeof j.content === "string", "BAD_FILE", "a Replace normalizer needs pattern {String|Regex} and content");
      return new ReplaceNormalizer(j.pattern, j.content);
    case "Prepend":
      check(typeof j.prepend === "string", "BAD_FILE", "a Prepend normalizer needs a prepend string");
      return new PrependNormalizer(j.prepend);
    case "Strip":
      return new StripNormalizer(!!j.strip_left, !!j.strip_right);
    case "BertNormalizer":
      return new BertNormalizer(j.clean_text ?? true, j.handle_chinese_chars ?? true, j.strip_accents ?? null, j.lowercase ?? true);
    case "Sequence":
      check(Array.isArray(j.normalizers), "BAD_FILE", "a Sequence normalizer needs a normalizers array");
      return new SequenceNormalizer(j.normalizers.map(normalizerFromJSON));
    default:
      throw new TinyLMError("UNSUPPORTED", `normalizer type ${JSON.stringify(j.type)} is not supported`);
  }
}
