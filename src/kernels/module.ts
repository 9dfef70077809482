import { TinyLMError, check } from "../errors.js";
import { Heap, HeapArray } from "./heap.js";

/** Which build of assembly/ is running: plain SIMD, or SIMD + relaxed SIMD (fused multiply-add). */
export type Flavor = "simd" | "relaxed";

/** Where wasm comes from: compiled module (workerd's static import), bytes, or a URL to fetch. */
export type WasmSource = WebAssembly.Module | ArrayBuffer | ArrayBufferView | URL | Response;

export interface LoadKernelsOptions {
  /** The plain-SIMD build (build/simd.wasm). */
  simd: WasmSource;
  /** The relaxed-SIMD build (build/relaxed.wasm); used when `flavor` allows it and the runtime supports it. */
  relaxed?: WasmSource;
  /** "auto" (default) picks relaxed when available; "simd" is bit-reproducible across CPUs. */
  flavor?: "auto" | Flavor;
}

/** The raw exports of assembly/index.ts: pointers are byte offsets, bools are 0/1. */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  sgemm(C: number, ldc: number, A: number, lda: number, B: number, ldb: number, M: number, N: number, K: number,
    transA: number, transB: number, alpha: number, beta: number, work: number): void;
  sgemm_workspace_floats(): number;
  dot(x: number, y: number, n: number): number;
  // assembly/activations.ts (shapes in its comments; backward kernels accumulate into their first arguments)
  vec_exp(out: number, inp: number, n: number): void;
  sigmoid_forward(out: number, inp: number, n: number): void;
  sigmoid_backward(dinp: number, out: number, dout: number, n: number): void;
  silu_forward(out: number, inp: number, n: number): void;
  silu_backward(dinp: number, dout: number, inp: number, n: number): void;
  swiglu_forward(out: number, gate: number, up: number, n: number): void;
  swiglu_backward(dgate: number, dup: number, dout: number, gate: number, up: number, n: number): void;
  /** first = 0: every row's visible columns start at 0. */
  softmax_forward(out: number, inp: number, first: number, rows: number, cols: number, scale: number, causal: number,
    pastLength: number): void;
  softmax_backward(dinp: number, out: number, dout: number, rows: number, cols: number, scale: number): void;
  log_softmax_forward(out: number, inp: number, rows: number, cols: number): void;
  /** dlogits = 0 computes the losses only. */
  crossentropy_forward(losses: number, dlogits: number, logits: number, targets: number, rows: number, V: number,
    dlossScale: number, ignoreIndex: number): void;
  rmsnorm_forward(out: number, rstd: number, inp: number, weight: number, rows: number, cols: number, eps: number): void;
  rmsnorm_backward(dinp: number, dweight: number, dout: number, inp: number, weight: number, rstd: number,
    rows: number, cols: number): void;
  // assembly/optim.ts
  adamw_step(params: number, grads: number, m: number, v: number, n: number, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, step: number): void;
  // assembly/attention.ts
  attention_forward(out: number, att: number, q: number, k: number, v: number, first: number, B: number, Tq: number,
    Tk: number, kvT: number, NH: number, NKV: number, hs: number, work: number): void;
  attention_backward(dq: number, dk: number, dv: number, scratch: number, dout: number, att: number, q: number, k: number,
    v: number, B: number, T: number, NH: number, NKV: number, hs: number, work: number): void;
  // assembly/embedding.ts
  embedding_forward(out: number, ids: number, wte: number, N: number, C: number): void;
  embedding_backward(dwte: number, dout: number, ids: number, N: number, C: number): void;
  // assembly/rope.ts
  /** pos = 0: row r sits at position pos0 + r % T. */
  rope(x: number, cos: number, sin: number, pos: number, rows: number, T: number, nh: number, hs: number, pos0: number,
    inverse: number): void;
  // assembly/elementwise.ts
  vec_add(out: number, a: number, b: number, n: number): void;
  vec_scale(x: number, alpha: number, n: number): void;
  vec_axpy(y: number, alpha: number, x: number, n: number): void;
  // assembly/bpe.ts
  bpe_merge_batch(out: number, outStarts: number, syms: number, starts: number, n: number, table: number, mask: number, work: number): void;
  bpe_work_ints(maxLen: number): number;
  bpe_gather(out: number, ids: number, n: number, offsets: number, blob: number): void;
  // assembly/quant.ts (type = ggml type id: Q4_0 2, Q4_1 3, Q8_0 8)
  quantize_rows(dst: number, src: number, type: number, rows: number, cols: number): number;
  dequantize_rows(dst: number, src: number, type: number, rows: number, cols: number): void;
  quant_pack(dst: number, src: number, type: number, rows: number, cols: number): number;
  quant_unpack(dst: number, src: number, type: number, rows: number, cols: number): void;
  packed_row_bytes(type: number, cols: number): number;
  /** w: rows packed by quant_pack. */
  qmatmul(y: number, x: number, w: number, type: number, M: number, N: number, K: number, work: number, accumulate: boolean): void;
  qmatmul_work_bytes(type: number, M: number, K: number): number;
}

/**
 * One instance of the kernel module with its own memory and heap. Models keep one and pass it around; the
 * wrappers in src/kernels/*.ts take it as their first argument.
 */
export class Kernels {
  readonly flavor: Flavor;
  readonly exports: KernelExports;
  readonly heap: Heap;
  private work = { ptr: 0, floats: 0 };

  private constructor(flavor: Flavor, instance: WebAssembly.Instance) {
    this.flavor = flavor;
    this.exports = instance.exports as unknown as KernelExports;
    this.heap = new Heap(this.exports.memory, this.exports.heap_base());
  }

  static async load(options: LoadKernelsOptions): Promise<Kernels> {
    check(options && options.simd !== undefined, "BAD_ARGUMENT", "loadKernels needs the simd build (build/simd.wasm)");
    const flavor = options.flavor ?? "auto";
    check(["auto", "simd", "relaxed"].includes(flavor), "BAD_ARGUMENT", `unknown kernel flavor "${flavor}"`);
    check(WebAssembly.validate(SIMD_PROBE), "UNSUPPORTED", "this runtime has no WebAssembly SIMD; tinylm needs it");
    if (flavor !== "simd" && options.relaxed !== undefined) {
      const module = await compile(options.relaxed, true);
      if (module) return new Kernels("relaxed", await WebAssembly.instantiate(module, {}));
      check(flavor !== "relaxed", "UNSUPPORTED", "this runtime cannot compile relaxed SIMD (Node 20 needs --experimental-wasm-relaxed-simd)");
    }
    check(flavor !== "relaxed", "BAD_ARGUMENT", "flavor \"relaxed\" needs the relaxed build");
    const module = await compile(options.simd, false);
    return new Kernels("simd", await WebAssembly.instantiate(module!, {}));
  }

  /** A fresh f32 array on the heap, zero-filled, optionally copied from `values`. */
  f32(lengthOrValues: number | ArrayLike<number>): HeapArray<"f32"> {
    return this.array("f32", lengthOrValues);
  }
  /** A fresh i32 array on the heap, zero-filled, optionally copied from `values`. */
  i32(lengthOrValues: number | ArrayLike<number>): HeapArray<"i32"> {
    return this.array("i32", lengthOrValues);
  }

  /** Pointer to a scratch area of at least `floats` floats, shared by kernels; invalid after the next call. */
  workspace(floats: number): number {
    // Never smaller than sgemm's packing buffers, and allocated on the first call even for floats = 0: sgemm packs
    // into it whatever its caller asked for (a null workspace would pack over static data and the first arrays).
    const want = Math.max(floats, this.exports.sgemm_workspace_floats());
    if (want > this.work.floats) {
      if (this.work.floats > 0) this.heap.free(this.work.ptr);
      this.work = { ptr: this.heap.alloc(want * 4), floats: want };
    }
    return this.work.ptr;
  }

  private array<K extends "f32" | "i32">(kind: K, lengthOrValues: number | ArrayLike<number>): HeapArray<K> {
    if (typeof lengthOrValues === "number") {
      const a = new HeapArray(this.heap, kind, lengthOrValues);
      a.view.fill(0); // freed blocks are reused, so a fresh array is not necessarily zero
      return a;
    }
    // A view of this heap (another array's .view) is detached if the allocation grows memory: copy it out first.
    const values = ArrayBuffer.isView(lengthOrValues) && lengthOrValues.buffer === this.heap.memory.buffer
      ? (lengthOrValues as unknown as Float32Array | Int32Array).slice()
      : lengthOrValues;
    return new HeapArray(this.heap, kind, values.length).set(values);
  }
}

/** Loads the kernels from bytes, a URL or a compiled module (see `tinylm`'s Node entry for loading from files). */
export function loadKernels(options: LoadKernelsOptions): Promise<Kernels> {
  return Kernels.load(options);
}

// (module (func (result v128) v128.const i32x4 0 0 0 0)): validates only where SIMD is supported.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

async function compile(source: WasmSource, optional: boolean): Promise<WebAssembly.Module | undefined> {
  if (source instanceof WebAssembly.Module) return source;
  let bytes: ArrayBuffer | ArrayBufferView;
  if (source instanceof URL) bytes = await (await fetch(source)).arrayBuffer();
  else if (typeof Response !== "undefined" && source instanceof Response) bytes = await source.arrayBuffer();
  else bytes = source as ArrayBuffer | ArrayBufferView;
  if (!WebAssembly.validate(bytes as BufferSource)) {
    if (optional) return undefined;
    throw new TinyLMError("BAD_FILE", "the kernel module is not valid WebAssembly for this runtime");
  }
  return WebAssembly.compile(bytes as BufferSource);
}
