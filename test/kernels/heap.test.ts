import { describe, expect, it } from "vitest";
import { Heap, HeapArray } from "../../src/kernels/heap.js";
import { Kernels } from "../../src/kernels/module.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { gemm } from "../../src/kernels/gemm.js";
import { TinyLMError } from "../../src/errors.js";

describe("Heap", () => {
  it("hands out aligned, disjoint blocks, fills alignment gaps and coalesces freed neighbours", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1000 });
    const heap = new Heap(memory, 1000);
    const sizes = [100, 5000, 10, 64, 3000];
    const blocks = sizes.map((n, i) => ({ p: heap.alloc(n, i === 1 ? 256 : 64), n }));
    for (const { p } of blocks) expect(p % 64).toBe(0);
    expect(blocks[1].p % 256).toBe(0);
    for (const x of blocks) for (const y of blocks) {
      if (x !== y) expect(x.p + x.n <= y.p || y.p + y.n <= x.p).toBe(true);
    }
    const [x, y, z] = [heap.alloc(640), heap.alloc(640), heap.alloc(640)];
    heap.free(x);
    heap.free(y);
    expect(heap.alloc(1280)).toBe(x); // x and y merged back into one block
    expect(() => heap.free(z + 8)).toThrow(TinyLMError);
    heap.free(z);
    expect(() => heap.free(z)).toThrow(/double free/);
  });

  it("grows memory when full; arrays created before the growth still read correctly", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1000 });
    const heap = new Heap(memory, 0);
    const x = new HeapArray(heap, "f32", 1000).set(Array.from({ length: 1000 }, (_, i) => i));
    const stale = x.view;
    const big = new HeapArray(heap, "f32", 2_000_000); // forces memory.grow, which detaches `stale`
    expect(stale.length).toBe(0);
    expect(x.view[999]).toBe(999);
    expect(big.view.length).toBe(2_000_000);
  });

  it("reports OUT_OF_MEMORY instead of a RangeError when the memory cannot grow", () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 });
    const heap = new Heap(memory, 0);
    expect(() => heap.alloc(10 * 65536)).toThrow(expect.objectContaining({ code: "OUT_OF_MEMORY" }));
  });
});

describe("kernel loading", () => {
  it("memory growth between kernel calls leaves earlier arrays and results intact", async () => {
    const k = await loadKernelsFromFiles("simd");
    const A = k.f32([1, 2, 3, 4]), B = k.f32([5, 6, 7, 8]), C = k.f32(4);
    gemm(k, C, A, B, { M: 2, N: 2, K: 2 });
    const before = k.heap.memory.buffer.byteLength;
    const big = k.f32(50_000_000);
    expect(k.heap.memory.buffer.byteLength).toBeGreaterThan(before);
    gemm(k, C, A, B, { M: 2, N: 2, K: 2, beta: 1 });
    expect(Array.from(C.view)).toEqual([38, 44, 86, 100]);
    big.free();
  });

  it("rejects bytes that are not a kernel module and an unknown flavor", async () => {
    await expect(Kernels.load({ simd: new Uint8Array([1, 2, 3]) })).rejects.toThrow(TinyLMError);
    await expect(Kernels.load({ simd: new Uint8Array(), flavor: "fast" as never })).rejects.toThrow(/flavor/);
  });

  it("auto picks relaxed SIMD where the runtime compiles it, and plain SIMD on request", async () => {
    expect((await loadKernelsFromFiles("simd")).flavor).toBe("simd");
    expect((await loadKernelsFromFiles("auto")).flavor).toBe("relaxed");
  });
});
