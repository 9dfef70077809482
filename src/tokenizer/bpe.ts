// The BPE model: symbols → merged symbols by merge priority, over bytes (byte-level BPE: tiktoken, GPT-2, Llama 3,
// Qwen) or over characters with byte fallback and an unknown token (SentencePiece-style: Gemma, Llama 2).
//
// Merges live in one open-addressing hash table keyed by the pair of symbol ids (left, right) → (priority, merged id).
// For tiktoken rank files the priority of a pair is the rank of the concatenated bytes, which is the merged token's
// id, so tiktoken's rule ("merge the adjacent pair whose concatenation has the lowest rank, leftmost first") and
// Hugging Face's ("apply the merge listed first, leftmost first") are the same loop over this table.
import { TinyLMError, check } from "../errors.js";
import { BpeMergeKernel } from "../kernels/bpe.js";
import type { Kernels } from "../kernels/module.js";
import { ByteTable, bytesToByteLevel, byteLevelToBytes, utf8, utf8Into, utf8Strict } from "./bytes.js";

const NONE = 0x7fffffff; // "no merge" priority: larger than every real one

export interface BpeOptions {
  /** Symbols are UTF-8 bytes (GPT-2's byte-level alphabet in the vocab) rather than characters. */
  byteLevel: boolean;
  /** A piece that is itself in the vocabulary is one token, without merging (tiktoken; HF `ignore_merges`). */
  ignoreMerges?: boolean;
  unkToken?: string | null;
  fuseUnk?: boolean;
  /** Characters missing from the vocab become their UTF-8 bytes as `<0xAB>` tokens (SentencePiece). */
  byteFallback?: boolean;
  continuingSubwordPrefix?: string | null;
  endOfWordSuffix?: string | null;
}

/** A pair → (priority, merged id) table: 4 ints per slot (left, right, priority, merged), left = -1 when empty,
 *  probed linearly from hash(left, right). assembly/bpe.ts reads the same layout with the same hash. */
class PairTable {
  mask: number;
  data: Int32Array;
  private count = 0;

  constructor(count: number) {
    let cap = 16;
    while (cap < count * 2) cap *= 2;
    this.mask = cap - 1;
    this.data = new Int32Array(cap * 4);
    for (let s = 0; s < this.data.length; s += 4) this.data[s] = -1;
  }

  /** Adds (a, b) unless present; returns false if it was already there (first listing wins, as in HF). */
  add(a: number, b: number, priority: number, merged: number): boolean {
    if (this.find(a, b) >= 0) return false;
    this.insert(a, b, priority, merged);
    return true;
  }

  /** Inserts (a, b), known to be absent, growing the table past half full; returns its slot. */
  insert(a: number, b: number, priority: number, merged: number): number {
    if (2 * ++this.count > this.mask + 1) this.grow();
    const d = this.data;
    let h = hash(a, b) & this.mask;
    while (d[h * 4] !== -1) h = (h + 1) & this.mask;
    d[h * 4] = a;
    d[h * 4 + 1] = b;
    d[h * 4 + 2] = priority;
    d[h * 4 + 3] = merged;
    return h * 4;
  }

  /** Index of (a, b)'s slot in data, or -1. */
  find(a: number, b: number): number {
    const d = this.data;
    let h = hash(a, b) & this.mask;
    for (;;) {
      const l = d[h * 4];
      if (l === a && d[h * 4 + 1] === b) return h * 4;
      if (l === -1) return -1;
      h = (h + 1) & this.mask;
    }
  }
  priority(slot: number): number {
    return slot < 0 ? NONE : this.data[slot + 2];
  }
  mergedId(slot: number): number {
    return this.data[slot + 3];
  }

  private grow(): void {
    const old = this.data;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.data = new Int32Array(cap * 4);
    for (let s = 0; s < this.data.length; s += 4) this.data[s] = -1;
    for (let s = 0; s < old.length; s += 4) {
      if (old[s] === -1) continue;
      let h = hash(old[s], old[s + 1]) & this.mask;
      while (this.data[h * 4] !== -1) h = (h + 1) & this.mask;
      this.data.set(old.subarray(s, s + 4), h * 4);
    }
  }
}

function hash(a: number, b: number): number {
  return Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca77) ^ (a >>> 7);
}

// Scratch shared by every model: pieces are encoded one at a time, and nothing here is re-entrant.
let symBuf = new Int32Array(1024);
let byteBuf = new Uint8Array(3072);
let prioBuf = new Int32Array(1024);
let startBuf = new Int32Array(1024);
let nextBuf = new Int32Array(1024);
let prevBuf = new Int32Array(1024);
let heapPrio = new Int32Array(1024);
let heapPos = new Int32Array(1024);
function reserve(n: number): void {
  if (symBuf.length >= n) return;
  const cap = Math.max(n, symBuf.length * 2);
  symBuf = new Int32Array(cap);
  startBuf = new Int32Array(cap);
  prioBuf = new Int32Array(cap);
  nextBuf = new Int32Array(cap);
  prevBuf = new Int32Array(cap);
  heapPrio = new Int32Array(cap * 2);
  heapPos = new Int32Array(cap * 2);
}

/**
 * Text piece → its ids, keyed by UTF-16 code units and looked up by (text, start, end) so that the hot loop never
 * builds a substring or asks V8 to hash one. Holds the whole tokens (permanent) and the pieces merged so far (a cache,
 * dropped in one go when it fills: an LRU would cost bookkeeping on every hit to save a rare re-merge).
 */
class PieceTable {
  private readonly mask: number;
  private readonly slots: Int32Array; // entry index + 1; 0 = empty
  private readonly hashes: Int32Array;
  private keys: string[] = [];
  private values: number[] = []; // id ≥ 0, or ~k for results[k]
  private results: number[][] = [];
  private permanent = 0;

  constructor(private readonly capacity: number) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.mask = cap - 1;
    this.slots = new Int32Array(cap);
    this.hashes = new Int32Array(cap);
  }

  static hash(text: string, start: number, end: number): number {
    let h = 0x811c9dc5 ^ (end - start);
    for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h ^ (h >>> 15);
  }

  /** Entry of text[start..end) with hash h, or -1. */
  find(text: string, start: number, end: number, h: number): number {
    const len = end - start;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const e = this.slots[s] - 1;
      if (e < 0) return -1;
      if (this.hashes[s] !== h) continue;
      const key = this.keys[e];
      if (key.length !== len) continue;
      let i = 0;
      while (i < len && key.charCodeAt(i) === text.charCodeAt(start + i)) i++;
      if (i === len) return e;
    }
  }

  value(e: number): number {
    return this.values[e];
  }
  result(v: number): number[] {
    return this.results[~v];
  }

  /** Adds a whole token (permanent). */
  addToken(key: string, id: number): void {
    if (this.find(key, 0, key.length, PieceTable.hash(key, 0, key.length)) >= 0) return;
    this.insert(key, id);
    this.permanent = this.keys.length;
  }

  /** Caches a merged piece. */
  addResult(key: string, h: number, ids: number[]): void {
    if (this.keys.length >= this.capacity) this.dropCache();
    if (ids.length === 1) this.insert(key, ids[0], h);
    else {
      this.results.push(ids);
      this.insert(key, ~(this.results.length - 1), h);
    }
  }

  private insert(key: string, value: number, h = PieceTable.hash(key, 0, key.length)): void {
    let s = h & this.mask;
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.keys.push(key);
    this.values.push(value);
    this.slots[s] = this.keys.length;
    this.hashes[s] = h;
  }

  dropCache(): void {
    const keys = this.keys.slice(0, this.permanent);
    const values = this.values.slice(0, this.permanent);
    this.slots.fill(0);
    this.keys = [];
    this.values = [];
    this.results = [];
    for (let i = 0; i < keys.length; i++) this.insert(keys[i], values[i]);
  }
}

/** The pieces of one encode call that missed the table, merged together at the end. */
class MissBatch {
  pieces: string[] = [];
  hashes: number[] = [];
  index = new Map<string, number>();
  first = -1; // position in out of the first placeholder
  constructor(readonly out: number[]) {}
}

const SMALL = 48; // below this many symbols the quadratic scan beats the heap's bookkeeping
const CACHE_LIMIT = 1 << 16;

export class BpeModel {
  readonly type = "BPE";
  readonly options: Required<BpeOptions>;
  /** One past the largest id. */
  readonly idLimit: number;
  /** Merges in priority order, as id pairs, for toJSON. */
  private mergeList: Int32Array;
  private pairs: PairTable;
  /** tiktoken models: token bytes → rank. Pairs are then ranked on first sight (see pairSlot) rather than all
   *  derived at load, which would cost ~0.3 s for cl100k; deriveAll() fills the table for toJSON and the kernel. */
  private lazy: { table: ByteTable; ranks: (Uint8Array | undefined)[] } | null = null;
  /** byte → id of its single-byte token (byte-level) or of `<0xAB>` (byte fallback); -1 if absent. */
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** Whole tokens (with ignoreMerges) and merged pieces, by raw text. */
  private readonly pieces: PieceTable;
  private readonly sticky = new Map<RegExp, RegExp>();
  private kernel: BpeMergeKernel | null = null;
  private readonly unkId: number;
  /** id → raw bytes, for byte-level models. */
  private readonly bytes: (Uint8Array | undefined)[] = [];
  // Token strings are built on first use: a tiktoken model never needs them to encode or decode.
  private vocab_: Map<string, number> | null;
  private tokens_: (string | undefined)[] | null = null;

  // Either a vocabulary (token string → id) or, for tiktoken, the raw bytes of every id.
  private constructor(source: { vocab: Map<string, number> } | { ranks: (Uint8Array | undefined)[] }, merges: Int32Array, pairs: PairTable, options: BpeOptions) {
    this.options = {
      ignoreMerges: false, unkToken: null, fuseUnk: false, byteFallback: false,
      continuingSubwordPrefix: null, endOfWordSuffix: null, ...options,
    };
    this.mergeList = merges;
    this.pairs = pairs;
    this.vocab_ = "vocab" in source ? source.vocab : null;
    const whole = this.options.ignoreMerges;
    let count = 0;
    let limit = 0;
    if ("ranks" in source) {
      for (let id = 0; id < source.ranks.length; id++) if (source.ranks[id] !== undefined) count++;
      limit = source.ranks.length;
    } else {
      count = source.vocab.size;
      for (const id of source.vocab.values()) limit = Math.max(limit, id + 1);
    }
    this.idLimit = limit;
    this.pieces = new PieceTable((whole ? count : 0) + CACHE_LIMIT);
    const unk = this.options.unkToken;
    this.unkId = unk == null ? -1 : this.vocab.get(unk) ?? -1;
    check(unk == null || this.unkId >= 0, "BAD_FILE", `the BPE unk_token ${JSON.stringify(unk)} is not in the vocabulary`);
    if (options.byteLevel) {
      const add = (id: number, bytes: Uint8Array | undefined) => {
        if (bytes === undefined) return;
        this.bytes[id] = bytes;
        if (bytes.length === 1) this.byteIds[bytes[0]] = id;
        if (whole) {
          const raw = utf8Strict(bytes);
          if (raw !== undefined) this.pieces.addToken(raw, id);
        }
      };
      if ("ranks" in source) source.ranks.forEach((b, id) => add(id, b));
      else for (const [t, id] of source.vocab) add(id, byteLevelToBytes(t));
    } else {
      if (whole) for (const [t, id] of this.vocab) this.pieces.addToken(t, id);
      if (this.options.byteFallback) {
        for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`) ?? -1;
      }
    }
  }

  /** Token string (GPT-2's byte alphabet for byte-level models) → id. */
  get vocab(): Map<string, number> {
    if (this.vocab_ === null) {
      this.vocab_ = new Map();
      this.bytes.forEach((b, id) => this.vocab_!.set(bytesToByteLevel(b!), id));
    }
    return this.vocab_;
  }

  /** id → token string. */
  get tokens(): (string | undefined)[] {
    if (this.tokens_ === null) {
      const tokens: (string | undefined)[] = [];
      for (const [t, id] of this.vocab) tokens[id] = t;
      this.tokens_ = tokens;
    }
    return this.tokens_;
  }

  hasId(id: number): boolean {
    return this.vocab_ === null ? this.bytes[id] !== undefined : this.tokens[id] !== undefined;
  }

  /**
   * A Hugging Face BPE model: `vocab` token → id, `merges` in priority order as [left, right] token strings.
   * Throws BAD_FILE when a merge names a token that is not in the vocabulary.
   */
  static fromVocabMerges(vocab: Map<string, number>, merges: [string, string][], options: BpeOptions): BpeModel {
    const pairs = new PairTable(merges.length);
    const list = new Int32Array(merges.length * 2);
    let n = 0;
    const prefixLen = options.continuingSubwordPrefix?.length ?? 0;
    for (let i = 0; i < merges.length; i++) {
      const [a, b] = merges[i];
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      // HF strips the continuing-subword prefix from the right part when forming the merged token.
      const joined = a + (prefixLen > 0 && b.startsWith(options.continuingSubwordPrefix!) ? b.slice(prefixLen) : b);
      const im = vocab.get(joined);
      if (ia === undefined || ib === undefined || im === undefined) {
        const missing = ia === undefined ? a : ib === undefined ? b : joined;
        throw new TinyLMError("BAD_FILE", `BPE merge ${i} ("${a} ${b}") names ${JSON.stringify(missing)}, which is not in the vocabulary`);
      }
      if (pairs.add(ia, ib, i, im)) {
        list[n++] = ia;
        list[n++] = ib;
      }
    }
    return new BpeModel({ vocab }, list.subarray(0, n), pairs, options);
  }

  /**
   * A tiktoken encoding: `ranks[id]` = the token's bytes. The merges are derived: every split of a token into two
   * tokens is a pair whose priority is the token's rank, which is exactly tiktoken's "rank of the concatenation".
   */
  static fromRanks(ranks: (Uint8Array | undefined)[]): BpeModel {
    const table = new ByteTable(ranks.length);
    for (let id = 0; id < ranks.length; id++) {
      const b = ranks[id];
      if (b !== undefined) check(table.add(b, id) < 0, "BAD_FILE", `ranks ${table.find(b, 0, b.length)} and ${id} have the same bytes`);
    }
    const model = new BpeModel({ ranks }, new Int32Array(0), new PairTable(1 << 12), { byteLevel: true, ignoreMerges: true });
    model.lazy = { table, ranks };
    return model;
  }

  // Every split of every token into two tokens, as a pair ranked by the token: the whole merge table at once.
  private deriveAll(): void {
    if (this.lazy === null) return;
    const { table, ranks } = this.lazy;
    const order: number[] = [];
    let suffix = new Int32Array(64);
    for (let id = 0; id < ranks.length; id++) {
      const b = ranks[id];
      if (b === undefined || b.length < 2) continue;
      const n = b.length;
      // suffix[k] = poly hash of b[k..n), built right to left; prefixes are extended left to right below.
      if (suffix.length <= n) suffix = new Int32Array(2 * n + 1);
      let pow = 1;
      suffix[n] = 0;
      for (let k = n - 1; k >= 0; k--) {
        suffix[k] = (suffix[k + 1] + Math.imul(b[k], pow)) | 0;
        pow = Math.imul(pow, 0x01000193);
      }
      let prefix = 0;
      for (let k = 1; k < n; k++) {
        prefix = (Math.imul(prefix, 0x01000193) + b[k - 1]) | 0;
        const l = table.find(b, 0, k, ByteTable.mix(prefix, k));
        if (l < 0) continue;
        const r = table.find(b, k, n, ByteTable.mix(suffix[k], n - k));
        if (r >= 0) order.push(l, r, id);
      }
    }
    const pairs = new PairTable(order.length / 3);
    const list: number[] = [];
    for (let i = 0; i < order.length; i += 3) if (pairs.add(order[i], order[i + 1], order[i + 2], order[i + 2])) list.push(order[i], order[i + 1]);
    this.pairs = pairs;
    this.mergeList = Int32Array.from(list);
    this.lazy = null;
  }

  // The slot of pair (a, b), whose bytes are byteBuf[from..to). A tiktoken model ranks an unseen pair by looking its
  // bytes up (tiktoken's own rule) and remembers the answer, a miss included, in the pair table.
  private pairSlot(a: number, b: number, from: number, to: number): number {
    const slot = this.pairs.find(a, b);
    if (slot >= 0 || this.lazy === null) return slot;
    const id = this.lazy.table.find(byteBuf, from, to);
    return this.pairs.insert(a, b, id < 0 ? NONE : id, id);
  }


  /**
   * Appends the ids of one pre-tokenized piece (raw text; for byte-level models the text before GPT-2's byte
   * mapping, which this model applies itself).
   */
  encodePiece(piece: string, out: number[]): void {
    this.encodeRange(piece, 0, piece.length, out);
  }

  /**
   * Encodes every match of `re` (a global regex) in `text`: the pre-tokenizer and the model fused for tiktoken's shape.
   *
   * Performance notes (4 MB of Brown, cl100k: ~95% of pieces are whole tokens, the rest mostly repeat):
   * - The regex runs sticky through `test()`, which moves lastIndex without building a match array or a substring;
   *   the piece is then looked up by (text, start, end) in a hash table over UTF-16 code units. A Map keyed by
   *   `m[0]` spent most of its time allocating and hashing those substrings.
   * - Only a miss builds the substring and runs the merge loop, whose result is cached in the same table.
   * - Misses are ~3% of pieces (22,673 distinct ones in 4 MB); merging them is ~30% of a cold-cache encode. A
   *   JS↔wasm crossing per piece would cost more than merging a typical 5-byte piece, so with kernels attached
   *   (useKernels) the misses leave placeholders and merge in ONE wasm call at the end (assembly/bpe.ts): ~15%
   *   faster cold, and 4–5× faster on a 50,000-character word. Without kernels the same loop runs in JS on
   *   Int32Array scratch buffers.
   * - Special tokens are found by one regex pass over the text before this loop, not per piece.
   */
  encodeMatches(text: string, re: RegExp, out: number[]): void {
    const batch = this.kernel !== null ? new MissBatch(out) : null;
    let sticky = this.sticky.get(re);
    if (sticky === undefined) {
      sticky = new RegExp(re.source, "uy");
      this.sticky.set(re, sticky);
    }
    for (let pos = 0; pos < text.length; ) {
      sticky.lastIndex = pos;
      if (!sticky.test(text)) {
        // No match starts here: skip to where the next one starts, as a global search would.
        re.lastIndex = pos;
        const m = re.exec(text);
        if (m === null) return;
        if (m.index === pos) pos += text.codePointAt(pos)! > 0xffff ? 2 : 1; // an empty match
        else pos = m.index;
        continue;
      }
      const end = sticky.lastIndex;
      if (end === pos) {
        pos += text.codePointAt(pos)! > 0xffff ? 2 : 1;
        continue;
      }
      if (batch === null) this.encodeRange(text, pos, end, out);
      else this.encodeOrDefer(text, pos, end, batch);
      pos = end;
    }
    if (batch !== null) this.resolve(batch);
  }

  /** Forgets the merged pieces cached so far (whole tokens stay). */
  clearCache(): void {
    this.pieces.dropCache();
  }

  /** Appends the ids of several pieces; with kernels attached, the pieces not yet cached merge in one wasm call. */
  encodePieces(pieces: string[], out: number[]): void {
    if (this.kernel === null) {
      for (let i = 0; i < pieces.length; i++) this.encodeRange(pieces[i], 0, pieces[i].length, out);
      return;
    }
    const batch = new MissBatch(out);
    for (let i = 0; i < pieces.length; i++) this.encodeOrDefer(pieces[i], 0, pieces[i].length, batch);
    this.resolve(batch);
  }

  /**
   * Runs the merge loop of uncached pieces in the wasm kernel, a batch per encode call (null: back to the JS loop).
   * Crossing into wasm per piece would cost more than merging a typical 5-byte piece in JS; a batch crosses once.
   */
  useKernels(kernels: Kernels | null): void {
    this.kernel?.free();
    if (kernels !== null) this.deriveAll(); // the kernel reads a complete table
    this.kernel = kernels === null ? null : new BpeMergeKernel(kernels, this.pairs.data, this.pairs.mask);
  }

  // Like encodeRange, but a miss leaves a placeholder (-1 - k for the k-th distinct miss) to be merged in a batch.
  private encodeOrDefer(text: string, start: number, end: number, batch: MissBatch): void {
    const h = PieceTable.hash(text, start, end);
    const out = batch.out;
    if (this.pushCached(text, start, end, h, out)) return;
    const piece = start === 0 && end === text.length ? text : text.slice(start, end);
    let k = batch.index.get(piece);
    if (k === undefined) {
      k = batch.pieces.length;
      batch.pieces.push(piece);
      batch.hashes.push(h);
      batch.index.set(piece, k);
    }
    if (batch.first < 0) batch.first = out.length;
    out.push(-1 - k);
  }

  private resolve(batch: MissBatch): void {
    const n = batch.pieces.length;
    if (n === 0) return;
    const starts = new Int32Array(n + 1);
    let syms = new Int32Array(1024);
    for (let p = 0; p < n; p++) {
      const m = this.symbols(batch.pieces[p]);
      if (starts[p] + m > syms.length) {
        const grown = new Int32Array(Math.max(syms.length * 2, starts[p] + m));
        grown.set(syms.subarray(0, starts[p]));
        syms = grown;
      }
      syms.set(symBuf.subarray(0, m), starts[p]);
      starts[p + 1] = starts[p] + m;
    }
    const merged = this.kernel!.mergeBatch(syms.subarray(0, starts[n]), starts);
    const results: number[][] = [];
    for (let p = 0; p < n; p++) {
      const ids = Array.from(merged.ids.subarray(merged.starts[p], merged.starts[p + 1]));
      results.push(ids);
      if (batch.pieces[p].length <= 256) this.pieces.addResult(batch.pieces[p], batch.hashes[p], ids);
    }
    const out = batch.out;
    const tail = out.splice(batch.first);
    for (const v of tail) {
      if (v >= 0) out.push(v);
      else for (const id of results[-1 - v]) out.push(id);
    }
  }

  // Appends the cached ids of text[start, end) (hash h) to out; false on a cache miss.
  private pushCached(text: string, start: number, end: number, h: number, out: number[]): boolean {
    const e = this.pieces.find(text, start, end, h);
    if (e < 0) return false;
    const v = this.pieces.value(e);
    if (v >= 0) out.push(v);
    else {
      const ids = this.pieces.result(v);
      for (let i = 0; i < ids.length; i++) out.push(ids[i]);
    }
    return true;
  }

  private encodeRange(text: string, start: number, end: number, out: number[]): void {
    const h = PieceTable.hash(text, start, end);
    if (this.pushCached(text, start, end, h, out)) return;
    const piece = start === 0 && end === text.length ? text : text.slice(start, end);
    const ids = this.merge(this.symbols(piece));
    if (piece.length <= 256) this.pieces.addResult(piece, h, ids); // long pieces rarely repeat
    for (let i = 0; i < ids.length; i++) out.push(ids[i]);
  }

  // The initial symbols of a piece into symBuf; returns their count.
  private symbols(piece: string): number {
    return this.options.byteLevel ? this.byteSymbols(piece) : this.charSymbols(piece);
  }

  private byteSymbols(piece: string): number {
    if (byteBuf.length < piece.length * 3) byteBuf = new Uint8Array(piece.length * 3);
    const n = utf8Into(byteBuf, piece);
    reserve(n);
    let m = 0;
    for (let i = 0; i < n; i++) {
      const id = this.byteIds[byteBuf[i]];
      if (id >= 0) symBuf[m++] = id; // HF drops a symbol it cannot map when there is no unk token
    }
    return m;
  }

  private charSymbols(piece: string): number {
    const { continuingSubwordPrefix: prefix, endOfWordSuffix: suffix, byteFallback, fuseUnk } = this.options;
    reserve(piece.length * 4 + 2);
    let m = 0;
    let unk = false; // a pending unknown run (HF adds it lazily so that fuse_unk can extend it)
    let first = true;
    for (let i = 0; i < piece.length; ) {
      const cp = piece.codePointAt(i)!;
      const len = cp > 0xffff ? 2 : 1;
      let s = piece.slice(i, i + len);
      i += len;
      if (!first && prefix) s = prefix + s;
      if (i >= piece.length && suffix) s = s + suffix;
      first = false;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        if (unk) { symBuf[m++] = this.unkId; unk = false; }
        symBuf[m++] = id;
        continue;
      }
      if (byteFallback) {
        const bytes = utf8(s);
        let ok = true;
        for (let k = 0; k < bytes.length; k++) if (this.byteIds[bytes[k]] < 0) ok = false;
        if (ok) {
          // HF appends the bytes without flushing a pending unknown first; kept for identical output.
          for (let k = 0; k < bytes.length; k++) symBuf[m++] = this.byteIds[bytes[k]];
          continue;
        }
      }
      if (this.unkId >= 0) {
        if (unk && !fuseUnk) symBuf[m++] = this.unkId;
        unk = true;
      }
    }
    if (unk) symBuf[m++] = this.unkId;
    return m;
  }

  // symBuf[0..n) → merged ids. Leftmost lowest-priority pair first, as tiktoken and HF do.
  private merge(n: number): number[] {
    if (n >= SMALL) return this.mergeHeap(n);
    const pairs = this.pairs;
    // startBuf[i]: first byte of symbol i. Only tiktoken models read it (pairSlot), and their symbols start as bytes.
    const bytes = n;
    for (let i = 0; i < n; i++) startBuf[i] = i;
    const end2 = (i: number) => (i + 2 < n ? startBuf[i + 2] : bytes);
    for (let i = 0; i + 1 < n; i++) prioBuf[i] = pairs.priority(this.pairSlot(symBuf[i], symBuf[i + 1], startBuf[i], end2(i)));
    while (n > 1) {
      let best = NONE;
      let at = -1;
      for (let i = 0; i + 1 < n; i++) {
        if (prioBuf[i] < best) {
          best = prioBuf[i];
          at = i;
        }
      }
      if (at < 0) break;
      symBuf[at] = pairs.mergedId(pairs.find(symBuf[at], symBuf[at + 1]));
      symBuf.copyWithin(at + 1, at + 2, n);
      startBuf.copyWithin(at + 1, at + 2, n);
      prioBuf.copyWithin(at + 1, at + 2, n - 1);
      n--;
      if (at + 1 < n) prioBuf[at] = pairs.priority(this.pairSlot(symBuf[at], symBuf[at + 1], startBuf[at], end2(at)));
      if (at > 0) prioBuf[at - 1] = pairs.priority(this.pairSlot(symBuf[at - 1], symBuf[at], startBuf[at - 1], end2(at - 1)));
    }
    return Array.from(symBuf.subarray(0, n));
  }

  // The same rule in O(n log n) for long pieces (a 50,000-character word): a min-heap of (priority, position) over
  // adjacent pairs, a linked list of live symbols, and lazy invalidation — a popped entry whose pair has changed is
  // skipped, and every pair that forms is pushed, so the smallest valid entry is always the next merge.
  private mergeHeap(n: number): number[] {
    const pairs = this.pairs;
    let size = 0;
    const push = (prio: number, pos: number): void => {
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heapPrio[p] < prio || (heapPrio[p] === prio && heapPos[p] < pos)) break;
        heapPrio[i] = heapPrio[p];
        heapPos[i] = heapPos[p];
        i = p;
      }
      heapPrio[i] = prio;
      heapPos[i] = pos;
    };
    for (let i = 0; i < n; i++) {
      prevBuf[i] = i - 1;
      nextBuf[i] = i + 1 < n ? i + 1 : -1;
    }
    // Symbol positions are byte offsets for tiktoken models (their symbols start as bytes): pairSlot needs them.
    const end = (i: number) => (i >= 0 ? i : n);
    for (let i = 0; i + 1 < n; i++) {
      const prio = pairs.priority(this.pairSlot(symBuf[i], symBuf[i + 1], i, end(nextBuf[i + 1])));
      if (prio !== NONE) push(prio, i);
    }
    while (size > 0) {
      const prio = heapPrio[0];
      const pos = heapPos[0];
      // pop: move the last entry down from the root
      const lp = heapPrio[--size];
      const lq = heapPos[size];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && (heapPrio[c + 1] < heapPrio[c] || (heapPrio[c + 1] === heapPrio[c] && heapPos[c + 1] < heapPos[c]))) c++;
        if (lp < heapPrio[c] || (lp === heapPrio[c] && lq < heapPos[c])) break;
        heapPrio[i] = heapPrio[c];
        heapPos[i] = heapPos[c];
        i = c;
      }
      heapPrio[i] = lp;
      heapPos[i] = lq;

      if (symBuf[pos] < 0) continue; // merged away
      const nx = nextBuf[pos];
      if (nx < 0) continue;
      const slot = pairs.find(symBuf[pos], symBuf[nx]);
      if (pairs.priority(slot) !== prio) continue; // stale
      symBuf[pos] = pairs.mergedId(slot);
      symBuf[nx] = -1;
      const after = nextBuf[nx];
      nextBuf[pos] = after;
      if (after >= 0) {
        prevBuf[after] = pos;
        const p = pairs.priority(this.pairSlot(symBuf[pos], symBuf[after], pos, end(nextBuf[after])));
        if (p !== NONE) push(p, pos);
      }
      const before = prevBuf[pos];
      if (before >= 0) {
        const p = pairs.priority(this.pairSlot(symBuf[before], symBuf[pos], before, end(after)));
        if (p !== NONE) push(p, before);
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = nextBuf[i]) out.push(symBuf[i]);
    return out;
  }

  /** The token's raw bytes for byte-level models (GPT-2 alphabet undone), else undefined. */
  tokenBytes(id: number): Uint8Array | undefined {
    return this.bytes[id];
  }

  toJSON(): Record<string, unknown> {
    this.deriveAll();
    const merges: [string, string][] = [];
    for (let i = 0; i < this.mergeList.length; i += 2) merges.push([this.tokens[this.mergeList[i]]!, this.tokens[this.mergeList[i + 1]]!]);
    const o = this.options;
    return {
      type: "BPE", dropout: null, unk_token: o.unkToken, continuing_subword_prefix: o.continuingSubwordPrefix,
      end_of_word_suffix: o.endOfWordSuffix, fuse_unk: o.fuseUnk, byte_fallback: o.byteFallback,
      ignore_merges: o.ignoreMerges, vocab: Object.fromEntries(this.vocab), merges,
    };
  }
}

