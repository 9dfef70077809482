/**
 * Unigram (SentencePiece) trainer, after sentencepiece's unigram_model_trainer.cc and Hugging Face's
 * `models/unigram/trainer.rs`:
 *
 *  1. words: Metaspace pre-tokens ("▁the") of each line, counted;
 *  2. seeds: every character, plus the substrings (≤ maxPieceLength characters) seen at least twice
 *     that are closed — no one-character extension occurs as often — scored count × length, the
 *     best `seedSize` kept; sentencepiece gets the same set from a suffix array (maximal repeats),
 *     here a substring trie over the distinct words does it with counts weighted by word frequency;
 *  3. EM: the E step runs forward-backward over each word's lattice of pieces and accumulates
 *     expected piece counts; the M step drops pieces expected fewer than 0.5 times and sets
 *     log p = ψ(count) − ψ(total) (the digamma "Bayesian" update both references use);
 *  4. pruning: after each pair of EM steps, each piece's loss — how much the corpus likelihood falls
 *     if its occurrences are re-spelled with its second-best segmentation — is estimated from a
 *     Viterbi pass, and the vocabulary shrinks to max(shrinkingFactor × size, 1.1 × vocabSize)
 *     keeping the costliest pieces;
 *  5. finalize: special tokens (the unknown token first), every character, then the best pieces
 *     by score up to vocabSize.
 *
 * Deliberate differences from the references (so results are close, not bit-identical): seed
 * counts are weighted by word frequency; single characters are never dropped during EM (their
 * expected count is floored at 0.5), so no lattice ever needs an unknown-token node while training;
 * the pruning loss uses each piece's own number of alternatives (HF uses the vocabulary size there).
 *
 * Performance notes (whole Brown, 8,000 pieces: ~2 s, spm_train ~5 s):
 * - the substring trie is one hash table over typed arrays, (parent, char) → node, with a mixing hash:
 *   with a plain multiplicative hash the low bits the mask keeps were poorly mixed, and probing was a
 *   third of the whole profile;
 * - counting records the node of every (word, start, length), so each word's lattice is read off
 *   that array once, with no lookups, and compacted to the surviving pieces after each pruning;
 * - a piece's own lattice (for its second-best spelling) walks suffix links from its prefixes;
 * - forward-backward runs in probability space, which saves an exp and a log per edge (ordinary words
 *   stay far above f64 underflow), falling back to log space for a word whose total underflows.
 */
import { check } from "../../errors.js";
import {
  addedTokens,
  checkAlphabet,
  checkInt,
  checkKnownKeys,
  checkRunOptions,
  checkTokens,
  countWords,
  emptyTokenizerJson,
  mix,
  startRun,
  Ticker,
  type TokenizerJson,
  type TrainerInput,
  type TrainRunOptions,
} from "./common.js";
import { countMetaspaceWords, METASPACE } from "./pretokenize.js";

export interface UnigramTrainerOptions extends TrainRunOptions {
  /** Final vocabulary size, special tokens and the unknown token included. Default 8000. */
  vocabSize?: number;
  /** Tokens that get the first ids (score 0), in order. Default []. */
  specialTokens?: string[];
  /** The unknown token; it gets id 0 unless it is one of `specialTokens`. Default "<unk>". */
  unkToken?: string;
  /** Each pruning keeps this fraction of the pieces (at least 1.1 × vocabSize). Default 0.75. */
  shrinkingFactor?: number;
  /** Longest piece, in characters. Default 16. */
  maxPieceLength?: number;
  /** EM iterations between two prunings. Default 2. */
  nSubIterations?: number;
  /** Number of seed pieces. Default 1,000,000. */
  seedSize?: number;
  /** Characters that must be pieces even if the corpus lacks them. Default []. */
  initialAlphabet?: string[];
}

const KEYS = [
  "vocabSize",
  "specialTokens",
  "unkToken",
  "shrinkingFactor",
  "maxPieceLength",
  "nSubIterations",
  "seedSize",
  "initialAlphabet",
  "onProgress",
  "signal",
] as const;

/** ψ(x), as sentencepiece computes it: recurrence up to 7, then the asymptotic series. */
export function digamma(x: number): number {
  let result = 0;
  while (x < 7) {
    result -= 1 / x;
    x += 1;
  }
  x -= 0.5;
  const xx = 1 / x;
  const xx2 = xx * xx;
  const xx4 = xx2 * xx2;
  return result + Math.log(x) + xx2 / 24 - (7 / 960) * xx4 + (31 / 8064) * xx4 * xx2 - (127 / 30720) * xx4 * xx4;
}

/** (parent node, character) → child node over typed arrays; node 0 is the empty string. */
class SubstringTrie {
  parent = new Int32Array(1 << 16);
  char = new Int32Array(1 << 16);
  count = new Float64Array(1 << 16);
  link = new Int32Array(1 << 16);
  depth = new Uint8Array(1 << 16);
  size = 1;
  private table = new Int32Array(1 << 17).fill(-1);
  private mask = (1 << 17) - 1;

  private slot(p: number, c: number): number {
    let h = mix(p, c) & this.mask;
    for (;;) {
      const n = this.table[h];
      if (n < 0 || (this.parent[n] === p && this.char[n] === c)) return h;
      h = (h + 1) & this.mask;
    }
  }

  child(p: number, c: number): number {
    return this.table[this.slot(p, c)];
  }

  /** Adds the child (p, c), known to be absent. */
  add(p: number, c: number): number {
    const n = this.size++;
    if (n === this.parent.length) {
      const m = n * 2;
      this.parent = resize(this.parent, m);
      this.char = resize(this.char, m);
      this.count = resize(this.count, m);
      this.link = resize(this.link, m);
      this.depth = resize(this.depth, m);
    }
    this.parent[n] = p;
    this.char[n] = c;
    this.depth[n] = this.depth[p] + 1;
    this.table[this.slot(p, c)] = n;
    if (this.size * 2 > this.table.length) {
      this.table = new Int32Array(this.table.length * 2).fill(-1);
      this.mask = this.table.length - 1;
      for (let k = 1; k < this.size; k++) this.table[this.slot(this.parent[k], this.char[k])] = k;
    }
    return n;
  }
}

function resize<T extends Int32Array | Float64Array | Uint8Array>(x: T, n: number): T {
  const y = new (x.constructor as new (n: number) => T)(n);
  y.set(x.subarray(0, Math.min(n, x.length)));
  return y;
}

/** A growable list of lattice edges (start, end, piece) in compressed rows, one row per word. */
class Edges {
  from = new Int32Array(1 << 16);
  to = new Int32Array(1 << 16);
  piece = new Int32Array(1 << 16);
  n = 0;
  push(from: number, to: number, piece: number): void {
    if (this.n === this.from.length) {
      const m = this.n * 2;
      this.from = resize(this.from, m);
      this.to = resize(this.to, m);
      this.piece = resize(this.piece, m);
    }
    this.from[this.n] = from;
    this.to[this.n] = to;
    this.piece[this.n] = piece;
    this.n++;
  }
}

export class UnigramTrainer {
  private readonly o: {
    vocabSize: number;
    specialTokens: string[];
    unkToken: string;
    shrinkingFactor: number;
    maxPieceLength: number;
    nSubIterations: number;
    seedSize: number;
    initialAlphabet: string[];
    run: TrainRunOptions;
  };

  constructor(options: UnigramTrainerOptions = {}) {
    const who = "UnigramTrainer";
    checkKnownKeys(who, options, KEYS);
    checkRunOptions(who, options);
    const unkToken = options.unkToken ?? "<unk>";
    check(typeof unkToken === "string" && unkToken.length > 0, "BAD_ARGUMENT", `${who}: unkToken must be a non-empty string`);
    const shrinkingFactor = options.shrinkingFactor ?? 0.75;
    check(
      typeof shrinkingFactor === "number" && shrinkingFactor > 0 && shrinkingFactor < 1,
      "BAD_ARGUMENT",
      `${who}: shrinkingFactor must be a number in (0, 1), got ${String(shrinkingFactor)}`,
    );
    this.o = {
      vocabSize: checkInt(who, "vocabSize", options.vocabSize ?? 8000, 1, 1 << 24),
      specialTokens: checkTokens(who, "specialTokens", options.specialTokens ?? []),
      unkToken,
      shrinkingFactor,
      maxPieceLength: checkInt(who, "maxPieceLength", options.maxPieceLength ?? 16, 1, 255),
      nSubIterations: checkInt(who, "nSubIterations", options.nSubIterations ?? 2, 1, 100),
      seedSize: checkInt(who, "seedSize", options.seedSize ?? 1_000_000, 1),
      initialAlphabet: checkAlphabet(who, options.initialAlphabet ?? []),
      run: { onProgress: options.onProgress, signal: options.signal },
    };
  }

  /**
   * Trains on `input` and returns the tokenizer.json object. A sequence is a line: its line end is
   * dropped (as sentencepiece reads lines), spaces become "▁".
   */
  async train(input: TrainerInput, run: TrainRunOptions = {}): Promise<TokenizerJson> {
    const who = "UnigramTrainer.train";
    const o = this.o;
    const ticker = startRun(who, run, o.run);
    const words = await countWords(input, who, ticker, (counts, seq) => countMetaspaceWords(counts, seq.replace(/\r?\n$/, "")));
    const pieces = await trainUnigram(words, o, ticker);
    const specials = [...o.specialTokens];
    let unkId = specials.indexOf(o.unkToken);
    if (unkId < 0) {
      specials.unshift(o.unkToken);
      unkId = 0;
    }
    const vocab: [string, number][] = [...specials.map((s): [string, number] => [s, 0]), ...pieces];
    const idOf = new Map(vocab.map(([s], i) => [s, i]));
    const metaspace = { type: "Metaspace", replacement: METASPACE, prepend_scheme: "always", split: true };
    return {
      ...emptyTokenizerJson(),
      added_tokens: addedTokens(specials, (s) => idOf.get(s)!),
      pre_tokenizer: metaspace,
      decoder: { ...metaspace },
      model: { type: "Unigram", unk_id: unkId, vocab, byte_fallback: false },
    };
  }
}

async function trainUnigram(
  wordCounts: Map<string, number>,
  o: UnigramTrainer["o"],
  ticker: Ticker,
): Promise<[string, number][]> {
  const maxLen = o.maxPieceLength;
  const specialCount = o.specialTokens.length + (o.specialTokens.includes(o.unkToken) ? 0 : 1);
  const reserved = new Set([o.unkToken, ...o.specialTokens]);

  // Words as character ids, in one flat array.
  const charId = new Map<number, number>();
  const chars: string[] = [];
  const charCount: number[] = [];
  let totalChars = 0;
  for (const w of wordCounts.keys()) totalChars += w.length;
  const text = new Int32Array(totalChars);
  const nWords = wordCounts.size;
  const wStart = new Int32Array(nWords + 1);
  const wCount = new Float64Array(nWords);
  let at = 0;
  let wi = 0;
  let maxWordLen = 0;
  for (const [w, k] of wordCounts) {
    wStart[wi] = at;
    wCount[wi] = k;
    for (const ch of w) {
      const cp = ch.codePointAt(0)!;
      let id = charId.get(cp);
      if (id === undefined) {
        id = chars.length;
        charId.set(cp, id);
        chars.push(ch);
        charCount.push(0);
      }
      charCount[id] += k;
      text[at++] = id;
    }
    maxWordLen = Math.max(maxWordLen, at - wStart[wi]);
    wi++;
  }
  wStart[nWords] = at;
  const extraChars = o.initialAlphabet.filter((c) => !charId.has(c.codePointAt(0)!) && !reserved.has(c));
  const required = chars.filter((c) => !reserved.has(c)).length + new Set(extraChars).size;
  check(
    o.vocabSize >= specialCount + required,
    "BAD_ARGUMENT",
    () => `UnigramTrainer: vocabSize ${o.vocabSize} cannot hold the ${required} characters of the corpus plus ${specialCount} special tokens`,
  );

  // 1. Count every substring of at most maxLen characters; remember each one's suffix (drop the first char)
  // and, per word, the node of each (start, length) in start order, so building lattices needs no lookups.
  const trie = new SubstringTrie();
  let prev = new Int32Array(maxLen + 1);
  let cur = new Int32Array(maxLen + 1);
  const occStart = new Float64Array(nWords + 1);
  let occTotal = 0;
  for (let w = 0; w < nWords; w++) {
    occStart[w] = occTotal;
    const L = wStart[w + 1] - wStart[w];
    occTotal += L <= maxLen ? (L * (L + 1)) / 2 : maxLen * (L - maxLen) + (maxLen * (maxLen + 1)) / 2;
  }
  occStart[nWords] = occTotal;
  const occ = new Int32Array(occTotal);
  for (let w = 0; w < nWords; w++) {
    const s = wStart[w];
    const L = wStart[w + 1] - s;
    const k = wCount[w];
    let at = occStart[w + 1];
    prev[0] = 0;
    for (let i = L - 1; i >= 0; i--) {
      let node = 0;
      cur[0] = 0;
      const m = Math.min(maxLen, L - i);
      at -= m;
      for (let len = 1; len <= m; len++) {
        const c = text[s + i + len - 1];
        let next = trie.child(node, c);
        if (next < 0) {
          next = trie.add(node, c);
          trie.link[next] = prev[len - 1];
        }
        trie.count[next] += k;
        occ[at + len - 1] = next;
        cur[len] = next;
        node = next;
      }
      const t = prev;
      prev = cur;
      cur = t;
    }
    if (ticker.due()) await ticker.pause();
  }

  // 2. Seeds: characters, then closed substrings seen twice or more, best count × length first.
  const open = new Uint8Array(trie.size);
  for (let t = 1; t < trie.size; t++) {
    if (trie.depth[t] < 2) continue;
    if (trie.count[t] === trie.count[trie.parent[t]]) open[trie.parent[t]] = 1;
    if (trie.count[t] === trie.count[trie.link[t]]) open[trie.link[t]] = 1;
  }
  const candidates: number[] = [];
  for (let t = 1; t < trie.size; t++) {
    if (trie.depth[t] >= 2 && trie.count[t] >= 2 && !open[t]) candidates.push(t);
  }
  const score = (t: number): number => trie.count[t] * trie.depth[t];
  candidates.sort((x, y) => score(y) - score(x) || x - y);
  const pieceOfNode = new Int32Array(trie.size).fill(-1);
  const pieceNode: number[] = [];
  const seedScore: number[] = [];
  const charOrder = chars.map((_, i) => i).sort((x, y) => charCount[y] - charCount[x] || x - y);
  for (const c of charOrder) {
    const node = trie.child(0, c);
    pieceOfNode[node] = pieceNode.length;
    pieceNode.push(node);
    seedScore.push(charCount[c]);
  }
  for (const t of candidates) {
    if (pieceNode.length >= Math.max(o.seedSize, chars.length)) break;
    pieceOfNode[t] = pieceNode.length;
    pieceNode.push(t);
    seedScore.push(score(t));
  }
  const P = pieceNode.length;
  const nChars = chars.length;
  const logp = new Float64Array(P);
  const logTotal = Math.log(seedScore.reduce((a, b) => a + b, 0));
  for (let p = 0; p < P; p++) logp[p] = Math.log(seedScore[p]) - logTotal;
  const alive = new Uint8Array(P).fill(1);
  let nAlive = P;
  ticker.report("seeds", P, P);

  // Each word's lattice: the pieces that start at each position, shortest first.
  let edges = new Edges();
  let eStart = new Int32Array(nWords + 1);
  for (let w = 0; w < nWords; w++) {
    eStart[w] = edges.n;
    const L = wStart[w + 1] - wStart[w];
    let at = occStart[w];
    for (let i = 0; i < L; i++) {
      const m = Math.min(maxLen, L - i);
      for (let len = 1; len <= m; len++) {
        const p = pieceOfNode[occ[at++]];
        if (p >= 0) edges.push(i, i + len, p);
      }
    }
    if (ticker.due()) await ticker.pause();
  }
  eStart[nWords] = edges.n;

  const compact = (): void => {
    const next = new Edges();
    const nextStart = new Int32Array(nWords + 1);
    for (let w = 0; w < nWords; w++) {
      nextStart[w] = next.n;
      for (let e = eStart[w]; e < eStart[w + 1]; e++) {
        if (alive[edges.piece[e]]) next.push(edges.from[e], edges.to[e], edges.piece[e]);
      }
    }
    nextStart[nWords] = next.n;
    edges = next;
    eStart = nextStart;
  };

  const alpha = new Float64Array(maxWordLen + 1);
  const beta = new Float64Array(maxWordLen + 1);
  const prob = new Float64Array(P);

  // E step: expected[p] = Σ_words count × P(piece p is used | word).
  const eStep = async (expected: Float64Array): Promise<void> => {
    expected.fill(0);
    for (let p = 0; p < P; p++) prob[p] = alive[p] ? Math.exp(logp[p]) : 0;
    const { from, to, piece } = edges;
    for (let w = 0; w < nWords; w++) {
      const L = wStart[w + 1] - wStart[w];
      const e0 = eStart[w];
      const e1 = eStart[w + 1];
      alpha.fill(0, 0, L + 1);
      alpha[0] = 1;
      for (let e = e0; e < e1; e++) alpha[to[e]] += alpha[from[e]] * prob[piece[e]];
      const Z = alpha[L];
      if (!(Z > 1e-280)) {
        logSpaceMarginals(w, expected);
        continue;
      }
      beta.fill(0, 0, L + 1);
      beta[L] = 1;
      for (let e = e1 - 1; e >= e0; e--) beta[from[e]] += prob[piece[e]] * beta[to[e]];
      const scale = wCount[w] / Z;
      for (let e = e0; e < e1; e++) {
        expected[piece[e]] += alpha[from[e]] * prob[piece[e]] * beta[to[e]] * scale;
      }
      if (ticker.due()) await ticker.pause();
    }
  };

  // The same marginals in log space, for the rare word whose total probability underflows.
  const logSpaceMarginals = (w: number, expected: Float64Array): void => {
    const L = wStart[w + 1] - wStart[w];
    const e0 = eStart[w];
    const e1 = eStart[w + 1];
    const { from, to, piece } = edges;
    const la = new Float64Array(L + 1).fill(-Infinity);
    const lb = new Float64Array(L + 1).fill(-Infinity);
    la[0] = 0;
    for (let e = e0; e < e1; e++) la[to[e]] = logAdd(la[to[e]], la[from[e]] + (alive[piece[e]] ? logp[piece[e]] : -Infinity));
    lb[L] = 0;
    for (let e = e1 - 1; e >= e0; e--) lb[from[e]] = logAdd(lb[from[e]], lb[to[e]] + (alive[piece[e]] ? logp[piece[e]] : -Infinity));
    const logZ = la[L];
    for (let e = e0; e < e1; e++) {
      if (!alive[piece[e]]) continue;
      expected[piece[e]] += wCount[w] * Math.exp(la[from[e]] + logp[piece[e]] + lb[to[e]] - logZ);
    }
  };

  // M step: drop rare pieces (never a character), log p = ψ(count) − ψ(total).
  const mStep = (expected: Float64Array): void => {
    let sum = 0;
    for (let p = 0; p < P; p++) {
      if (!alive[p]) continue;
      if (p < nChars) expected[p] = Math.max(expected[p], 0.5);
      else if (expected[p] < 0.5) {
        alive[p] = 0;
        logp[p] = -Infinity;
        nAlive--;
        continue;
      }
      sum += expected[p];
    }
    const dsum = digamma(sum);
    for (let p = 0; p < P; p++) if (alive[p]) logp[p] = digamma(expected[p]) - dsum;
  };

  // Viterbi over the alive pieces of one lattice; returns the path's pieces (reused buffer).
  const best = new Float64Array(Math.max(maxWordLen, maxLen) + 1);
  const back = new Int32Array(Math.max(maxWordLen, maxLen) + 1);
  const path: number[] = [];
  const viterbi = (from: Int32Array, to: Int32Array, piece: Int32Array, e0: number, e1: number, L: number, skip: number): number[] => {
    best.fill(-Infinity, 0, L + 1);
    best[0] = 0;
    for (let e = e0; e < e1; e++) {
      if (e === skip) continue;
      const v = best[from[e]] + logp[piece[e]];
      // Strictly greater keeps the earliest start on ties, as HF's Lattice::viterbi does.
      if (v > best[to[e]]) {
        best[to[e]] = v;
        back[to[e]] = e;
      }
    }
    path.length = 0;
    if (best[L] === -Infinity) return path;
    for (let pos = L; pos > 0; pos = from[back[pos]]) path.push(piece[back[pos]]);
    return path.reverse();
  };

  // A piece's own lattice (its substrings that are alive pieces), to find its second-best segmentation.
  // The node of s[i..j) is reached from the prefix s[0..j) by i suffix links: no hash lookups.
  const own = new Edges();
  const prefixNode = new Int32Array(maxLen + 1);
  const sub = new Int32Array(maxLen * (maxLen + 1));
  const ownLattice = (p: number): number => {
    let node = pieceNode[p];
    const L = trie.depth[node];
    for (let j = L; j > 0; j--) {
      prefixNode[j] = node;
      node = trie.parent[node];
    }
    for (let j = 1; j <= L; j++) {
      let n = prefixNode[j];
      for (let i = 0; i < j; i++) {
        sub[i * (maxLen + 1) + j] = n;
        n = trie.link[n];
      }
    }
    own.n = 0;
    for (let i = 0; i < L; i++) {
      for (let j = i + 1; j <= L; j++) {
        const q = pieceOfNode[sub[i * (maxLen + 1) + j]];
        if (q >= 0 && alive[q]) own.push(i, j, q);
      }
    }
    return L;
  };

  const prune = async (): Promise<void> => {
    const freq = new Float64Array(P);
    let vsum = 0;
    for (let w = 0; w < nWords; w++) {
      vsum += wCount[w];
      const L = wStart[w + 1] - wStart[w];
      for (const p of viterbi(edges.from, edges.to, edges.piece, eStart[w], eStart[w + 1], L, -1)) freq[p] += wCount[w];
      if (ticker.due()) await ticker.pause();
    }
    let sum = 0;
    for (let p = 0; p < P; p++) sum += freq[p];
    const logsum = Math.log(sum);
    const keep: number[] = [];
    const loss: [number, number][] = [];
    for (let p = 0; p < P; p++) {
      if (!alive[p]) continue;
      if (p < nChars) {
        keep.push(p);
        continue;
      }
      const L = ownLattice(p);
      let whole = -1;
      for (let e = 0; e < own.n; e++) if (own.from[e] === 0 && own.to[e] === L && own.piece[e] === p) whole = e;
      const bestPath = viterbi(own.from, own.to, own.piece, 0, own.n, L, -1);
      if (bestPath.length !== 1) {
        // Its own best spelling is a split: it only survives if the corpus still uses it.
        if (freq[p] > 0) keep.push(p);
        continue;
      }
      const alts = [...viterbi(own.from, own.to, own.piece, 0, own.n, L, whole)];
      if (alts.length === 0) {
        keep.push(p);
        continue;
      }
      if (freq[p] === 0) continue;
      const f = freq[p] / vsum;
      const logprobSp = Math.log(freq[p]) - logsum;
      const logsumAlt = Math.log(sum + freq[p] * (alts.length - 1));
      let logprobAlt = 0;
      for (const q of alts) logprobAlt += Math.log(freq[q] + freq[p]) - logsumAlt;
      loss.push([p, f * (logprobSp - logprobAlt)]);
      if (ticker.due()) await ticker.pause();
    }
    const desired = Math.floor((o.vocabSize * 11) / 10);
    const target = Math.max(desired, Math.floor(nAlive * o.shrinkingFactor));
    loss.sort((x, y) => y[1] - x[1] || x[0] - y[0]);
    for (const [p] of loss) {
      if (keep.length >= target) break;
      keep.push(p);
    }
    alive.fill(0);
    for (const p of keep) alive[p] = 1;
    for (let p = 0; p < P; p++) if (!alive[p]) logp[p] = -Infinity;
    nAlive = keep.length;
    compact();
  };

  const desired = Math.floor((o.vocabSize * 11) / 10);
  const expected = new Float64Array(P);
  const rounds = Math.max(1, Math.ceil(Math.log(desired / nAlive) / Math.log(o.shrinkingFactor)) + 1);
  let done = 0;
  for (;;) {
    for (let it = 0; it < o.nSubIterations; it++) {
      await eStep(expected);
      mStep(expected);
      ticker.report("em", ++done, Math.max(done, rounds * o.nSubIterations));
    }
    if (nAlive <= desired) break;
    const before = nAlive;
    await prune();
    if (nAlive >= before) break;
  }

  // Finalize: every character (scored as trained, or just below the worst piece), then the best pieces.
  const nodeString = (node: number): string => {
    let s = "";
    for (let n = node; n > 0; n = trie.parent[n]) s = chars[trie.char[n]] + s;
    return s;
  };
  let minScore = Infinity;
  for (let p = 0; p < P; p++) if (alive[p]) minScore = Math.min(minScore, logp[p]);
  const out: [string, number][] = [];
  const inserted = new Set(reserved);
  for (let p = 0; p < nChars; p++) {
    const s = chars[trie.char[pieceNode[p]]];
    if (inserted.has(s)) continue;
    inserted.add(s);
    out.push([s, logp[p]]);
  }
  let penalty = 0;
  for (const c of extraChars) {
    if (inserted.has(c)) continue;
    inserted.add(c);
    out.push([c, minScore + penalty]);
    penalty += 1e-4;
  }
  const rest: number[] = [];
  for (let p = nChars; p < P; p++) if (alive[p]) rest.push(p);
  rest.sort((x, y) => logp[y] - logp[x] || x - y);
  for (const p of rest) {
    if (out.length + specialCount >= o.vocabSize) break;
    const s = nodeString(pieceNode[p]);
    if (inserted.has(s)) continue;
    inserted.add(s);
    out.push([s, logp[p]]);
  }
  out.sort((x, y) => y[1] - x[1]);
  return out;
}

function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/**
 * Viterbi segmentation of one pre-token with a Unigram vocabulary, as HF's Unigram model does it:
 * best total log-probability, ties to the earlier piece start, and a character no piece covers
 * becomes the unknown token with score (lowest score − 10). Returns the piece strings.
 */
export function unigramSegment(vocab: readonly (readonly [string, number])[], word: string, unkToken = "<unk>"): string[] {
  const scores = new Map<string, number>();
  let minScore = Infinity;
  let maxPieceLength = 1;
  for (const [s, v] of vocab) {
    scores.set(s, v);
    minScore = Math.min(minScore, v);
    maxPieceLength = Math.max(maxPieceLength, [...s].length);
  }
  const cs = Array.from(word);
  const L = cs.length;
  const best = new Float64Array(L + 1).fill(-Infinity);
  const from = new Int32Array(L + 1);
  best[0] = 0;
  for (let i = 0; i < L; i++) {
    if (best[i] === -Infinity) continue;
    let s = "";
    let single = false;
    for (let len = 1; len <= Math.min(L - i, maxPieceLength); len++) {
      s += cs[i + len - 1];
      const v = scores.get(s);
      if (v === undefined) continue;
      if (len === 1) single = true;
      if (best[i] + v > best[i + len]) {
        best[i + len] = best[i] + v;
        from[i + len] = i;
      }
    }
    if (!single && best[i] + minScore - 10 > best[i + 1]) {
      best[i + 1] = best[i] + minScore - 10;
      from[i + 1] = i;
    }
  }
  const out: string[] = [];
  for (let pos = L; pos > 0; pos = from[pos]) {
    const piece = cs.slice(from[pos], pos).join("");
    out.push(scores.has(piece) ? piece : unkToken);
  }
  return out.reverse();
}
