// BPE merge loop over a batch of pieces (byte-level or character-level: the symbols are token ids either way).
//
// The merge table is open addressing over `mask + 1` slots of four i32: [left, right, priority, merged], left = -1
// for an empty slot, probed linearly from pair_hash(left, right) & mask. src/tokenizer/bpe.ts builds it with the
// same hash and uses the same layout for its JS loop, so the wasm and JS paths read one table format.
// Rule (tiktoken's and Hugging Face's): repeatedly merge the adjacent pair with the lowest priority, leftmost first.
//
// Batch ABI: piece p's symbols are syms[starts[p] .. starts[p+1]); its merged ids are written to
// out[outStarts[p] .. outStarts[p+1]) with outStarts[0] = 0. `out` needs starts[n] ints (merging only shrinks).
// `work` needs bpe_work_ints(maxLen) ints, maxLen being the longest piece.

const NONE: i32 = 0x7fffffff;
const SMALL: i32 = 48; // below this many symbols the quadratic scan beats the heap's bookkeeping

// @ts-ignore: decorator
@inline function pairHash(a: i32, b: i32): i32 {
  return ((a ^ (b * <i32>0x9e3779b1)) * <i32>0x85ebca77) ^ <i32>(<u32>a >>> 7);
}

// Slot address of (a, b), or 0 when absent (slot addresses are never 0: the table lives above the heap base).
// @ts-ignore: decorator
@inline function find(table: usize, mask: i32, a: i32, b: i32): usize {
  let h = pairHash(a, b) & mask;
  while (true) {
    const s = table + (<usize>h << 4);
    const l = load<i32>(s);
    if (l == a && load<i32>(s, 4) == b) return s;
    if (l == -1) return 0;
    h = (h + 1) & mask;
  }
}

// @ts-ignore: decorator
@inline function prioOf(slot: usize): i32 {
  return slot == 0 ? NONE : load<i32>(slot, 8);
}

/** Ints of work space bpe_merge_batch needs for pieces of up to maxLen symbols. */
export function bpe_work_ints(maxLen: i32): i32 {
  return 9 * maxLen + 16;
}

// out (n pieces, ragged), outStarts (n+1) ← merge(syms (ragged), starts (n+1)); table has mask+1 slots; work scratch.
export function bpe_merge_batch(out: usize, outStarts: usize, syms: usize, starts: usize, n: i32, table: usize, mask: i32, work: usize): void {
  let o: i32 = 0;
  store<i32>(outStarts, 0);
  for (let p = 0; p < n; p++) {
    const s0 = load<i32>(starts + (<usize>p << 2));
    const len = load<i32>(starts + (<usize>(p + 1) << 2)) - s0;
    const sym = syms + (<usize>s0 << 2);
    const m = len < SMALL ? mergeSmall(sym, len, table, mask, work) : mergeHeap(sym, len, table, mask, work);
    // mergeHeap leaves the survivors linked through `next` in work; mergeSmall compacts them in place.
    if (len < SMALL) {
      memory.copy(out + (<usize>o << 2), sym, <usize>m << 2);
    } else {
      const next = work + (<usize>len << 2);
      for (let i = 0, k = 0; i >= 0; i = load<i32>(next + (<usize>i << 2)), k++) {
        store<i32>(out + (<usize>(o + k) << 2), load<i32>(sym + (<usize>i << 2)));
      }
    }
    o += m;
    store<i32>(outStarts + (<usize>(p + 1) << 2), o);
  }
}

// Quadratic scan, symbols compacted in place; returns the merged count. prio[i] is the priority of (sym[i], sym[i+1]).
function mergeSmall(sym: usize, n: i32, table: usize, mask: i32, prio: usize): i32 {
  for (let i = 0; i + 1 < n; i++) {
    store<i32>(prio + (<usize>i << 2), prioOf(find(table, mask, load<i32>(sym + (<usize>i << 2)), load<i32>(sym + (<usize>(i + 1) << 2)))));
  }
  while (n > 1) {
    let best = NONE;
    let at = -1;
    for (let i = 0; i + 1 < n; i++) {
      const p = load<i32>(prio + (<usize>i << 2));
      if (p < best) {
        best = p;
        at = i;
      }
    }
    if (at < 0) break;
    const a = sym + (<usize>at << 2);
    store<i32>(a, load<i32>(find(table, mask, load<i32>(a), load<i32>(a, 4)), 12));
    memory.copy(a + 4, a + 8, <usize>(n - at - 2) << 2);
    memory.copy(prio + (<usize>(at + 1) << 2), prio + (<usize>(at + 2) << 2), <usize>max(0, n - at - 3) << 2);
    n--;
    if (at + 1 < n) store<i32>(prio + (<usize>at << 2), prioOf(find(table, mask, load<i32>(a), load<i32>(a, 4))));
    if (at > 0) store<i32>(prio + (<usize>(at - 1) << 2), prioOf(find(table, mask, load<i32>(a - 4), load<i32>(a))));
  }
  return n;
}

// O(n log n): a min-heap of (priority, position) over adjacent pairs, a linked list of live symbols, and lazy
// invalidation (a popped entry whose pair changed is skipped; every pair that forms is pushed). Work layout:
// prev (n) | next (n) | heap of (prio, pos) pairs (at most 3n entries). Returns the merged count.
function mergeHeap(sym: usize, n: i32, table: usize, mask: i32, work: usize): i32 {
  const prev = work;
  const next = work + (<usize>n << 2);
  const heap = work + (<usize>(2 * n) << 2);
  let size = 0;
  for (let i = 0; i < n; i++) {
    store<i32>(prev + (<usize>i << 2), i - 1);
    store<i32>(next + (<usize>i << 2), i + 1 < n ? i + 1 : -1);
  }
  for (let i = 0; i + 1 < n; i++) {
    const p = prioOf(find(table, mask, load<i32>(sym + (<usize>i << 2)), load<i32>(sym + (<usize>(i + 1) << 2))));
    if (p != NONE) size = push(heap, size, p, i);
  }
  let count = n;
  while (size > 0) {
    const prio = load<i32>(heap);
    const pos = load<i32>(heap, 4);
    size = pop(heap, size);
    const a = sym + (<usize>pos << 2);
    const left = load<i32>(a);
    if (left < 0) continue; // merged away
    const nx = load<i32>(next + (<usize>pos << 2));
    if (nx < 0) continue;
    const slot = find(table, mask, left, load<i32>(sym + (<usize>nx << 2)));
    if (prioOf(slot) != prio) continue; // stale
    const merged = load<i32>(slot, 12);
    store<i32>(a, merged);
    store<i32>(sym + (<usize>nx << 2), -1);
    count--;
    const after = load<i32>(next + (<usize>nx << 2));
    store<i32>(next + (<usize>pos << 2), after);
    if (after >= 0) {
      store<i32>(prev + (<usize>after << 2), pos);
      const p = prioOf(find(table, mask, merged, load<i32>(sym + (<usize>after << 2))));
      if (p != NONE) size = push(heap, size, p, pos);
    }
    const before = load<i32>(prev + (<usize>pos << 2));
    if (before >= 0) {
      const p = prioOf(find(table, mask, load<i32>(sym + (<usize>before << 2)), merged));
      if (p != NONE) size = push(heap, size, p, before);
    }
  }
  return count;
}

// @ts-ignore: decorator
@inline function less(p1: i32, q1: i32, p2: i32, q2: i32): bool {
  return p1 < p2 || (p1 == p2 && q1 < q2);
}

function push(heap: usize, size: i32, prio: i32, pos: i32): i32 {
  let i = size;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const e = heap + (<usize>parent << 3);
    if (less(load<i32>(e), load<i32>(e, 4), prio, pos)) break;
    store<i64>(heap + (<usize>i << 3), load<i64>(e));
    i = parent;
  }
  store<i32>(heap + (<usize>i << 3), prio);
  store<i32>(heap + (<usize>i << 3), pos, 4);
  return size + 1;
}

function pop(heap: usize, size: i32): i32 {
  size--;
  const last = heap + (<usize>size << 3);
  const lp = load<i32>(last);
  const lq = load<i32>(last, 4);
  let i = 0;
  while (true) {
    let c = 2 * i + 1;
    if (c >= size) break;
    const ce = heap + (<usize>c << 3);
    if (c + 1 < size && less(load<i32>(ce, 8), load<i32>(ce, 12), load<i32>(ce), load<i32>(ce, 4))) c++;
    const e = heap + (<usize>c << 3);
    if (less(lp, lq, load<i32>(e), load<i32>(e, 4))) break;
    store<i64>(heap + (<usize>i << 3), load<i64>(e));
    i = c;
  }
  store<i32>(heap + (<usize>i << 3), lp);
  store<i32>(heap + (<usize>i << 3), lq, 4);
  return size;
}

// out (offsets[ids[0]+1]-offsets[ids[0]] + … bytes) ← the bytes of each of the n ids, back to back, where id's bytes
// are blob[offsets[id] .. offsets[id+1]). The decode half of a byte-level tokenizer; ids are checked by the caller.
export function bpe_gather(out: usize, ids: usize, n: i32, offsets: usize, blob: usize): void {
  let o = out;
  for (let i = 0; i < n; i++) {
    const id = load<i32>(ids + (<usize>i << 2));
    let k = blob + <usize>load<i32>(offsets + (<usize>id << 2));
    const e = blob + <usize>load<i32>(offsets + (<usize>(id + 1) << 2));
    if (e - k > 16) {
      memory.copy(o, k, e - k);
      o += e - k;
      continue;
    }
    while (k < e) store<u8>(o++, load<u8>(k++));
  }
}
