import { TinyLMError, check } from "../errors.js";

/**
 * The wasm linear memory, handed out in aligned blocks.
 *
 * Why offsets and not views: `memory.grow` detaches the old ArrayBuffer, and every typed-array view built on it
 * silently reads as length 0 afterwards. So the heap gives out byte offsets (pointers), and a view is built fresh from
 * `memory.buffer` each time one is asked for (`HeapArray.view`), never kept across a call that may allocate.
 *
 * First-fit over an address-ordered free list with coalescing: allocations are few and large (parameter slabs,
 * activations, workspaces), so the list stays short.
 */
export class Heap {
  readonly memory: WebAssembly.Memory;
  private readonly base: number;
  private readonly maxBytes: number;
  private free_: { start: number; size: number }[] = [];
  private used = new Map<number, number>(); // ptr -> size of the block it owns
  private top: number; // first byte never handed out

  constructor(memory: WebAssembly.Memory, base: number, maxBytes = 4 * 1024 ** 3 - 65536) {
    this.memory = memory;
    this.base = align(base, 64);
    this.top = this.base;
    this.maxBytes = maxBytes;
  }

  /** Bytes currently handed out. */
  get bytesInUse(): number {
    let n = 0;
    for (const size of this.used.values()) n += size;
    return n;
  }

  /** Returns the byte offset of a fresh block of `bytes` bytes aligned to `alignment` (a power of two ≥ 16). */
  alloc(bytes: number, alignment = 64): number {
    check(Number.isInteger(bytes) && bytes >= 0, "BAD_ARGUMENT", `cannot allocate ${bytes} bytes`);
    const size = align(Math.max(bytes, 16), 16);
    for (let i = 0; i < this.free_.length; i++) {
      const block = this.free_[i];
      const start = align(block.start, alignment);
      const end = block.start + block.size;
      if (start + size > end) continue;
      this.free_.splice(i, 1);
      if (start > block.start) this.free_.splice(i++, 0, { start: block.start, size: start - block.start });
      if (start + size < end) this.free_.splice(i, 0, { start: start + size, size: end - start - size });
      this.used.set(start, size);
      return start;
    }
    const start = align(this.top, alignment);
    this.ensure(start + size);
    if (start > this.top) this.release(this.top, start - this.top);
    this.top = start + size;
    this.used.set(start, size);
    return start;
  }

  /** Returns a block to the heap. Freeing twice or freeing a pointer the heap never gave out throws. */
  free(ptr: number): void {
    const size = this.used.get(ptr);
    check(size !== undefined, "FREED", `pointer ${ptr} is not a live heap block (double free?)`);
    this.used.delete(ptr);
    this.release(ptr, size);
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }
  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }

  private release(start: number, size: number): void {
    let i = 0;
    while (i < this.free_.length && this.free_[i].start < start) i++;
    this.free_.splice(i, 0, { start, size });
    const next = this.free_[i + 1];
    if (next && start + size === next.start) {
      this.free_[i].size += next.size;
      this.free_.splice(i + 1, 1);
    }
    const prev = this.free_[i - 1];
    if (prev && prev.start + prev.size === start) {
      prev.size += this.free_[i].size;
      this.free_.splice(i, 1);
    }
  }

  private ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > this.maxBytes) {
      throw new TinyLMError("OUT_OF_MEMORY", `the wasm heap would need ${end} bytes; the limit is ${this.maxBytes}`);
    }
    // Grow geometrically so a sequence of allocations does not grow (and detach views) every time.
    const want = Math.min(this.maxBytes, Math.max(end, have + (have >> 1)));
    try {
      this.memory.grow(Math.ceil((want - have) / 65536));
    } catch {
      throw new TinyLMError("OUT_OF_MEMORY", `the wasm heap could not grow to ${want} bytes`);
    }
  }
}

export function align(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

type TypedArray = Float32Array | Int32Array | Uint8Array;
const VIEW = { f32: Float32Array, i32: Int32Array, u8: Uint8Array } as const;
type Kind = keyof typeof VIEW;
type ViewOf<K extends Kind> = K extends "f32" ? Float32Array : K extends "i32" ? Int32Array : Uint8Array;

/** A typed block of the wasm heap: a pointer, a length and a view that is rebuilt after memory growth. */
export class HeapArray<K extends Kind = "f32"> {
  readonly heap: Heap;
  readonly kind: K;
  readonly length: number;
  private ptr_: number;
  private readonly owner_: HeapArray<K> | undefined; // set on a subarray: the array whose block it lies in

  /** A fresh block of `length` elements; with `within`, a window of an existing array that owns no memory. */
  constructor(heap: Heap, kind: K, length: number, within?: { owner: HeapArray<K>; ptr: number }) {
    check(Number.isInteger(length) && length >= 0, "BAD_ARGUMENT", `array length must be a non-negative integer, got ${length}`);
    this.heap = heap;
    this.kind = kind;
    this.length = length;
    this.owner_ = within?.owner;
    this.ptr_ = within ? within.ptr : heap.alloc(length * VIEW[kind].BYTES_PER_ELEMENT);
  }

  /** Byte offset in linear memory. */
  get ptr(): number {
    check(this.ptr_ >= 0 && (this.owner_ === undefined || this.owner_.ptr_ >= 0), "FREED", "this heap array was freed");
    return this.ptr_;
  }

  /**
   * Elements [offset, offset + length) as a HeapArray sharing this block's memory: how a model carves one parameter,
   * gradient or activation slab into tensors (llm.c style). It owns nothing; free the array it was cut from.
   */
  subarray(offset: number, length: number): HeapArray<K> {
    check(Number.isInteger(offset) && Number.isInteger(length) && offset >= 0 && length >= 0 && offset + length <= this.length,
      "BAD_SHAPE", `subarray(${offset}, ${length}) does not fit in an array of ${this.length}`);
    const ptr = this.ptr + offset * VIEW[this.kind].BYTES_PER_ELEMENT;
    return new HeapArray(this.heap, this.kind, length, { owner: this.owner_ ?? this, ptr });
  }

  /** A view of the current memory buffer. Do not keep it across calls that allocate. */
  get view(): ViewOf<K> {
    return new VIEW[this.kind](this.heap.memory.buffer, this.ptr, this.length) as ViewOf<K>;
  }

  /** Copies `values` in at element `offset`. */
  set(values: ArrayLike<number>, offset = 0): this {
    check(offset + values.length <= this.length, "BAD_SHAPE", `cannot write ${values.length} values at ${offset} into an array of ${this.length}`);
    (this.view as TypedArray).set(values, offset);
    return this;
  }

  /** A copy that outlives the heap block. */
  toArray(): ViewOf<K> {
    return this.view.slice() as ViewOf<K>;
  }

  free(): void {
    check(this.owner_ === undefined, "BAD_ARGUMENT", "a subarray owns no memory: free the array it was cut from");
    this.heap.free(this.ptr);
    this.ptr_ = -1;
  }
}
