import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";

describe("HeapArray.subarray (slabs carved into tensors)", async () => {
  const k = await loadKernelsFromFiles("simd");

  it("shares the parent's memory at the right offset, also after memory growth", () => {
    const slab = k.f32([0, 1, 2, 3, 4, 5, 6, 7]);
    const sub = slab.subarray(2, 3);
    expect(sub.ptr).toBe(slab.ptr + 8);
    expect(Array.from(sub.view)).toEqual([2, 3, 4]);
    sub.set([20, 30, 40]);
    expect(Array.from(slab.view)).toEqual([0, 1, 20, 30, 40, 5, 6, 7]);
    const big = k.f32(k.heap.memory.buffer.byteLength / 4); // forces memory.grow, detaching old buffers
    expect(Array.from(sub.view)).toEqual([20, 30, 40]);
    expect(Array.from(slab.subarray(2, 3).subarray(1, 2).view)).toEqual([30, 40]);
    big.free();
    slab.free();
  });

  it("copies another heap array's view even when the copy grows memory (the source view detaches)", () => {
    const n = k.heap.memory.buffer.byteLength / 4; // larger than what is left: the new array forces memory.grow
    const source = k.f32(n);
    source.view.set([1, 2, 3]);
    source.view[n - 1] = 7;
    const copy = k.f32(source.view);
    expect(k.heap.memory.buffer.byteLength).toBeGreaterThan(n * 4);
    expect(Array.from(copy.view.subarray(0, 3))).toEqual([1, 2, 3]);
    expect(copy.view[n - 1]).toBe(7);
    copy.free();
    source.free();
  });

  it("rejects ranges outside the parent, freeing a subarray, and use after the parent is freed", () => {
    const slab = k.f32(8);
    for (const [o, n] of [[-1, 2], [7, 2], [0, 9], [1.5, 1], [0, -1]]) {
      expect(() => slab.subarray(o, n)).toThrow(TinyLMError);
    }
    const sub = slab.subarray(0, 4);
    expect(() => sub.free()).toThrow(/owns no memory/);
    slab.free();
    expect(() => sub.ptr).toThrow(/freed/);
    expect(() => sub.view).toThrow(TinyLMError);
  });
});
