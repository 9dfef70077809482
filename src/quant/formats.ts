// llama.cpp's block-quantized tensor formats, described (the arithmetic lives in assembly/quant.ts, reached through
// src/kernels/quant.ts). Pure TypeScript, no kernels needed: what a GGUF writer or a size report asks.
//
// A quantized (rows, cols) matrix is stored row by row; each row is cols/32 blocks of 32 consecutive values:
//
//   type  ggml id  bytes/block  bits/weight  block                          value
//   Q8_0     8         34           8.5      f16 d, i8 q[32]                d·q
//   Q4_0     2         18           4.5      f16 d, u8 qs[16]               d·(q − 8)
//   Q4_1     3         20           5.0      f16 d, f16 m, u8 qs[16]        d·q + m
//
// In Q4_0/Q4_1, byte j of qs holds element j in its low nibble and element j + 16 in its high nibble. A row whose
// length is not a multiple of 32 cannot be stored in these formats (llama-quantize keeps such tensors in F16;
// `canQuantize` says which).
import { check } from "../errors.js";

/** The block formats tinylm quantizes to and computes with; the names are the GGUF/ggml type names. */
export type QuantType = "Q8_0" | "Q4_0" | "Q4_1";

export interface QuantFormat {
  readonly type: QuantType;
  /** The ggml type id (the `u32 ggml_type` of a GGUF tensor info). */
  readonly ggmlType: number;
  /** Values per block. */
  readonly blockSize: 32;
  /** Bytes per block. */
  readonly blockBytes: number;
  /** blockBytes · 8 / blockSize. */
  readonly bitsPerWeight: number;
}

export const QUANT_FORMATS: Readonly<Record<QuantType, QuantFormat>> = {
  Q8_0: { type: "Q8_0", ggmlType: 8, blockSize: 32, blockBytes: 34, bitsPerWeight: 8.5 },
  Q4_0: { type: "Q4_0", ggmlType: 2, blockSize: 32, blockBytes: 18, bitsPerWeight: 4.5 },
  Q4_1: { type: "Q4_1", ggmlType: 3, blockSize: 32, blockBytes: 20, bitsPerWeight: 5 },
};

/** True for "Q8_0", "Q4_0" and "Q4_1". */
export function isQuantType(type: unknown): type is QuantType {
  return typeof type === "string" && Object.hasOwn(QUANT_FORMATS, type);
}

/** Throws BAD_ARGUMENT unless `type` is a QuantType; returns its format. */
export function quantFormat(type: unknown, fn = "quant"): QuantFormat {
  check(isQuantType(type), "BAD_ARGUMENT", () => `${fn}: unknown quantization type ${JSON.stringify(type)}; expected "Q8_0", "Q4_0" or "Q4_1"`);
  return QUANT_FORMATS[type];
}

/** Whether rows of `rowLength` values can be stored as `type` (a positive multiple of 32). */
export function canQuantize(type: QuantType, rowLength: number): boolean {
  quantFormat(type, "canQuantize");
  return Number.isSafeInteger(rowLength) && rowLength > 0 && rowLength % 32 === 0;
}

/** Bytes of a (rows, cols) matrix stored as `type`. Throws BAD_SHAPE when cols is not a multiple of 32. */
export function quantizedBytes(type: QuantType, rows: number, cols: number): number {
  const f = quantFormat(type, "quantizedBytes");
  check(Number.isSafeInteger(rows) && rows >= 0, "BAD_SHAPE", () => `quantizedBytes: rows must be a non-negative integer, got ${rows}`);
  check(canQuantize(type, cols), "BAD_SHAPE",
    () => `quantizedBytes: a ${type} row is made of blocks of 32 values, but the rows have ${cols} values (keep such a tensor in F16 or F32)`);
  return rows * (cols / 32) * f.blockBytes;
}
