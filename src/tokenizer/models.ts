// The non-BPE models of Hugging Face's pipeline: WordPiece (greedy longest match) and Unigram (Viterbi).
import { TinyLMError, check } from "../errors.js";
import { utf8 } from "./bytes.js";

export interface Model {
  readonly type: string;
  /** Token string → id. */
  readonly vocab: Map<string, number>;
  /** id → token string. */
  readonly tokens: (string | undefined)[];
  /** One past the largest id. */
  readonly idLimit: number;
  hasId(id: number): boolean;
  /** Appends the ids of one pre-tokenized piece. */
  encodePiece(piece: string, out: number[]): void;
  toJSON(): Record<string, unknown>;
}

/** WordPiece: longest vocabulary prefix first, continuations marked with `##`; a word with no split is [UNK]. */
export class WordPieceModel implements Model {
  readonly type = "WordPiece";
  readonly tokens: (string | undefined)[] = [];
  private readonly unkId: number;
  private readonly maxLen: number; // longest token in UTF-16 units, bounds the inner search

  constructor(readonly vocab: Map<string, number>, readonly unkToken = "[UNK]", readonly prefix = "##", readonly maxInputCharsPerWord = 100) {
    for (const [t, id] of vocab) this.tokens[id] = t;
    const unk = vocab.get(unkToken);
    check(unk !== undefined, "BAD_FILE", `the WordPiece unk_token ${JSON.stringify(unkToken)} is not in the vocabulary`);
    this.unkId = unk;
    let maxLen = 1;
    for (const t of vocab.keys()) maxLen = Math.max(maxLen, t.length);
    this.maxLen = maxLen;
  }

  get idLimit(): number {
    return this.tokens.length;
  }
  hasId(id: number): boolean {
    return this.tokens[id] !== undefined;
  }

  encodePiece(piece: string, out: number[]): void {
    let chars = 0;
    for (let i = 0; i < piece.length; i++) if ((piece.charCodeAt(i) & 0xfc00) !== 0xdc00) chars++;
    if (chars > this.maxInputCharsPerWord) {
      out.push(this.unkId);
      return;
    }
    const start0 = out.length;
    for (let start = 0; start < piece.length; ) {
      const head = start > 0 ? this.prefix : "";
      let end = Math.min(piece.length, start + this.maxLen);
      let found = -1;
      for (; end > start; end--) {
        if ((piece.charCodeAt(end) & 0xfc00) === 0xdc00 && end < piece.length) continue; // never split a surrogate pair
        const id = this.vocab.get(head + piece.slice(start, end));
        if (id !== undefined) {
          found = id;
          break;
        }
      }
      if (found < 0) {
        out.length = start0;
        out.push(this.unkId);
        return;
      }
      out.push(found);
      start = end;
    }
  }

  toJSON() {
    return {
      type: "WordPiece", unk_token: this.unkToken, continuing_subword_prefix: this.prefix,
      max_input_chars_per_word: this.maxInputCharsPerWord, vocab: Object.fromEntries(this.vocab),
    };
  }
}

const UNK_PENALTY = 10;

/** Unigram (SentencePiece): the segmentation with the highest total log-probability, by Viterbi over the lattice. */
export class UnigramModel implements Model {
  readonly type = "Unigram";
  readonly vocab = new Map<string, number>();
  readonly tokens: string[] = [];
  private readonly scores: Float64Array;
  private readonly minScore: number;
  private readonly maxLen: number;
  private readonly byteIds = new Int32Array(256).fill(-1);

  constructor(readonly pieces: [string, number][], readonly unkId: number | null, readonly byteFallback = false) {
    this.scores = new Float64Array(pieces.length);
    let minScore = Infinity;
    let maxLen = 1;
    pieces.forEach(([t, score], id) => {
      check(typeof t === "string" && typeof score === "number" && Number.isFinite(score), "BAD_FILE", `Unigram vocab entry ${id} is not [piece, finite score]`);
      check(!this.vocab.has(t), "BAD_FILE", `Unigram vocab lists ${JSON.stringify(t)} twice (ids ${this.vocab.get(t)} and ${id})`);
      this.vocab.set(t, id);
      this.tokens[id] = t;
      this.scores[id] = score;
      minScore = Math.min(minScore, score);
      maxLen = Math.max(maxLen, t.length);
    });
    check(unkId === null || (Number.isInteger(unkId) && unkId >= 0 && unkId < pieces.length), "BAD_FILE", `Unigram unk_id ${unkId} is outside the vocabulary`);
    this.minScore = minScore;
    this.maxLen = maxLen;
    if (byteFallback) {
      for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) ?? -1;
    }
  }

  get idLimit(): number {
    return this.tokens.length;
  }
  hasId(id: number): boolean {
    return this.tokens[id] !== undefined;
  }

  encodePiece(piece: string, out: number[]): void {
    const n = piece.length;
    if (n === 0) return;
    // best[i]: score of the best segmentation of piece[0..i), from[i] its last token's start, id[i] that token.
    const best = new Float64Array(n + 1);
    const from = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1);
    const unkScore = this.minScore - UNK_PENALTY;
    for (let start = 0; start < n; ) {
      const charLen = (piece.charCodeAt(start) & 0xfc00) === 0xd800 && start + 1 < n ? 2 : 1;
      if (start > 0 && from[start] < 0) {
        start += charLen;
        continue;
      }
      const base = best[start];
      let single = false;
      const limit = Math.min(n, start + this.maxLen);
      for (let end = start + 1; end <= limit; end++) {
        if (end < n && (piece.charCodeAt(end) & 0xfc00) === 0xdc00) continue;
        const id = this.vocab.get(piece.slice(start, end));
        if (id === undefined) continue;
        const s = base + this.scores[id];
        if (from[end] < 0 || s > best[end]) {
          best[end] = s;
          from[end] = start;
          ids[end] = id;
        }
        if (end - start === charLen) single = true;
      }
      if (!single) {
        check(this.unkId !== null, "BAD_ARGUMENT", `the Unigram model has no unk_id and cannot encode ${JSON.stringify(piece.slice(start, start + charLen))}`);
        const end = start + charLen;
        const s = base + unkScore;
        if (from[end] < 0 || s > best[end]) {
          best[end] = s;
          from[end] = start;
          ids[end] = this.unkId;
        }
      }
      start += charLen;
    }
    // Walk back, fusing runs of unknowns into one piece as HF does.
    const pieces: string[] = [];
    let unkRun = "";
    for (let end = n; end > 0; end = from[end]) {
      const s = piece.slice(from[end], end);
      if (ids[end] === this.unkId) {
        unkRun = s + unkRun;
        continue;
      }
      if (unkRun) pieces.push(unkRun);
      unkRun = "";
      pieces.push(s);
    }
    if (unkRun) pieces.push(unkRun);
    for (let i = pieces.length - 1; i >= 0; i--) {
      const id = this.vocab.get(pieces[i]);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      const bytes = utf8(pieces[i]);
      if (this.byteFallback && bytes.every((b) => this.byteIds[b] >= 0)) {
        for (const b of bytes) out.push(this.byteIds[b]);
      } else {
        out.push(this.unkId!);
      }
    }
  }

  toJSON() {
    return { type: "Unigram", unk_id: this.unkId, vocab: this.pieces, byte_fallback: this.byteFallback };
  }
}

export function unsupportedModel(type: unknown): never {
  throw new TinyLMError("UNSUPPORTED", `model type ${JSON.stringify(type)} is not supported`);
}
