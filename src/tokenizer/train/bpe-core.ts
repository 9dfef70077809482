/**
 * The BPE merge loop shared by BpeTrainer and WordPieceTrainer, a transcription of Hugging Face's
 * `tokenizers/src/models/bpe/trainer.rs` (`BpeTrainer::do_train`) so that the merges come out the same.
 *
 * What has to match, and why it is done this way:
 * - Ids: special tokens first, then the alphabet sorted by code point, then prefixed/suffixed
 *   characters in the order words are met, then one id per new token string.
 * - The queue pops the highest count; ties go to the smallest (left id, right id) pair — ids, not
 *   strings, so "aa"+"a" loses to "a"+"b" when both occur twice.
 * - Counts are updated incrementally: a merge visits only the words listed in the popped queue entry,
 *   and each entry carries its own word list, as HF's `Merge { pos }` does. A stale entry (its count
 *   differs from the live count) is re-queued with the live count (lazy invalidation).
 * - When a merge builds a string that already exists (("a","bc") then ("ab","c")), HF reuses the id
 *   and later may merge the same pair twice; it keeps the last rank. We do the same.
 * HF itself is only deterministic where ties never depend on hash-map order: with a
 * continuing-subword prefix the ids of "##x" follow HF's random word order, so `symbolOrder` lets
 * a test replay a given HF run.
 */
import { mix, Ticker } from "./common.js";

export interface BpeCoreOptions {
  vocabSize: number;
  minFrequency: number;
  specialTokens: readonly string[];
  limitAlphabet?: number;
  initialAlphabet: readonly string[];
  continuingSubwordPrefix?: string;
  endOfWordSuffix?: string;
  /** Give these strings ids right after the alphabet, in this order (replays an HF run's "##x" ids). */
  symbolOrder?: readonly string[];
}

export interface BpeCoreResult {
  /** Token strings by id. */
  vocab: string[];
  /** Merges in rank order, as token-string pairs. */
  merges: [string, string][];
}

/** Open-addressing map (left id, right id) → dense pair index, so per-pair data lives in typed arrays. */
class PairIndex {
  private table: Int32Array;
  private mask: number;
  a = new Int32Array(1024);
  b = new Int32Array(1024);
  size = 0;

  constructor() {
    this.table = new Int32Array(4096).fill(-1);
    this.mask = 4095;
  }


  /** The pair's index, created if new (then `size` grows by one). */
  get(a: number, b: number): number {
    let h = mix(a, b) & this.mask;
    for (;;) {
      const p = this.table[h];
      if (p < 0) break;
      if (this.a[p] === a && this.b[p] === b) return p;
      h = (h + 1) & this.mask;
    }
    const p = this.size++;
    if (p === this.a.length) {
      this.a = grow(this.a, p * 2);
      this.b = grow(this.b, p * 2);
    }
    this.a[p] = a;
    this.b[p] = b;
    this.table[h] = p;
    if (this.size * 2 > this.table.length) this.rehash();
    return p;
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2).fill(-1);
    this.mask = this.table.length - 1;
    for (let p = 0; p < this.size; p++) {
      let h = mix(this.a[p], this.b[p]) & this.mask;
      while (this.table[h] >= 0) h = (h + 1) & this.mask;
      this.table[h] = p;
    }
  }
}

function grow<T extends Int32Array | Float64Array>(x: T, n: number): T {
  const y = new (x.constructor as new (n: number) => T)(n);
  y.set(x);
  return y;
}

/**
 * Max-heap of queue entries. An entry is (pair, count, word list); order: count descending, then
 * left id, right id ascending, then entry number (HF leaves equal entries to its heap's whims).
 */
class MergeQueue {
  heap: number[] = [];
  pair = new Int32Array(1024);
  count = new Float64Array(1024);
  words: (number[] | null)[] = [];
  private n = 0;

  constructor(private readonly pairs: PairIndex) {}

  add(pair: number, count: number, words: number[]): void {
    const e = this.n++;
    if (e === this.pair.length) {
      this.pair = grow(this.pair, e * 2);
      this.count = grow(this.count, e * 2);
    }
    this.pair[e] = pair;
    this.count[e] = count;
    this.words[e] = words;
    this.push(e);
  }

  private before(x: number, y: number): boolean {
    const cx = this.count[x];
    const cy = this.count[y];
    if (cx !== cy) return cx > cy;
    const px = this.pair[x];
    const py = this.pair[y];
    const ax = this.pairs.a[px];
    const ay = this.pairs.a[py];
    if (ax !== ay) return ax < ay;
    const bx = this.pairs.b[px];
    const by = this.pairs.b[py];
    if (bx !== by) return bx < by;
    return x < y;
  }

  push(e: number): void {
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(e, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = e;
  }

  pop(): number {
    const h = this.heap;
    const top = h[0];
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.before(h[r], h[l]) ? r : l;
        if (!this.before(h[c], last)) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

export async function trainBpeCore(
  words: readonly string[],
  wordCounts: readonly number[],
  o: BpeCoreOptions,
  ticker: Ticker,
): Promise<BpeCoreResult> {
  const w2id = new Map<string, number>();
  const id2w: string[] = [];
  const intern = (s: string): number => {
    let id = w2id.get(s);
    if (id === undefined) {
      id = id2w.length;
      id2w.push(s);
      w2id.set(s, id);
    }
    return id;
  };

  for (const s of o.specialTokens) intern(s);

  // Alphabet: characters weighted by word counts; the initial alphabet always wins the cut.
  const alphabet = new Map<string, number>();
  for (let i = 0; i < words.length; i++) {
    for (const ch of words[i]) alphabet.set(ch, (alphabet.get(ch) ?? 0) + wordCounts[i]);
  }
  for (const ch of o.initialAlphabet) alphabet.set(ch, Infinity);
  let kept = [...alphabet.entries()];
  if (o.limitAlphabet !== undefined && kept.length > o.limitAlphabet) {
    // HF's unstable sort leaves equal counts in any order; we cut the lowest code points first.
    kept.sort((x, y) => x[1] - y[1] || x[0].codePointAt(0)! - y[0].codePointAt(0)!);
    kept = kept.slice(kept.length - o.limitAlphabet);
  }
  kept.sort((x, y) => x[0].codePointAt(0)! - y[0].codePointAt(0)!);
  for (const [ch] of kept) intern(ch);
  for (const s of o.symbolOrder ?? []) intern(s);

  // Words as symbol ids in one flat array. A character not in the vocabulary (cut from the alphabet,
  // and not a special token either: HF looks it up in the whole vocabulary) is dropped.
  const prefix = o.continuingSubwordPrefix;
  const suffix = o.endOfWordSuffix;
  let total = 0;
  for (const w of words) total += w.length;
  const sym = new Int32Array(total);
  const start = new Int32Array(words.length);
  const len = new Int32Array(words.length);
  const count = Float64Array.from(wordCounts);
  let at = 0;
  for (let i = 0; i < words.length; i++) {
    start[i] = at;
    const chars = Array.from(words[i]);
    for (let j = 0; j < chars.length; j++) {
      let s = chars[j];
      if (!w2id.has(s)) continue;
      if (prefix !== undefined && j > 0) s = prefix + s;
      if (suffix !== undefined && j === chars.length - 1) s = s + suffix;
      sym[at++] = intern(s);
    }
    len[i] = at - start[i];
    if (ticker.due()) await ticker.pause();
  }
  ticker.report("tokenize words", words.length, words.length);

  // Pair counts and, per pair, the words holding it.
  const pairs = new PairIndex();
  let pairCount = new Float64Array(1024);
  let stamp = new Int32Array(1024).fill(-1);
  let lastWord = new Int32Array(1024).fill(-1);
  let stepSlot = new Int32Array(1024);
  let where: number[][] = [];
  const ensure = (): void => {
    if (pairs.size > pairCount.length) {
      const n = pairCount.length * 2;
      pairCount = grow(pairCount, n);
      const s = new Int32Array(n).fill(-1);
      s.set(stamp);
      stamp = s;
      const l = new Int32Array(n).fill(-1);
      l.set(lastWord);
      lastWord = l;
      stepSlot = grow(stepSlot, n);
    }
  };
  for (let i = 0; i < words.length; i++) {
    const s = start[i];
    for (let j = s; j < s + len[i] - 1; j++) {
      const p = pairs.get(sym[j], sym[j + 1]);
      ensure();
      pairCount[p] += count[i];
      if (lastWord[p] !== i) {
        lastWord[p] = i;
        (where[p] ??= []).push(i);
      }
    }
    if (ticker.due()) await ticker.pause();
  }
  ticker.report("count pairs", words.length, words.length);

  const queue = new MergeQueue(pairs);
  for (let p = 0; p < pairs.size; p++) {
    if (pairCount[p] > 0) queue.add(p, pairCount[p], where[p]);
  }
  where = [];

  const merges: [number, number, number][] = [];
  let step = 0;
  // Pairs a merge created (+1 changes) in this step, each with the words it appeared in: HF's where_to_update.
  const touched: number[] = [];
  const touchedWords: number[][] = [];
  const change = (a: number, b: number, delta: number, i: number): void => {
    const p = pairs.get(a, b);
    ensure();
    pairCount[p] += delta * count[i];
    if (delta > 0) {
      if (stamp[p] !== step) {
        stamp[p] = step;
        lastWord[p] = i;
        touched.push(p);
        touchedWords.push([i]);
        stepSlot[p] = touched.length - 1;
      } else if (lastWord[p] !== i) {
        lastWord[p] = i;
        touchedWords[stepSlot[p]].push(i);
      }
    }
  };

  while (w2id.size < o.vocabSize && queue.heap.length > 0) {
    const e = queue.pop();
    const p = queue.pair[e];
    if (queue.count[e] !== pairCount[p]) {
      queue.count[e] = pairCount[p];
      if (pairCount[p] > 0) queue.push(e);
      else queue.words[e] = null;
      continue;
    }
    const c = queue.count[e];
    if (c < 1 || o.minFrequency > c) break;

    const a = pairs.a[p];
    const b = pairs.b[p];
    let right = id2w[b];
    if (prefix !== undefined && prefix.length > 0 && right.startsWith(prefix)) right = right.slice(prefix.length);
    const merged = intern(id2w[a] + right);
    merges.push([a, b, merged]);

    step++;
    touched.length = 0;
    touchedWords.length = 0;
    for (const i of queue.words[e]!) {
      // In-place merge of every (a, b) in word i, left to right, reporting the neighbour pairs it
      // breaks (-1) and makes (+1) exactly as HF's Word::merge does.
      const s = start[i];
      const n = len[i];
      let w = 0;
      let r = 0;
      while (r < n) {
        if (sym[s + r] === a && r + 1 < n && sym[s + r + 1] === b) {
          if (w > 0) {
            const prev = sym[s + w - 1];
            change(prev, a, -1, i);
            change(prev, merged, 1, i);
          }
          sym[s + w++] = merged;
          r += 2;
          if (r < n) {
            const next = sym[s + r];
            change(b, next, -1, i);
            change(merged, next, 1, i);
          }
        } else {
          sym[s + w++] = sym[s + r++];
        }
      }
      len[i] = w;
    }
    queue.words[e] = null;
    for (let k = 0; k < touched.length; k++) {
      const q = touched[k];
      if (pairCount[q] > 0) queue.add(q, pairCount[q], touchedWords[k]);
    }
    ticker.report("merges", w2id.size, o.vocabSize);
    if (ticker.due(64)) await ticker.pause();
  }

  // A pair merged twice keeps its last rank, as HF's merge map does.
  const lastRank = new Map<string, number>();
  merges.forEach(([a, b], r) => lastRank.set(`${a} ${b}`, r));
  const out: [string, string][] = [];
  merges.forEach(([a, b], r) => {
    if (lastRank.get(`${a} ${b}`) === r) out.push([id2w[a], id2w[b]]);
  });
  return { vocab: id2w, merges: out };
}
