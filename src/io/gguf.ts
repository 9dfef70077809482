import { TinyLMError, check } from "../errors.js";
import { bf16ArrayToF32, f16ArrayToF32 } from "../util/f16.js";

/**
 * GGUF v3, llama.cpp's model file, read and written as plain bytes (little-endian throughout):
 *
 *     "GGUF" │ u32 version │ u64 tensor_count │ u64 kv_count
 *     kv_count × (string key, u32 value_type, value)            string = u64 byte length + UTF-8, no NUL
 *     tensor_count × (string name, u32 n_dims, n_dims × u64 ne, u32 ggml_type, u64 offset)
 *     zero padding to `alignment` │ tensor data, in info order, each zero-padded to `alignment`
 *
 * `ne[0]` is the contiguous dimension (the numpy shape reversed); `alignment` is the u32 `general.alignment` key or
 * 32. llama.cpp requires offset[i] = Σ_{j<i} pad(nbytes[j]), so the data is one packed sequence; this reader requires
 * the same, and every other rule llama.cpp's gguf.cpp enforces (see ../shared/GGUF.md). The reader checks every length
 * against the bytes that remain before it reads or allocates, so a corrupt file ends in a TinyLMError BAD_FILE.
 */

export type GgufScalarType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "string" | "u64" | "i64" | "f64";

interface ArrayValues {
  u8: Uint8Array; i8: Int8Array; u16: Uint16Array; i16: Int16Array; u32: Uint32Array; i32: Int32Array; f32: Float32Array;
  f64: Float64Array; u64: BigUint64Array; i64: BigInt64Array; bool: boolean[]; string: string[];
}

/** A metadata value with its GGUF type (the type matters to llama.cpp: a u32 key written as i32 is rejected). */
export type GgufValue =
  | { type: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64"; value: number }
  | { type: "u64" | "i64"; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { [E in GgufScalarType]: { type: "array"; elementType: E; value: ArrayValues[E] } }[GgufScalarType];

/** Value constructors: `gguf.u32(32000)`, `gguf.array("string", tokens)`. */
export const gguf = {
  u8: (value: number): GgufValue => ({ type: "u8", value }),
  i8: (value: number): GgufValue => ({ type: "i8", value }),
  u16: (value: number): GgufValue => ({ type: "u16", value }),
  i16: (value: number): GgufValue => ({ type: "i16", value }),
  u32: (value: number): GgufValue => ({ type: "u32", value }),
  i32: (value: number): GgufValue => ({ type: "i32", value }),
  f32: (value: number): GgufValue => ({ type: "f32", value }),
  f64: (value: number): GgufValue => ({ type: "f64", value }),
  u64: (value: bigint): GgufValue => ({ type: "u64", value }),
  i64: (value: bigint): GgufValue => ({ type: "i64", value }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  string: (value: string): GgufValue => ({ type: "string", value }),
  array: <E extends GgufScalarType>(elementType: E, value: ArrayValues[E]): GgufValue =>
    ({ type: "array", elementType, value }) as GgufValue,
};

// Value type ids and the byte size of fixed-size values (0 for string).
const VALUE_TYPES: readonly (GgufScalarType | "array")[] =
  ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];
const VALUE_SIZE: Record<GgufScalarType, number> =
  { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, string: 0, u64: 8, i64: 8, f64: 8 };
const TYPED: Record<Exclude<GgufScalarType, "bool" | "string">, { new(b: ArrayBuffer): ArrayValues[keyof ArrayValues] }> = {
  u8: Uint8Array, i8: Int8Array, u16: Uint16Array, i16: Int16Array, u32: Uint32Array, i32: Int32Array, f32: Float32Array,
  f64: Float64Array, u64: BigUint64Array, i64: BigInt64Array,
} as never;
const INT_RANGE: Partial<Record<GgufScalarType, [number, number]>> = {
  u8: [0, 0xff], i8: [-0x80, 0x7f], u16: [0, 0xffff], i16: [-0x8000, 0x7fff], u32: [0, 0xffffffff], i32: [-0x80000000, 0x7fffffff],
};

/** ggml tensor types: id in the file, weights per block, bytes per block. */
export type GgmlType =
  | "F32" | "F16" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q8_1" | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K" | "Q8_K"
  | "I8" | "I16" | "I32" | "I64" | "F64" | "BF16";
export const GGML_TYPES: Readonly<Record<GgmlType, { id: number; blockSize: number; typeSize: number }>> = {
  F32: { id: 0, blockSize: 1, typeSize: 4 },
  F16: { id: 1, blockSize: 1, typeSize: 2 },
  Q4_0: { id: 2, blockSize: 32, typeSize: 18 }, // f16 d, 16 bytes of nibbles
  Q4_1: { id: 3, blockSize: 32, typeSize: 20 }, // f16 d, f16 m, 16 bytes of nibbles
  Q5_0: { id: 6, blockSize: 32, typeSize: 22 },
  Q5_1: { id: 7, blockSize: 32, typeSize: 24 },
  Q8_0: { id: 8, blockSize: 32, typeSize: 34 }, // f16 d, 32 × i8
  Q8_1: { id: 9, blockSize: 32, typeSize: 36 },
  Q2_K: { id: 10, blockSize: 256, typeSize: 84 },
  Q3_K: { id: 11, blockSize: 256, typeSize: 110 },
  Q4_K: { id: 12, blockSize: 256, typeSize: 144 },
  Q5_K: { id: 13, blockSize: 256, typeSize: 176 },
  Q6_K: { id: 14, blockSize: 256, typeSize: 210 },
  Q8_K: { id: 15, blockSize: 256, typeSize: 292 },
  I8: { id: 24, blockSize: 1, typeSize: 1 },
  I16: { id: 25, blockSize: 1, typeSize: 2 },
  I32: { id: 26, blockSize: 1, typeSize: 4 },
  I64: { id: 27, blockSize: 1, typeSize: 8 },
  F64: { id: 28, blockSize: 1, typeSize: 8 },
  BF16: { id: 30, blockSize: 1, typeSize: 2 },
};
const TYPE_BY_ID = new Map(Object.entries(GGML_TYPES).map(([name, t]) => [t.id, name as GgmlType]));
// Real llama.cpp types whose block layout tinylm does not know (i-quants, ternary, MXFP4): reported as unsupported,
// not as corruption.
const UNSUPPORTED_TYPE_IDS = new Set([16, 17, 18, 19, 20, 21, 22, 23, 29, 34, 35, 39]);

/** Bytes of a tensor of `type` with dimensions `ne` (ne[0] contiguous); ne[0] must be a multiple of the block size. */
export function ggmlTensorBytes(type: GgmlType, ne: readonly number[]): number {
  check(Object.hasOwn(GGML_TYPES, type), "BAD_ARGUMENT", `unknown ggml type ${type}`);
  const t = GGML_TYPES[type];
  check(ne.every((d) => Number.isSafeInteger(d) && d >= 0), "BAD_SHAPE", `invalid tensor dimensions [${ne}]`);
  const ne0 = ne.length === 0 ? 1 : ne[0];
  check(ne0 % t.blockSize === 0, "BAD_SHAPE", `a ${type} row holds blocks of ${t.blockSize} values, but ne[0] = ${ne0}`);
  return (ne0 / t.blockSize) * t.typeSize * ne.slice(1).reduce((a, b) => a * b, 1);
}

export interface GgufTensor {
  name: string;
  type: GgmlType;
  /** ne: ne[0] is the contiguous dimension (the numpy/PyTorch shape reversed). */
  shape: number[];
  /** Raw little-endian bytes (reading: a view into the file, no copy). */
  data: Uint8Array;
}

export interface GgufFile {
  version: number;
  /** In file order. */
  metadata: Map<string, GgufValue>;
  /** In file order. */
  tensors: GgufTensor[];
  alignment: number;
  /** Byte offset of the data section in the file. */
  dataOffset: number;
}

const DEFAULT_ALIGNMENT = 32;
const MAX_NAME_BYTES = 63; // GGML_MAX_NAME = 64 including the NUL
const MAX_DIMS = 4;

/** Parses and validates a whole GGUF file. Throws TinyLMError BAD_FILE (or UNSUPPORTED for a known but unsupported type). */
export function readGguf(bytes: Uint8Array): GgufFile {
  check(bytes instanceof Uint8Array, "BAD_ARGUMENT", "readGguf: expected the file as a Uint8Array");
  littleEndianHost();
  const r = new Reader(bytes);
  bad(bytes.length >= 4 && bytes[0] === 0x47 && bytes[1] === 0x47 && bytes[2] === 0x55 && bytes[3] === 0x46,
    "the file does not start with the magic \"GGUF\"");
  r.pos = 4;
  const version = r.u32("version");
  bad(version !== 1, "GGUF version 1 is not supported (it is obsolete; convert the file again)");
  bad(version === 2 || version === 3, `unknown GGUF version ${version} (expected 3)`);
  // Every tensor info takes at least 24 bytes and every key/value at least 14: larger counts cannot be real.
  const nTensors = r.count("tensor count", 24);
  const nKv = r.count("key/value count", 14);

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = r.string(`key ${i}`, true);
    bad(key.length > 0, `key ${i} is empty`);
    bad(!metadata.has(key), `duplicate key "${key}"`);
    const typeId = r.u32(`the type of "${key}"`);
    const type = VALUE_TYPES[typeId];
    bad(type !== undefined, `key "${key}" has unknown value type ${typeId}`);
    if (type === "array") {
      const elemId = r.u32(`the element type of "${key}"`);
      const elementType = VALUE_TYPES[elemId];
      bad(elementType !== undefined && elementType !== "array",
        `key "${key}" is an array of ${elementType === "array" ? "arrays (not supported by llama.cpp)" : `unknown type ${elemId}`}`);
      const n = r.count(`the length of "${key}"`, Math.max(1, VALUE_SIZE[elementType] || 8));
      metadata.set(key, { type: "array", elementType, value: r.array(elementType, n, key) } as GgufValue);
    } else {
      metadata.set(key, r.scalar(type, key));
    }
  }

  let alignment = DEFAULT_ALIGNMENT;
  const a = metadata.get("general.alignment");
  if (a !== undefined) {
    bad(a.type === "u32", `general.alignment must be a u32, not ${a.type}`);
    alignment = a.value as number;
    bad(alignment > 0 && (alignment & (alignment - 1)) === 0, `general.alignment ${alignment} is not a power of 2`);
  }

  const infos: { name: string; type: GgmlType; shape: number[]; offset: number; nbytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = r.string(`the name of tensor ${i}`, true);
    const nameBytes = r.lastStringBytes;
    bad(nameBytes <= MAX_NAME_BYTES, `tensor name "${name.slice(0, 80)}" is ${nameBytes} bytes long; llama.cpp allows ${MAX_NAME_BYTES}`);
    bad(!names.has(name), `duplicate tensor name "${name}"`);
    names.add(name);
    const nDims = r.u32(`the dimension count of "${name}"`);
    bad(nDims <= MAX_DIMS, `tensor "${name}" has ${nDims} dimensions; ggml allows at most ${MAX_DIMS}`);
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const ne = r.u64(`dimension ${d} of "${name}"`);
      bad(ne <= BigInt(Number.MAX_SAFE_INTEGER), `tensor "${name}" has dimension ${d} = ${ne}, beyond any real tensor`);
      shape.push(Number(ne));
    }
    const typeId = r.u32(`the type of "${name}"`);
    const type = TYPE_BY_ID.get(typeId);
    if (type === undefined && UNSUPPORTED_TYPE_IDS.has(typeId)) {
      throw new TinyLMError("UNSUPPORTED", `gguf: tensor "${name}" has ggml type ${typeId}, which tinylm does not support`);
    }
    bad(type !== undefined, `tensor "${name}" has unknown ggml type ${typeId}`);
    const { blockSize, typeSize } = GGML_TYPES[type];
    const ne0 = nDims === 0 ? 1 : shape[0];
    bad(ne0 % blockSize === 0, `tensor "${name}" is ${type} (blocks of ${blockSize}) but has ${ne0} elements per row`);
    const nbytes = (ne0 / blockSize) * typeSize * shape.slice(1).reduce((x, y) => x * y, 1);
    bad(nbytes <= bytes.length, `tensor "${name}" of shape [${shape}] needs ${nbytes} bytes, more than the whole file`);
    const offset = r.u64(`the offset of "${name}"`);
    bad(offset <= BigInt(bytes.length), `tensor "${name}" has offset ${offset}, past the end of the file`);
    infos.push({ name, type, shape, offset: Number(offset), nbytes });
  }

  // llama.cpp seeks to the aligned data section only when there are tensors.
  const dataOffset = nTensors > 0 ? pad(r.pos, alignment) : r.pos;
  bad(dataOffset <= bytes.length, `the file ends at byte ${bytes.length}, before its data section at ${dataOffset}`);
  const tensors: GgufTensor[] = [];
  let expected = 0;
  for (const t of infos) {
    bad(t.offset % alignment === 0, `tensor "${t.name}" has offset ${t.offset}, not a multiple of the alignment ${alignment}`);
    bad(t.offset === expected, `tensor "${t.name}" has offset ${t.offset}, expected ${expected} (tensors must be packed in order)`);
    const start = dataOffset + t.offset;
    bad(start + t.nbytes <= bytes.length, `tensor "${t.name}" ends at byte ${start + t.nbytes}, past the end of the ${bytes.length}-byte file (truncated)`);
    tensors.push({ name: t.name, type: t.type, shape: t.shape, data: bytes.subarray(start, start + t.nbytes) });
    expected += pad(t.nbytes, alignment);
  }
  return { version, metadata, tensors, alignment, dataOffset };
}

/**
 * Serializes metadata and tensors to the bytes of a GGUF v3 file, laid out as gguf-py and llama.cpp's
 * gguf_write_to_buf do (keys in the given order, data aligned and each tensor padded with zeros). The alignment is the `general.alignment`
 * value when given (u32, power of 2), else 32. Throws TinyLMError on anything llama.cpp would reject.
 */
export function writeGguf(metadata: Map<string, GgufValue> | Iterable<readonly [string, GgufValue]>, tensors: readonly GgufTensor[]): Uint8Array {
  littleEndianHost();
  const kvs = [...metadata];
  const keys = new Set<string>();
  for (const [key, v] of kvs) {
    check(typeof key === "string" && key.length > 0, "BAD_ARGUMENT", "writeGguf: metadata keys must be non-empty strings");
    check(!keys.has(key), "BAD_ARGUMENT", `writeGguf: duplicate key "${key}"`);
    keys.add(key);
    validateValue(key, v);
  }
  let alignment = DEFAULT_ALIGNMENT;
  const a = kvs.find(([k]) => k === "general.alignment")?.[1];
  if (a !== undefined) {
    check(a.type === "u32" && a.value > 0 && (a.value & (a.value - 1)) === 0, "BAD_ARGUMENT",
      "writeGguf: general.alignment must be a u32 power of 2");
    alignment = a.value;
  }
  const enc = new TextEncoder();
  const names = new Set<string>();
  const sizes: number[] = [];
  for (const t of tensors) {
    const nameBytes = enc.encode(t.name).length;
    check(nameBytes <= MAX_NAME_BYTES, "BAD_ARGUMENT", `writeGguf: tensor name "${t.name}" is ${nameBytes} bytes; llama.cpp allows ${MAX_NAME_BYTES}`);
    check(!names.has(t.name), "BAD_ARGUMENT", `writeGguf: duplicate tensor name "${t.name}"`);
    names.add(t.name);
    check(Object.hasOwn(GGML_TYPES, t.type), "BAD_ARGUMENT", `writeGguf: tensor "${t.name}" has unknown type ${t.type}`);
    check(t.shape.length <= MAX_DIMS, "BAD_SHAPE", `writeGguf: tensor "${t.name}" has ${t.shape.length} dimensions; ggml allows ${MAX_DIMS}`);
    const nbytes = ggmlTensorBytes(t.type, t.shape);
    check(t.data instanceof Uint8Array && t.data.length === nbytes, "BAD_SHAPE",
      `writeGguf: tensor "${t.name}" is ${t.type} [${t.shape}] = ${nbytes} bytes, but its data has ${t.data?.length}`);
    sizes.push(nbytes);
  }

  const w = new Writer();
  w.bytes(new Uint8Array([0x47, 0x47, 0x55, 0x46]));
  w.u32(3);
  w.u64(BigInt(tensors.length));
  w.u64(BigInt(kvs.length));
  for (const [key, v] of kvs) {
    w.string(key);
    w.u32(VALUE_TYPES.indexOf(v.type));
    if (v.type === "array") {
      w.u32(VALUE_TYPES.indexOf(v.elementType));
      w.u64(BigInt(v.value.length));
      writeArray(w, v);
    } else {
      w.scalar(v.type, v.value);
    }
  }
  let offset = 0;
  tensors.forEach((t, i) => {
    w.string(t.name);
    w.u32(t.shape.length);
    for (const d of t.shape) w.u64(BigInt(d));
    w.u32(GGML_TYPES[t.type].id);
    w.u64(BigInt(offset));
    offset += pad(sizes[i], alignment);
  });
  // Like gguf-py (llama.cpp's ggml-vocab-*.gguf files), a file without tensors ends right after the metadata.
  if (tensors.length > 0) w.zeros(pad(w.length, alignment) - w.length);
  tensors.forEach((t, i) => {
    w.bytes(t.data);
    w.zeros(pad(sizes[i], alignment) - sizes[i]);
  });
  return w.result();
}

/** The values of an F32, F16 or BF16 tensor as a new Float32Array (quantized types are the quant module's job). */
export function ggufTensorToF32(t: GgufTensor): Float32Array {
  littleEndianHost();
  const buf = new Uint8Array(t.data).buffer; // a copy: tensor data in a file need not be aligned for a typed-array view
  switch (t.type) {
    case "F32": return new Float32Array(buf);
    case "F16": return f16ArrayToF32(new Uint16Array(buf));
    case "BF16": return bf16ArrayToF32(new Uint16Array(buf));
    default: throw new TinyLMError("UNSUPPORTED", `ggufTensorToF32: tensor "${t.name}" is ${t.type}; dequantize it first`);
  }
}

/** A numeric metadata value (any of u8 … i32, f32, f64), or undefined when the key is absent or of another type. */
export function ggufNumber(meta: Map<string, GgufValue>, key: string): number | undefined {
  const v = meta.get(key);
  return v !== undefined && typeof v.value === "number" ? v.value : undefined;
}

/** A string metadata value, or undefined when the key is absent or not a string. */
export function ggufString(meta: Map<string, GgufValue>, key: string): string | undefined {
  const v = meta.get(key);
  return v?.type === "string" ? v.value : undefined;
}

function validateValue(key: string, v: GgufValue): void {
  const fail = (what: string) => new TinyLMError("BAD_ARGUMENT", `writeGguf: key "${key}": ${what}`);
  if (v.type === "array") {
    if (!VALUE_TYPES.includes(v.elementType) || v.elementType === ("array" as never)) throw fail(`invalid array element type ${String(v.elementType)}`);
    if (v.elementType === "string" || v.elementType === "bool") {
      if (!Array.isArray(v.value) || !v.value.every((x) => typeof x === (v.elementType === "string" ? "string" : "boolean"))) {
        throw fail(`an array of ${v.elementType} must be a JS array of ${v.elementType === "string" ? "strings" : "booleans"}`);
      }
    } else if (!(v.value instanceof TYPED[v.elementType])) {
      throw fail(`an array of ${v.elementType} must be a ${TYPED[v.elementType].name}`);
    }
    return;
  }
  const value: unknown = v.value;
  const range = INT_RANGE[v.type];
  let ok: boolean;
  if (range !== undefined) ok = Number.isInteger(value) && (value as number) >= range[0] && (value as number) <= range[1];
  else if (v.type === "f32" || v.type === "f64") ok = typeof value === "number";
  else if (v.type === "u64") ok = typeof value === "bigint" && value >= 0n && value < 1n << 64n;
  else if (v.type === "i64") ok = typeof value === "bigint" && value >= -(1n << 63n) && value < 1n << 63n;
  else if (v.type === "bool") ok = typeof value === "boolean";
  else if (v.type === "string") ok = typeof value === "string";
  else throw fail(`unknown value type ${String((v as { type: unknown }).type)}`);
  if (!ok) throw fail(`${String(value)} is not a valid ${v.type}${v.type.endsWith("64") && v.type !== "f64" ? " (a bigint)" : ""}`);
}

function writeArray(w: Writer, v: Extract<GgufValue, { type: "array" }>): void {
  if (v.elementType === "string") for (const s of v.value as string[]) w.string(s);
  else if (v.elementType === "bool") for (const b of v.value as boolean[]) w.bytes(new Uint8Array([b ? 1 : 0]));
  else {
    const t = v.value as Exclude<ArrayValues[keyof ArrayValues], string[] | boolean[]>;
    w.bytes(new Uint8Array(t.buffer, t.byteOffset, t.byteLength));
  }
}

function pad(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function bad(ok: boolean, message: string): asserts ok {
  if (!ok) throw new TinyLMError("BAD_FILE", `gguf: ${message}`);
}

// Bounds-checked little-endian reads: every read first checks that its bytes exist.
class Reader {
  pos = 0;
  lastStringBytes = 0;
  private readonly dv: DataView;
  // ignoreBOM keeps a leading U+FEFF: it is a real token in several vocabularies, not a byte-order mark.
  private readonly strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  private readonly lenient = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(private readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number, what: string): void {
    bad(this.pos + n <= this.bytes.length, `the file ends inside ${what} (truncated at byte ${this.bytes.length})`);
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.dv.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** A u64 count of items of at least `minBytes` each, rejected if the rest of the file cannot hold them. */
  count(what: string, minBytes: number): number {
    const n = this.u64(what);
    const room = BigInt(Math.floor((this.bytes.length - this.pos) / minBytes));
    bad(n <= room, `${what} is ${n}, more than the ${this.bytes.length - this.pos} remaining bytes can hold`);
    return Number(n);
  }

  // Keys and tensor names must be valid UTF-8; string values are decoded leniently (U+FFFD for bad bytes), because
  // real vocabularies occasionally hold byte fragments and llama.cpp does not check them either.
  string(what: string, strict = false): string {
    const n = this.u64(`the length of ${what}`);
    bad(n <= BigInt(this.bytes.length - this.pos), `${what} is ${n} bytes long, past the end of the file`);
    const len = Number(n);
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    this.lastStringBytes = len;
    if (!strict) return this.lenient.decode(slice);
    try {
      return this.strict.decode(slice);
    } catch {
      throw new TinyLMError("BAD_FILE", `gguf: ${what} is not valid UTF-8`);
    }
  }

  scalar(type: GgufScalarType, key: string): GgufValue {
    const what = `the value of "${key}"`;
    if (type === "string") return { type, value: this.string(what) };
    this.need(VALUE_SIZE[type], what);
    const p = this.pos;
    this.pos += VALUE_SIZE[type];
    const dv = this.dv;
    switch (type) {
      case "u8": return { type, value: dv.getUint8(p) };
      case "i8": return { type, value: dv.getInt8(p) };
      case "u16": return { type, value: dv.getUint16(p, true) };
      case "i16": return { type, value: dv.getInt16(p, true) };
      case "u32": return { type, value: dv.getUint32(p, true) };
      case "i32": return { type, value: dv.getInt32(p, true) };
      case "f32": return { type, value: dv.getFloat32(p, true) };
      case "f64": return { type, value: dv.getFloat64(p, true) };
      case "u64": return { type, value: dv.getBigUint64(p, true) };
      case "i64": return { type, value: dv.getBigInt64(p, true) };
      case "bool": return { type, value: dv.getUint8(p) !== 0 };
    }
  }

  array(type: GgufScalarType, n: number, key: string): ArrayValues[keyof ArrayValues] {
    const what = `the array "${key}"`;
    if (type === "string") {
      const out = new Array<string>(n);
      for (let i = 0; i < n; i++) out[i] = this.string(`element ${i} of ${what}`);
      return out;
    }
    const size = VALUE_SIZE[type] * n;
    this.need(size, what);
    const slice = this.bytes.slice(this.pos, this.pos + size);
    this.pos += size;
    if (type === "bool") return Array.from(slice, (b) => b !== 0);
    return new TYPED[type](slice.buffer);
  }
}

// A growable little-endian byte buffer.
class Writer {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  length = 0;
  private readonly enc = new TextEncoder();

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }

  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }

  u32(v: number): void {
    this.reserve(4);
    this.dv.setUint32(this.length, v, true);
    this.length += 4;
  }

  u64(v: bigint): void {
    this.reserve(8);
    this.dv.setBigUint64(this.length, v, true);
    this.length += 8;
  }

  string(s: string): void {
    const b = this.enc.encode(s);
    this.u64(BigInt(b.length));
    this.bytes(b);
  }

  scalar(type: GgufScalarType, v: number | bigint | boolean | string): void {
    if (type === "string") return this.string(v as string);
    this.reserve(8);
    const p = this.length;
    const dv = this.dv;
    switch (type) {
      case "u8": dv.setUint8(p, v as number); break;
      case "i8": dv.setInt8(p, v as number); break;
      case "u16": dv.setUint16(p, v as number, true); break;
      case "i16": dv.setInt16(p, v as number, true); break;
      case "u32": dv.setUint32(p, v as number, true); break;
      case "i32": dv.setInt32(p, v as number, true); break;
      case "f32": dv.setFloat32(p, v as number, true); break;
      case "f64": dv.setFloat64(p, v as number, true); break;
      case "u64": dv.setBigUint64(p, v as bigint, true); break;
      case "i64": dv.setBigInt64(p, v as bigint, true); break;
      case "bool": dv.setUint8(p, v ? 1 : 0); break;
    }
    this.length += VALUE_SIZE[type];
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

let hostChecked = false;
function littleEndianHost(): void {
  if (hostChecked) return;
  check(new Uint8Array(new Uint16Array([1]).buffer)[0] === 1, "UNSUPPORTED", "tinylm needs a little-endian host (GGUF is little-endian)");
  hostChecked = true;
}
