// Quantized weights in llama.cpp's block formats (Q8_0, Q4_0, Q4_1; see src/quant/formats.ts), and matrix products
// that read them directly. The arithmetic is in assembly/quant.ts; this file checks shapes and owns memory.
//
// How a model uses it (every call validates and throws TinyLMError):
//
//   // load: GGUF tensor bytes (ne = [K, N], i.e. N rows of K) go into the wasm heap as they are
//   const W = QuantizedMatrix.fromBytes(k, "Q4_0", tensor.data, N, K);
//   // or quantize f32 weights (N, K) with llama.cpp's reference rounding: same bytes as llama-quantize --pure
//   const W = QuantizedMatrix.fromF32(k, "Q8_0", weights, N, K);      // weights: Float32Array or HeapArray<"f32">
//   // forward: y (M, N) = x (M, K) · Wᵀ, like gemm(k, y, x, Wf32, { M, N, K, transB: true })
//   qmatmul(k, y, x, W, M);                    // x, y: HeapArray<"f32">; M = 1 generation, M > 1 prompt processing
//   // embeddings: one row back to f32 (a token's embedding from a quantized token_embd)
//   W.dequantizeRows(out, token, 1);           // out: HeapArray<"f32"> of K values
//   // export: W.toBytes() is the GGUF tensor data (type W.type, ne = [K, N]); W.free() when done
//
// canQuantize(type, K) (src/quant/formats.ts) tells which tensors can take a block format: llama-quantize keeps a
// tensor whose rows are not a multiple of 32 in F16, and so should a caller (fromF32/fromBytes throw BAD_SHAPE).
// quantize()/dequantize() are the same conversions on bare heap arrays of file-layout blocks.
//
// What matches what:
// - quantize / fromF32: byte for byte ggml's quantize_row_{q8_0,q4_0,q4_1}_ref, i.e. `llama-quantize --pure` and
//   gguf-py (except that gguf-py can flip the sign bit of a zero d or m in blocks of signed zeros, where C and tinylm
//   agree). NaN or ±inf weights throw NAN.
// - qmatmul: quantizes each row of x to 8-bit blocks exactly as llama.cpp's x86 CPU backend does (quantize_row_q8_0 /
//   q8_1: f16 scale amax/127, round half to even), then multiplies blocks in exact integer arithmetic; only the order
//   of the f32 additions differs from llama.cpp. A NaN or ±inf in x makes the affected outputs NaN.
// - The heap copy is a runtime layout (per group of 4 blocks: f32 scales, then the quants; 9.0 / 5.0 / 6.0 bits per
//   weight for Q8_0 / Q4_0 / Q4_1 against the file's 8.5 / 4.5 / 5.0); toBytes() restores the file's blocks exactly.
// - The relaxed-SIMD build refuses (UNSUPPORTED) a Q8_0 tensor holding the quant −128, which llama.cpp's quantizers
//   never write; the "simd" build multiplies it exactly.
// The workspace for the quantized x is the shared k.workspace() unless options.work (a HeapArray<"u8"> of
// qmatmulWorkBytes(k, type, M, K) bytes) is given. Speed (bench/quant.ts, 4096×4096, one thread): see the README.
import { TinyLMError, check } from "../errors.js";
import { QUANT_FORMATS, type QuantType, quantFormat } from "../quant/formats.js";
import { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";
import { size } from "./validate.js";

type AnyArray = HeapArray<"f32"> | HeapArray<"u8">;

function heapArray(k: Kernels, fn: string, name: string, a: unknown, kind: "f32" | "u8", minLength: number): number {
  check(a instanceof HeapArray, "BAD_ARGUMENT", () => `${fn}: ${name} must be a HeapArray`);
  check(a.heap === k.heap, "BAD_ARGUMENT", () => `${fn}: ${name} belongs to another Kernels instance`);
  check(a.kind === kind, "BAD_ARGUMENT", () => `${fn}: ${name} must be a ${kind} array, got ${a.kind}`);
  check(a.length >= minLength, "BAD_SHAPE", () => `${fn}: ${name} must hold at least ${minLength} ${kind === "u8" ? "bytes" : "values"}, it holds ${a.length}`);
  return a.ptr;
}

function bytesOf(a: AnyArray, n: number): [number, number] {
  return [a.ptr, a.ptr + n * (a.kind === "f32" ? 4 : 1)];
}

// Throws unless the first `na` elements of a and the first `nb` of b are disjoint.
function apart(fn: string, names: string, a: AnyArray, na: number, b: AnyArray, nb: number): void {
  const [a0, a1] = bytesOf(a, na);
  const [b0, b1] = bytesOf(b, nb);
  if (a1 > a0 && b1 > b0 && a0 < b1 && b0 < a1) throw new TinyLMError("BAD_ARGUMENT", `${fn}: ${names} must not share memory`);
}

function rowsCols(fn: string, type: QuantType, rows: number, cols: number): void {
  size(fn, "rows", rows);
  size(fn, "cols", cols);
  check(cols > 0 && cols % 32 === 0, "BAD_SHAPE",
    () => `${fn}: ${type} stores rows in blocks of 32 values, but the rows have ${cols} values (keep such a tensor in F16 or F32)`);
}

/** A fresh u8 array on the wasm heap (zero-filled), or a copy of `bytes`. */
export function heapBytes(k: Kernels, lengthOrBytes: number | Uint8Array): HeapArray<"u8"> {
  const n = typeof lengthOrBytes === "number" ? lengthOrBytes : lengthOrBytes.length;
  const a = new HeapArray(k.heap, "u8", n);
  if (typeof lengthOrBytes === "number") a.view.fill(0);
  else a.view.set(lengthOrBytes);
  return a;
}

/**
 * out (rows · cols/32 blocks) ← inp (rows, cols) f32 in `type`, byte for byte what ggml's quantize_row_*_ref (and
 * llama-quantize --pure, and gguf-py) write. Throws BAD_SHAPE when cols is not a multiple of 32 and NAN when inp holds
 * a NaN or an infinity.
 */
export function quantize(k: Kernels, out: HeapArray<"u8">, inp: HeapArray<"f32">, type: QuantType, rows: number, cols: number): void {
  const f = quantFormat(type, "quantize");
  rowsCols("quantize", type, rows, cols);
  const bytes = rows * (cols / 32) * f.blockBytes;
  const po = heapArray(k, "quantize", "out", out, "u8", bytes);
  const pi = heapArray(k, "quantize", "inp", inp, "f32", rows * cols);
  apart("quantize", "out and inp", out, bytes, inp, rows * cols);
  if (k.exports.quantize_rows(po, pi, f.ggmlType, rows, cols) !== 0) {
    throw new TinyLMError("NAN", `quantize: the values hold a NaN or an infinity, which ${type} cannot represent`);
  }
}

/** out (rows, cols) f32 ← inp (rows · cols/32 blocks of `type`): d·q, d·(q − 8) or d·q + m per value, as ggml does. */
export function dequantize(k: Kernels, out: HeapArray<"f32">, inp: HeapArray<"u8">, type: QuantType, rows: number, cols: number): void {
  const f = quantFormat(type, "dequantize");
  rowsCols("dequantize", type, rows, cols);
  const bytes = rows * (cols / 32) * f.blockBytes;
  const po = heapArray(k, "dequantize", "out", out, "f32", rows * cols);
  const pi = heapArray(k, "dequantize", "inp", inp, "u8", bytes);
  apart("dequantize", "out and inp", out, rows * cols, inp, bytes);
  k.exports.dequantize_rows(po, pi, f.ggmlType, rows, cols);
}

/** Bytes of workspace qmatmul needs for M rows of x of K values against `type` weights (layout depends on the build). */
export function qmatmulWorkBytes(k: Kernels, type: QuantType, M: number, K: number): number {
  const f = quantFormat(type, "qmatmulWorkBytes");
  size("qmatmulWorkBytes", "M", M);
  size("qmatmulWorkBytes", "K", K);
  check(K % 32 === 0, "BAD_SHAPE", () => `qmatmulWorkBytes: K = ${K} is not a multiple of 32`);
  return k.exports.qmatmul_work_bytes(f.ggmlType, M, K);
}

/**
 * A (rows, cols) weight matrix in the wasm heap, quantized as `type`. Held in a runtime layout (per row: the block
 * scales as f32, then the quants as they are in the file; see assembly/quant.ts) that qmatmul reads fastest; the same
 * size as the file's blocks plus 2 bytes per block (4 for Q4_1). toBytes() gives the file's blocks back bit for bit.
 */
export class QuantizedMatrix {
  readonly k: Kernels;
  readonly type: QuantType;
  /** N: output features of a Linear weight (GGUF ne[1]). */
  readonly rows: number;
  /** K: input features (GGUF ne[0]), a multiple of 32. */
  readonly cols: number;
  /** The packed rows, rows · packedRowBytes bytes. */
  readonly packed: HeapArray<"u8">;

  private constructor(k: Kernels, type: QuantType, rows: number, cols: number, blocks: HeapArray<"u8">) {
    this.k = k;
    this.type = type;
    this.rows = rows;
    this.cols = cols;
    this.packed = new HeapArray(k.heap, "u8", rows * this.packedRowBytes);
    const minus128 = k.exports.quant_pack(this.packed.ptr, blocks.ptr, QUANT_FORMATS[type].ggmlType, rows, cols);
    if (minus128 > 0 && k.flavor === "relaxed") {
      this.packed.free();
      throw new TinyLMError("UNSUPPORTED", `${minus128} Q8_0 blocks hold the quant −128, which llama.cpp's quantizers never write and the ` +
        "relaxed-SIMD kernels cannot multiply exactly; load the kernels with flavor \"simd\" for this file");
    }
  }

  /** Bytes per row in the file layout (cols/32 blocks). */
  get rowBytes(): number {
    return (this.cols / 32) * QUANT_FORMATS[this.type].blockBytes;
  }

  /** Bytes per row in the heap. */
  get packedRowBytes(): number {
    return this.k.exports.packed_row_bytes(QUANT_FORMATS[this.type].ggmlType, this.cols);
  }

  /** Quantizes f32 weights (rows, cols), row-major, with llama.cpp's reference rounding. */
  static fromF32(k: Kernels, type: QuantType, values: Float32Array | HeapArray<"f32">, rows: number, cols: number): QuantizedMatrix {
    const f = quantFormat(type, "QuantizedMatrix.fromF32");
    rowsCols("QuantizedMatrix.fromF32", type, rows, cols);
    const inHeap = values instanceof HeapArray;
    check(inHeap || values instanceof Float32Array, "BAD_ARGUMENT", "QuantizedMatrix.fromF32: values must be a Float32Array or a HeapArray<\"f32\">");
    check(values.length === rows * cols, "BAD_SHAPE", () => `QuantizedMatrix.fromF32: (${rows}, ${cols}) needs ${rows * cols} values, got ${values.length}`);
    const inp = inHeap ? values : k.f32(values);
    const blocks = new HeapArray(k.heap, "u8", rows * (cols / 32) * f.blockBytes);
    try {
      quantize(k, blocks, inp, type, rows, cols);
      return new QuantizedMatrix(k, type, rows, cols, blocks);
    } finally {
      blocks.free();
      if (!inHeap) inp.free();
    }
  }

  /** Takes blocks in the file layout (e.g. a GGUF tensor's data, ne = [cols, rows]). Throws BAD_SHAPE on a wrong length. */
  static fromBytes(k: Kernels, type: QuantType, bytes: Uint8Array, rows: number, cols: number): QuantizedMatrix {
    const f = quantFormat(type, "QuantizedMatrix.fromBytes");
    rowsCols("QuantizedMatrix.fromBytes", type, rows, cols);
    check(bytes instanceof Uint8Array, "BAD_ARGUMENT", "QuantizedMatrix.fromBytes: bytes must be a Uint8Array");
    const want = rows * (cols / 32) * f.blockBytes;
    check(bytes.length === want, "BAD_SHAPE",
      () => `QuantizedMatrix.fromBytes: a (${rows}, ${cols}) ${type} matrix is ${want} bytes, got ${bytes.length}`);
    const blocks = heapBytes(k, bytes);
    try {
      return new QuantizedMatrix(k, type, rows, cols, blocks);
    } finally {
      blocks.free();
    }
  }

  /** Rows row0 .. row0 + count − 1 in the file layout, as a heap array the caller frees. */
  private blocks(row0: number, count: number): HeapArray<"u8"> {
    const out = new HeapArray(this.k.heap, "u8", count * this.rowBytes);
    this.k.exports.quant_unpack(out.ptr, this.packed.ptr + row0 * this.packedRowBytes, QUANT_FORMATS[this.type].ggmlType, count, this.cols);
    return out;
  }

  /** The blocks in the file layout (GGUF tensor data of type `type`, ne = [cols, rows]), bit for bit as loaded. */
  toBytes(): Uint8Array {
    const b = this.blocks(0, this.rows);
    try {
      return b.view.slice();
    } finally {
      b.free();
    }
  }

  /** out[0 .. count·cols) ← rows row0 .. row0 + count − 1 as f32 (an embedding lookup, or a debugging view). */
  dequantizeRows(out: HeapArray<"f32">, row0: number, count: number): void {
    size("QuantizedMatrix.dequantizeRows", "row0", row0);
    size("QuantizedMatrix.dequantizeRows", "count", count);
    check(row0 + count <= this.rows, "OUT_OF_RANGE", () => `QuantizedMatrix.dequantizeRows: rows ${row0}..${row0 + count - 1} are outside 0..${this.rows - 1}`);
    heapArray(this.k, "QuantizedMatrix.dequantizeRows", "out", out, "f32", count * this.cols);
    const b = this.blocks(row0, count);
    try {
      dequantize(this.k, out, b, this.type, count, this.cols);
    } finally {
      b.free();
    }
  }

  /** The whole matrix as a new Float32Array (rows, cols). */
  toF32(): Float32Array {
    const out = this.k.f32(this.rows * this.cols);
    try {
      this.dequantizeRows(out, 0, this.rows);
      return out.view.slice();
    } finally {
      out.free();
    }
  }

  free(): void {
    this.packed.free();
  }
}

export interface QmatmulOptions {
  /** Workspace of at least qmatmulWorkBytes(k, w.type, M, w.cols) bytes; default: the shared k.workspace(). */
  work?: HeapArray<"u8">;
  /** y += x·Wᵀ instead of y = x·Wᵀ (a residual add for free). Default false. */
  accumulate?: boolean;
}

/**
 * y (M, N) = x (M, K) · Wᵀ for W (N, K) quantized: y[i][n] = Σ_k x[i][k]·W[n][k], computed as llama.cpp computes it
 * (x quantized to 8-bit blocks, integer block dot products). y and x are row-major with rows of N and K values; only
 * their first M·N and M·K values are used. y is overwritten, or added to with options.accumulate.
 */
export function qmatmul(k: Kernels, y: HeapArray<"f32">, x: HeapArray<"f32">, w: QuantizedMatrix, M: number, options?: QmatmulOptions): void {
  check(w instanceof QuantizedMatrix, "BAD_ARGUMENT", "qmatmul: w must be a QuantizedMatrix");
  check(w.k === k, "BAD_ARGUMENT", "qmatmul: w belongs to another Kernels instance");
  size("qmatmul", "M", M);
  const N = w.rows, K = w.cols;
  const py = heapArray(k, "qmatmul", "y", y, "f32", M * N);
  const px = heapArray(k, "qmatmul", "x", x, "f32", M * K);
  const pw = w.packed.ptr;
  apart("qmatmul", "y and x", y, M * N, x, M * K);
  apart("qmatmul", "y and the weights", y, M * N, w.packed, w.packed.length);
  if (M === 0 || N === 0) return;
  const bytes = k.exports.qmatmul_work_bytes(QUANT_FORMATS[w.type].ggmlType, M, K);
  check(bytes > 0, "OUT_OF_MEMORY", () => `qmatmul: quantizing ${M} rows of ${K} values needs more than 2 GiB of workspace`);
  let work: number;
  const given = options?.work;
  if (given !== undefined) {
    work = heapArray(k, "qmatmul", "options.work", given, "u8", bytes);
    apart("qmatmul", "options.work and y", given, bytes, y, M * N);
    apart("qmatmul", "options.work and x", given, bytes, x, M * K);
    apart("qmatmul", "options.work and the weights", given, bytes, w.packed, w.packed.length);
  } else {
    work = k.workspace(Math.ceil(bytes / 4));
  }
  k.exports.qmatmul(py, px, pw, QUANT_FORMATS[w.type].ggmlType, M, N, K, work, options?.accumulate === true);
}
