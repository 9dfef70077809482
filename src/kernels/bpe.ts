import { check } from "../errors.js";
import type { Kernels } from "./module.js";

/**
 * The BPE merge table in wasm memory and the batch merge kernel (assembly/bpe.ts). The table is the JS tokenizer's
 * own (4 ints per slot: left, right, priority, merged id), copied once; each call merges a batch of pieces.
 */
export class BpeMergeKernel {
  private readonly tablePtr: number;

  constructor(readonly kernels: Kernels, table: Int32Array, readonly mask: number) {
    check(table.length === (mask + 1) * 4 && ((mask + 1) & mask) === 0, "BAD_SHAPE", `a BPE merge table needs 4·(mask+1) ints with mask+1 a power of two; got ${table.length} ints, mask ${mask}`);
    this.tablePtr = kernels.heap.alloc(table.byteLength);
    new Int32Array(kernels.heap.memory.buffer, this.tablePtr, table.length).set(table);
  }

  /**
   * Merges every piece: piece p's symbols are syms[starts[p] .. starts[p+1]). Returns the merged ids back to back
   * and their starts (n+1). Symbol ids must be non-negative (negative values are the kernel's "merged away" mark).
   */
  mergeBatch(syms: Int32Array, starts: Int32Array): { ids: Int32Array; starts: Int32Array } {
    const n = starts.length - 1;
    check(n >= 0 && starts[0] === 0 && starts[n] === syms.length, "BAD_SHAPE", `BPE batch starts must run from 0 to ${syms.length}`);
    let maxLen = 0;
    for (let p = 0; p < n; p++) {
      const len = starts[p + 1] - starts[p];
      check(len >= 0, "BAD_SHAPE", `BPE batch starts must not decrease (piece ${p})`);
      if (len > maxLen) maxLen = len;
    }
    for (let i = 0; i < syms.length; i++) check(syms[i] >= 0, "OUT_OF_RANGE", `BPE symbol ${syms[i]} at ${i} is negative`);
    const { heap, exports } = this.kernels;
    const total = syms.length;
    const symsPtr = heap.alloc(Math.max(total, 1) * 4);
    const outPtr = heap.alloc(Math.max(total, 1) * 4);
    const startsPtr = heap.alloc((n + 1) * 4);
    const outStartsPtr = heap.alloc((n + 1) * 4);
    const workPtr = heap.alloc(exports.bpe_work_ints(maxLen) * 4);
    try {
      heap.i32(symsPtr, total).set(syms);
      heap.i32(startsPtr, n + 1).set(starts);
      exports.bpe_merge_batch(outPtr, outStartsPtr, symsPtr, startsPtr, n, this.tablePtr, this.mask, workPtr);
      const outStarts = heap.i32(outStartsPtr, n + 1).slice();
      return { ids: heap.i32(outPtr, outStarts[n]).slice(), starts: outStarts };
    } finally {
      for (const ptr of [symsPtr, outPtr, startsPtr, outStartsPtr, workPtr]) heap.free(ptr);
    }
  }

  free(): void {
    this.kernels.heap.free(this.tablePtr);
  }
}

/** A byte-level tokenizer's decode table (bytes of id i = blob[offsets[i] .. offsets[i+1])) in wasm memory. */
export class BpeGatherKernel {
  private readonly offsetsPtr: number;
  private readonly blobPtr: number;

  constructor(readonly kernels: Kernels, readonly offsets: Int32Array, blob: Uint8Array) {
    check(offsets.length >= 1 && offsets[0] === 0 && offsets[offsets.length - 1] === blob.length, "BAD_SHAPE", `decode offsets must run from 0 to the ${blob.length} bytes of the blob`);
    const { heap } = kernels;
    this.offsetsPtr = heap.alloc(offsets.byteLength);
    this.blobPtr = heap.alloc(Math.max(blob.length, 1));
    heap.i32(this.offsetsPtr, offsets.length).set(offsets);
    heap.u8(this.blobPtr, blob.length).set(blob);
  }

  /**
   * Concatenates the bytes of `ids` (each in [0, offsets.length - 1)) and hands them to `use` as a view of wasm
   * memory, valid only during the call.
   */
  gather<T>(ids: ArrayLike<number>, use: (view: Uint8Array) => T): T {
    const n = ids.length;
    const offsets = this.offsets;
    const limit = offsets.length - 1;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const id = ids[i];
      check(id >= 0 && id < limit && id === (id | 0), "OUT_OF_RANGE", () => `token id ${id} at ${i} is outside the decode table (0..${limit - 1})`);
      bytes += offsets[id + 1] - offsets[id];
    }
    const { heap, exports } = this.kernels;
    const idsPtr = heap.alloc(Math.max(n, 1) * 4);
    const outPtr = heap.alloc(Math.max(bytes, 1));
    try {
      heap.i32(idsPtr, n).set(ids);
      exports.bpe_gather(outPtr, idsPtr, n, this.offsetsPtr, this.blobPtr);
      return use(heap.u8(outPtr, bytes));
    } finally {
      heap.free(idsPtr);
      heap.free(outPtr);
    }
  }

  free(): void {
    this.kernels.heap.free(this.offsetsPtr);
    this.kernels.heap.free(this.blobPtr);
  }
}
