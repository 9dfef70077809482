import { TinyLMError, check } from "../errors.js";
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from "../util/f16.js";

/**
 * The safetensors format (Hugging Face), read and written as plain bytes so that it works in any runtime:
 *
 *     u64 N (little-endian) │ N bytes of JSON header │ data
 *
 * The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the start
 * of the data), plus an optional "__metadata__" map of string → string. Tensors are C-ordered (row-major) and
 * little-endian. The reference writer (the Rust crate every binding uses) pads the header with spaces to a multiple of
 * 8 bytes, so that data stays aligned, and stores tensors sorted by descending dtype size, then by name; the reader
 * requires the tensors to tile the data exactly, with no gap, overlap or trailing byte. Both rules are kept here.
 */

export type SafetensorsDtype =
  | "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "I16" | "U16" | "F16" | "BF16" | "I32" | "U32" | "F32" | "F64" | "I64" | "U64";

// Bytes per element; the order is the Rust crate's `Dtype` enum (increasing alignment), which the writer sorts by.
const DTYPES: Record<SafetensorsDtype, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};
const DTYPE_RANK = Object.keys(DTYPES) as SafetensorsDtype[];

/** Bytes per element of a safetensors dtype. */
export function safetensorsDtypeSize(dtype: SafetensorsDtype): number {
  return DTYPES[dtype];
}

/** One tensor: its raw little-endian bytes, row-major in `shape`. */
export interface SafetensorsTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

export interface SafetensorsFile {
  /** In file order. Each tensor's data is a view into the bytes given to readSafetensors (no copy). */
  tensors: Map<string, SafetensorsTensor>;
  /** The "__metadata__" map ({} when absent). */
  metadata: Record<string, string>;
}

// The Rust reader's limit: a larger header is taken as a corrupt or hostile file.
const MAX_HEADER_BYTES = 100_000_000;

/** Parses and validates a whole .safetensors file. Throws TinyLMError BAD_FILE on anything malformed. */
export function readSafetensors(bytes: Uint8Array): SafetensorsFile {
  check(bytes instanceof Uint8Array, "BAD_ARGUMENT", "readSafetensors: expected the file as a Uint8Array");
  bad(bytes.length >= 8, `the file is ${bytes.length} bytes long, shorter than the 8-byte header length`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = dv.getBigUint64(0, true);
  bad(n64 <= BigInt(MAX_HEADER_BYTES), `the header length ${n64} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const n = Number(n64);
  bad(8 + n <= bytes.length, `the header length ${n} runs past the end of the ${bytes.length}-byte file`);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new TinyLMError("BAD_FILE", "safetensors: the header is not valid UTF-8");
  }
  bad(text.startsWith("{"), "the header does not start with '{' (not a safetensors file?)");
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new TinyLMError("BAD_FILE", `safetensors: the header is not valid JSON (${(e as Error).message})`);
  }
  bad(isObject(header), "the header is not a JSON object");

  let metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      bad(isObject(info) && Object.values(info).every((v) => typeof v === "string"), "__metadata__ must map strings to strings");
      metadata = { ...(info as Record<string, string>) };
      continue;
    }
    bad(isObject(info), `tensor "${name}" is not described by a JSON object`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    bad(typeof dtype === "string" && Object.hasOwn(DTYPES, dtype), `tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}`);
    bad(Array.isArray(shape) && shape.every(isSize), `tensor "${name}" has an invalid shape ${JSON.stringify(shape)}`);
    bad(Array.isArray(offsets) && offsets.length === 2 && offsets.every(isSize) && offsets[0] <= offsets[1],
      `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
    entries.push({ name, dtype: dtype as SafetensorsDtype, shape: shape as number[], begin: offsets[0], end: offsets[1] });
  }

  // The tensors must tile the data exactly: sorted by offset, each starts where the previous ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let expected = 0;
  for (const e of entries) {
    bad(e.begin === expected, e.begin < expected
      ? `tensor "${e.name}" at bytes [${e.begin}, ${e.end}) overlaps the previous tensor, which ends at ${expected}`
      : `tensor "${e.name}" starts at byte ${e.begin} but the previous tensor ends at ${expected} (a gap)`);
    bad(e.end <= dataLength, `tensor "${e.name}" ends at byte ${e.end}, past the ${dataLength} bytes of data`);
    const nbytes = elementCount(e.shape) * DTYPES[e.dtype];
    bad(nbytes === e.end - e.begin,
      `tensor "${e.name}" is ${e.dtype} of shape [${e.shape}], ${nbytes} bytes, but its data_offsets span ${e.end - e.begin}`);
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: bytes.subarray(dataStart + e.begin, dataStart + e.end) });
    expected = e.end;
  }
  bad(expected === dataLength, `the tensors cover ${expected} bytes of data but the file holds ${dataLength}`);
  return { tensors, metadata };
}

/**
 * Serializes tensors (and optional string metadata) to the bytes of a .safetensors file, in the Rust writer's layout:
 * compact JSON, __metadata__ first, header padded with spaces to a multiple of 8, tensors sorted by descending dtype
 * then name. Throws TinyLMError on a dtype, shape or data length that do not agree.
 */
export function writeSafetensors(
  tensors: Map<string, SafetensorsTensor> | Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))];
  for (const [name, t] of list) {
    check(name !== "__metadata__", "BAD_ARGUMENT", "writeSafetensors: \"__metadata__\" is reserved and cannot name a tensor");
    check(Object.hasOwn(DTYPES, t.dtype), "BAD_ARGUMENT", `writeSafetensors: tensor "${name}" has unknown dtype ${t.dtype}`);
    check(Array.isArray(t.shape) && t.shape.every(isSize), "BAD_SHAPE", `writeSafetensors: tensor "${name}" has an invalid shape [${t.shape}]`);
    check(t.data instanceof Uint8Array, "BAD_ARGUMENT", `writeSafetensors: tensor "${name}" data must be a Uint8Array of raw bytes`);
    const nbytes = elementCount(t.shape) * DTYPES[t.dtype];
    check(nbytes === t.data.length, "BAD_SHAPE",
      `writeSafetensors: tensor "${name}" is ${t.dtype} [${t.shape}] = ${nbytes} bytes, but its data has ${t.data.length}`);
  }
  if (metadata !== undefined) {
    check(isObject(metadata) && Object.values(metadata).every((v) => typeof v === "string"), "BAD_ARGUMENT",
      "writeSafetensors: metadata must map strings to strings");
  }
  const rank = (d: SafetensorsDtype) => DTYPE_RANK.indexOf(d);
  const utf8 = new TextEncoder();
  // Rust compares names as UTF-8 bytes, which differs from JS's UTF-16 order for characters above U+FFFF.
  list.sort(([an, a], [bn, b]) => rank(b.dtype) - rank(a.dtype) || compareBytes(utf8.encode(an), utf8.encode(bn)));

  // Built by hand rather than from an object: JS objects move integer-like keys ("0", "12") to the front.
  // JSON.stringify escapes exactly what serde_json escapes (quote, backslash, control characters, lowercase \u00xx).
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  let offset = 0;
  for (const [name, t] of list) {
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":${JSON.stringify(t.shape)},"data_offsets":[${offset},${offset + t.data.length}]}`);
    offset += t.data.length;
  }
  const json = utf8.encode(`{${parts.join(",")}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let p = 8 + n;
  for (const [, t] of list) {
    out.set(t.data, p);
    p += t.data.length;
  }
  return out;
}

/** A tensor of f32 values stored as F32, F16 or BF16 (rounded to nearest even). */
export function f32Tensor(shape: number[], values: Float32Array, dtype: "F32" | "F16" | "BF16" = "F32"): SafetensorsTensor {
  check(Array.isArray(shape) && shape.every(isSize), "BAD_SHAPE", `f32Tensor: invalid shape [${shape}]`);
  const count = elementCount(shape);
  check(values.length === count, "BAD_SHAPE", `f32Tensor: shape [${shape}] holds ${count} values, got ${values.length}`);
  littleEndianHost();
  const typed = dtype === "F32" ? values : dtype === "F16" ? f32ArrayToF16(values) : dtype === "BF16" ? f32ArrayToBf16(values) : undefined;
  check(typed !== undefined, "BAD_ARGUMENT", `f32Tensor: dtype must be F32, F16 or BF16, got ${dtype}`);
  return { dtype, shape: [...shape], data: new Uint8Array(typed.buffer.slice(typed.byteOffset, typed.byteOffset + typed.byteLength)) };
}

/** The values of an F32, F16, BF16 or F64 tensor as a new Float32Array (F64 rounded to f32). */
export function tensorToF32(t: SafetensorsTensor): Float32Array {
  littleEndianHost();
  // Copy first: a tensor's data inside a file need not be aligned for a typed-array view.
  const buf = new Uint8Array(t.data).buffer; // a copy of exactly these bytes (a Node Buffer's slice() would share its pool)
  switch (t.dtype) {
    case "F32": return new Float32Array(buf);
    case "F16": return f16ArrayToF32(new Uint16Array(buf));
    case "BF16": return bf16ArrayToF32(new Uint16Array(buf));
    case "F64": return Float32Array.from(new Float64Array(buf));
    default: throw new TinyLMError("UNSUPPORTED", `tensorToF32: a ${t.dtype} tensor does not hold floating-point values`);
  }
}

function bad(ok: boolean, message: string): asserts ok {
  if (!ok) throw new TinyLMError("BAD_FILE", `safetensors: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isSize(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

// The product of the dimensions. Above 2^53 it is inexact, but then it cannot equal any real byte count either.
function elementCount(shape: number[]): number {
  let count = 1;
  for (const d of shape) count *= d;
  return count;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

let hostChecked = false;
function littleEndianHost(): void {
  if (hostChecked) return;
  check(new Uint8Array(new Uint16Array([1]).buffer)[0] === 1, "UNSUPPORTED", "tinylm needs a little-endian host (files are little-endian)");
  hostChecked = true;
}
