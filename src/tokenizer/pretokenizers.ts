// Pre-tokenizers: text → pieces, each encoded by the model on its own. Hugging Face's semantics (tokenizers/src/
// pre_tokenizers), over plain strings: `first` says whether pieces[0] starts at offset 0 of the original text, which
// is all Metaspace's prepend_scheme "first" needs of the offsets.
import { TinyLMError, check } from "../errors.js";
import { BYTE_TO_CHAR, utf8 } from "./bytes.js";
import { GPT2_PATTERN, escapeRegex, regexFromRust } from "./patterns.js";

export type SplitBehavior = "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous";
const BEHAVIORS: SplitBehavior[] = ["Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"];

export interface Pieces {
  pieces: string[];
  first: boolean;
}

export interface PreTokenizer {
  pretokenize(input: Pieces): Pieces;
  toJSON(): Record<string, unknown>;
}

// [start, end, isMatch] covering the string, as HF's find_matches returns.
type Span = [number, number, boolean];

function regexSpans(s: string, re: RegExp): Span[] {
  const spans: Span[] = [];
  let prev = 0;
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const start = m.index;
    const end = start + m[0].length;
    if (end === start) re.lastIndex += s.codePointAt(start)! > 0xffff ? 2 : 1;
    if (prev !== start) spans.push([prev, start, false]);
    spans.push([start, end, true]);
    prev = end;
  }
  if (prev !== s.length) spans.push([prev, s.length, false]);
  return spans;
}

// Every character for which `pred` holds is its own match.
function charSpans(s: string, pred: (c: string) => boolean): Span[] {
  const spans: Span[] = [];
  let prev = 0;
  for (let i = 0; i < s.length; ) {
    const len = s.codePointAt(i)! > 0xffff ? 2 : 1;
    if (pred(s.slice(i, i + len))) {
      if (prev !== i) spans.push([prev, i, false]);
      spans.push([i, i + len, true]);
      prev = i + len;
    }
    i += len;
  }
  if (prev !== s.length) spans.push([prev, s.length, false]);
  return spans;
}

/** HF's NormalizedString::split: spans → kept pieces (empty ones dropped), with whether the first starts at 0. */
function applyBehavior(s: string, spans: Span[], behavior: SplitBehavior, invert: boolean, out: string[]): boolean {
  if (invert) for (const sp of spans) sp[2] = !sp[2];
  let kept: [number, number, boolean][] = [];
  switch (behavior) {
    case "Isolated":
      kept = spans.map(([a, b]) => [a, b, false]);
      break;
    case "Removed":
      kept = spans;
      break;
    case "Contiguous": {
      let prevMatch = false;
      for (const [a, b, m] of spans) {
        if (m === prevMatch && kept.length > 0) kept[kept.length - 1][1] = b;
        else kept.push([a, b, false]);
        prevMatch = m;
      }
      break;
    }
    case "MergedWithPrevious": {
      let prevMatch = false;
      for (const [a, b, m] of spans) {
        if (m && !prevMatch && kept.length > 0) kept[kept.length - 1][1] = b;
        else kept.push([a, b, false]);
        prevMatch = m;
      }
      break;
    }
    case "MergedWithNext": {
      let prevMatch = false;
      for (let i = spans.length - 1; i >= 0; i--) {
        const [a, b, m] = spans[i];
        if (m && !prevMatch && kept.length > 0) kept[kept.length - 1][0] = a;
        else kept.push([a, b, false]);
        prevMatch = m;
      }
      kept.reverse();
      break;
    }
  }
  let firstAtZero = false;
  let any = false;
  for (const [a, b, remove] of kept) {
    if (remove || a === b) continue;
    if (!any) firstAtZero = a === 0;
    any = true;
    out.push(s.slice(a, b));
  }
  return firstAtZero;
}

// Splits every piece with `fn`, tracking whether the first output still starts at offset 0.
function eachPiece(input: Pieces, fn: (s: string, out: string[]) => boolean): Pieces {
  const out: string[] = [];
  let first = false;
  for (let i = 0; i < input.pieces.length; i++) {
    const before = out.length;
    const atZero = fn(input.pieces[i], out);
    if (before === 0 && out.length > 0) first = i === 0 && input.first && atZero;
  }
  return { pieces: out, first };
}

export class SplitPreTokenizer implements PreTokenizer {
  readonly regex: RegExp;
  constructor(readonly pattern: { String: string } | { Regex: string }, readonly behavior: SplitBehavior, readonly invert: boolean) {
    check(BEHAVIORS.includes(behavior), "BAD_FILE", `unknown split behavior ${JSON.stringify(behavior)}`);
    this.regex = "Regex" in pattern ? regexFromRust(pattern.Regex) : new RegExp(escapeRegex(pattern.String), "gu");
  }
  pretokenize(input: Pieces): Pieces {
    return eachPiece(input, (s, out) => applyBehavior(s, "String" in this.pattern && this.pattern.String === "" ? (s ? [[0, s.length, false]] : []) : regexSpans(s, this.regex), this.behavior, this.invert, out));
  }
  toJSON() {
    return { type: "Split", pattern: this.pattern, behavior: this.behavior, invert: this.invert };
  }
}

const GPT2_RE = regexFromRust(GPT2_PATTERN);

/** GPT-2's byte-level step. `mapBytes` false leaves the text raw for a byte-level BPE model that maps bytes itself. */
export class ByteLevelPreTokenizer implements PreTokenizer {
  mapBytes = true;
  constructor(readonly addPrefixSpace: boolean, readonly useRegex: boolean, readonly trimOffsets: boolean) {}
  pretokenize(input: Pieces): Pieces {
    return eachPiece(input, (s, out) => {
      const t = this.addPrefixSpace && !s.startsWith(" ") ? " " + s : s;
      const before = out.length;
      const atZero = this.useRegex ? applyBehavior(t, regexSpans(t, GPT2_RE), "Isolated", false, out) : (t.length > 0 && out.push(t), true);
      if (this.mapBytes) for (let i = before; i < out.length; i++) out[i] = toByteLevel(out[i]);
      return atZero && t === s;
    });
  }
  toJSON() {
    return { type: "ByteLevel", add_prefix_space: this.addPrefixSpace, trim_offsets: this.trimOffsets, use_regex: this.useRegex };
  }
}

export function toByteLevel(s: string): string {
  const b = utf8(s);
  let r = "";
  for (let i = 0; i < b.length; i++) r += BYTE_TO_CHAR[b[i]];
  return r;
}

// Rust's char::is_whitespace is Unicode White_Space; \w is alphabetic, marks, decimal digits, connectors, joiners.
const WHITESPACE_RE = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu;
const isWhite = (c: string) => /^\p{White_Space}$/u.test(c);
// Rust's is_ascii_punctuation || Unicode general category P*.
const isPunct = (c: string) => /^[\p{P}!-\/:-@\[-`{-~]$/u.test(c);
const isNumeric = (c: string) => /^\p{N}$/u.test(c);

export class WhitespacePreTokenizer implements PreTokenizer {
  pretokenize(input: Pieces): Pieces {
    return eachPiece(input, (s, out) => applyBehavior(s, regexSpans(s, WHITESPACE_RE), "Removed", true, out));
  }
  toJSON() {
    return { type: "Whitespace" };
  }
}

export class WhitespaceSplitPreTokenizer implements PreTokenizer {
  pretokenize(input: Pieces): Pieces {
    return eachPiece(input, (s, out) => applyBehavior(s, charSpans(s, isWhite), "Removed", false, out));
  }
  toJSON() {
    return { type: "WhitespaceSplit" };
  }
}

export class PunctuationPreTokenizer implements PreTokenizer {
  constructor(readonly behavior: SplitBehavior = "Isolated") {
    check(BEHAVIORS.includes(behavior), "BAD_FILE", `unknown split behavior ${JSON.stringify(behavior)}`);
  }
  pretokenize(input: Pieces): Pieces {
    return eachPiece(input, (s, out) => applyBehavior(s, charSpans(s, isPunct), this.behavior, false, out));
  }
  toJSON() {
    return { type: "Punctuation", behavior: this.behavior };
  }
}

export class DigitsPreTokenizer implements PreTokenizer {
  constructor(readonly individualDigits: boolean) {}
  pretokenize(input: Pieces): Pieces {
    const behavior = this.individualDigits ? "Isolated" : "Contiguous";
    return eachPiece(input, (s, out) => applyBehavior(s, charSpans(s, isNumeric), behavior, false, out));
  }
  toJSON() {
    return { type: "Digits", individual_digits: this.individualDigits };
  }
}

export class BertPreTokenizer implements PreTokenizer {
  pretokenize(input: Pieces): Pieces {
    const words = eachPiece(input, (s, out) => applyBehavior(s, charSpans(s, isWhite), "Removed", false, out));
    return eachPiece(words, (s, out) => applyBehavior(s, charSpans(s, isPunct), "Isolated", false, out));
  }
  toJSON() {
    return { type: "BertPreTokenizer" };
  }
}

export type PrependScheme = "always" | "first" | "never";

export class MetaspacePreTokenizer implements PreTokenizer {
  constructor(readonly replacement: string, readonly prependScheme: PrependScheme, readonly split: boolean) {
    check([...replacement].length === 1, "BAD_FILE", `the Metaspace replacement must be one character, got ${JSON.stringify(replacement)}`);
    check(["always", "first", "never"].includes(prependScheme), "BAD_FILE", `unknown Metaspace prepend_scheme ${JSON.stringify(prependScheme)}`);
  }
  pretokenize(input: Pieces): Pieces {
    let index = 0;
    return eachPiece(input, (s, out) => {
      const atStart = index++ === 0 && input.first;
      let t = s.replaceAll(" ", this.replacement);
      const prepend = this.prependScheme === "always" || (this.prependScheme === "first" && atStart);
      if (prepend && !t.startsWith(this.replacement)) t = this.replacement + t;
      if (!this.split) {
        if (t.length > 0) out.push(t);
        return true;
      }
      return applyBehavior(t, charSpans(t, (c) => c === this.replacement), "MergedWithNext", false, out);
    });
  }
  toJSON() {
    return { type: "Metaspace", replacement: this.replacement, prepend_scheme: this.prependScheme, split: this.split };
  }
}

export class SequencePreTokenizer implements PreTokenizer {
  constructor(readonly steps: PreTokenizer[]) {}
  pretokenize(input: Pieces): Pieces {
    for (const s of this.steps) input = s.pretokenize(input);
    return input;
  }
  toJSON() {
    return { type: "Sequence", pretokenizers: this.steps.map((s) => s.toJSON()) };
  }
}

/** Builds a pre-tokenizer from its tokenizer.json object. */
export function preTokenizerFromJSON(j: any): PreTokenizer {
  check(j !== null && typeof j === "object", "BAD_FILE", "a pre_tokenizer must be an object");
  switch (j.type) {
    case "Split":
      check(j.pattern && (typeof j.pattern.String === "string" || typeof j.pattern.Regex === "string"), "BAD_FILE", "a Split pre_tokenizer needs pattern {String} or {Regex}");
      return new SplitPreTokenizer(j.pattern, j.behavior, !!j.invert);
    case "ByteLevel":
      return new ByteLevelPreTokenizer(j.add_prefix_space ?? true, j.use_regex ?? true, j.trim_offsets ?? true);
    case "Whitespace":
      return new WhitespacePreTokenizer();
    case "WhitespaceSplit":
      return new WhitespaceSplitPreTokenizer();
    case "Punctuation":
      return new PunctuationPreTokenizer(j.behavior ?? "Isolated");
    case "Digits":
      return new DigitsPreTokenizer(!!j.individual_digits);
    case "BertPreTokenizer":
      return new BertPreTokenizer();
    case "Metaspace": {
      const scheme = j.prepend_scheme ?? (j.add_prefix_space === false ? "never" : "always");
      return new MetaspacePreTokenizer(j.replacement ?? "▁", scheme, j.split ?? true);
    }
    case "Sequence":
      check(Array.isArray(j.pretokenizers), "BAD_FILE", "a Sequence pre_tokenizer needs a pretokenizers array");
      return new SequencePreTokenizer(j.pretokenizers.map(preTokenizerFromJSON));
    default:
      throw new TinyLMError("UNSUPPORTED", `pre_tokenizer type ${JSON.stringify(j.type)} is not supported`);
  }
}
