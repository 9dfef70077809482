import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { GGML_TYPES, gguf, ggmlTensorBytes, ggufNumber, ggufString, ggufTensorToF32, readGguf, writeGguf, type GgufTensor, type GgufValue } from "../../src/io/gguf.js";

// No .gguf file and no GGUF library is installed (node-llama-cpp is not), so the reader is checked against files
// built here byte by byte by a separate minimal writer that follows ../shared/GGUF.md and llama.cpp's gguf.cpp, and
// can also build the broken files the reader must refuse.

class SpecBytes {
  b: number[] = [];
  u8(x: number) { this.b.push(x & 0xff); return this; }
  u32(x: number) { for (let i = 0; i < 4; i++) this.b.push((x >>> (8 * i)) & 0xff); return this; }
  u64(x: number | bigint) { let v = BigInt(x); for (let i = 0; i < 8; i++) { this.b.push(Number(v & 0xffn)); v >>= 8n; } return this; }
  f32(x: number) { this.b.push(...new Uint8Array(new Float32Array([x]).buffer)); return this; }
  f64(x: number) { this.b.push(...new Uint8Array(new Float64Array([x]).buffer)); return this; }
  str(s: string) { const u = new TextEncoder().encode(s); this.u64(u.length); this.b.push(...u); return this; }
  raw(xs: ArrayLike<number>) { this.b.push(...Array.from(xs)); return this; }
  zeroPadTo(a: number) { while (this.b.length % a) this.b.push(0); return this; }
}

interface SpecTensor { name: string; dims: (number | bigint)[]; typeId: number; offset: number | bigint; data: number[] }
interface SpecFile {
  magic?: number[];
  version?: number;
  nTensors?: number | bigint;
  nKv?: number | bigint;
  kvs: [string, (b: SpecBytes) => void][]; // key and a writer for "u32 type, value"
  tensors: SpecTensor[];
  alignment?: number; // for padding only; the file states it via a general.alignment kv if wanted
}

function specFile(f: SpecFile): Uint8Array {
  const b = new SpecBytes();
  b.raw(f.magic ?? [0x47, 0x47, 0x55, 0x46]).u32(f.version ?? 3).u64(f.nTensors ?? f.tensors.length).u64(f.nKv ?? f.kvs.length);
  for (const [key, value] of f.kvs) { b.str(key); value(b); }
  for (const t of f.tensors) {
    b.str(t.name).u32(t.dims.length);
    for (const d of t.dims) b.u64(d);
    b.u32(t.typeId).u64(t.offset);
  }
  const a = f.alignment ?? 32;
  b.zeroPadTo(a);
  for (const t of f.tensors) { b.raw(t.data); b.zeroPadTo(a); }
  return new Uint8Array(b.b);
}

const U32 = (x: number) => (b: SpecBytes) => b.u32(4).u32(x);
const STR = (s: string) => (b: SpecBytes) => b.u32(8).str(s);

const f32Data = (xs: number[]) => Array.from(new Uint8Array(new Float32Array(xs).buffer));
// Q8_0 block: f16 d = 0.5 (0x3800), then 32 int8.
const q8Block = (k: number) => [0x00, 0x38, ...Array.from({ length: 32 }, (_, j) => (j * k - 16) & 0xff)];

// A llama-like file exercising every value type, arrays, and F32 / F16 / Q8_0 / Q4_0 tensors.
function richSpec(alignment?: number): SpecFile {
  const a = alignment ?? 32;
  const t1 = f32Data([1, 2, 3, 4, 5, 6]); // F32 ne [3, 2]: 24 bytes
  const t2 = [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0xff, 0x7b]; // F16 [4]: 1, -2, 0.5, 65504
  const t3 = [...q8Block(1), ...q8Block(3)]; // Q8_0 ne [32, 2]: 68 bytes
  const t4 = Array.from({ length: 36 }, (_, i) => (i * 37) & 0xff); // Q4_0 ne [64]: 2 blocks of 18 bytes
  const pad = (n: number) => Math.ceil(n / a) * a;
  const kvs: [string, (b: SpecBytes) => void][] = [
    ["general.architecture", STR("llama")],
    ["general.name", STR("tést ✓")],
    ["llama.context_length", U32(128)],
    ["u8", (b) => b.u32(0).u8(200)],
    ["i8", (b) => b.u32(1).u8(-5)],
    ["u16", (b) => b.u32(2).u8(0x34).u8(0x12)],
    ["i16", (b) => b.u32(3).u8(0xfe).u8(0xff)],
    ["i32", (b) => b.u32(5).u32(-123456)],
    ["f32", (b) => b.u32(6).f32(1e-5)],
    ["bool", (b) => b.u32(7).u8(1)],
    ["u64", (b) => b.u32(10).u64(2n ** 63n + 5n)],
    ["i64", (b) => b.u32(11).u64(2n ** 64n - 7n)],
    ["f64", (b) => b.u32(12).f64(Math.PI)],
    ["tokenizer.ggml.tokens", (b) => b.u32(9).u32(8).u64(3).str("<unk>").str("▁the").str("")],
    ["tokenizer.ggml.scores", (b) => b.u32(9).u32(6).u64(3).f32(0).f32(-1.5).f32(-2)],
    ["tokenizer.ggml.token_type", (b) => b.u32(9).u32(5).u64(3).u32(2).u32(1).u32(-1)],
    ["bools", (b) => b.u32(9).u32(7).u64(2).u8(0).u8(1)],
    ["i64s", (b) => b.u32(9).u32(11).u64(1).u64(-1n & (2n ** 64n - 1n))],
    ["empty", (b) => b.u32(9).u32(4).u64(0)],
  ];
  if (alignment !== undefined) kvs.push(["general.alignment", U32(alignment)]);
  return {
    kvs,
    alignment: a,
    tensors: [
      { name: "token_embd.weight", dims: [3, 2], typeId: 0, offset: 0, data: t1 },
      { name: "blk.0.attn_norm.weight", dims: [4], typeId: 1, offset: pad(24), data: t2 },
      { name: "blk.0.attn_q.weight", dims: [32, 2], typeId: 8, offset: pad(24) + pad(8), data: t3 },
      { name: "output.weight", dims: [64], typeId: 2, offset: pad(24) + pad(8) + pad(68), data: t4 },
    ],
  };
}

function expectBad(bytes: Uint8Array, pattern?: RegExp, code = "BAD_FILE"): void {
  let err: unknown;
  try {
    readGguf(bytes);
  } catch (e) {
    err = e;
  }
  expect(err, "expected a TinyLMError").toBeInstanceOf(TinyLMError);
  expect((err as TinyLMError).code).toBe(code);
  if (pattern) expect((err as TinyLMError).message).toMatch(pattern);
}

describe("GGUF reader (files from an independent byte-level writer)", () => {
  for (const alignment of [undefined, 16, 64]) {
    it(`reads every value type, arrays and F32/F16/Q8_0/Q4_0 tensors (alignment ${alignment ?? "default 32"})`, () => {
      const spec = richSpec(alignment);
      const f = readGguf(specFile(spec));
      expect(f.version).toBe(3);
      expect(f.alignment).toBe(alignment ?? 32);
      expect(f.dataOffset % f.alignment).toBe(0);
      const m = f.metadata;
      expect([...m.keys()]).toEqual(spec.kvs.map(([k]) => k));
      expect(m.get("general.architecture")).toEqual({ type: "string", value: "llama" });
      expect(ggufString(m, "general.name")).toBe("tést ✓");
      expect(m.get("llama.context_length")).toEqual({ type: "u32", value: 128 });
      expect(m.get("u8")).toEqual({ type: "u8", value: 200 });
      expect(m.get("i8")).toEqual({ type: "i8", value: -5 });
      expect(m.get("u16")).toEqual({ type: "u16", value: 0x1234 });
      expect(m.get("i16")).toEqual({ type: "i16", value: -2 });
      expect(m.get("i32")).toEqual({ type: "i32", value: -123456 });
      expect(m.get("f32")).toEqual({ type: "f32", value: Math.fround(1e-5) });
      expect(m.get("bool")).toEqual({ type: "bool", value: true });
      expect(m.get("u64")).toEqual({ type: "u64", value: 2n ** 63n + 5n });
      expect(m.get("i64")).toEqual({ type: "i64", value: -7n });
      expect(m.get("f64")).toEqual({ type: "f64", value: Math.PI });
      expect(m.get("tokenizer.ggml.tokens")).toEqual({ type: "array", elementType: "string", value: ["<unk>", "▁the", ""] });
      expect(m.get("tokenizer.ggml.scores")).toEqual({ type: "array", elementType: "f32", value: new Float32Array([0, -1.5, -2]) });
      expect(m.get("tokenizer.ggml.token_type")).toEqual({ type: "array", elementType: "i32", value: new Int32Array([2, 1, -1]) });
      expect(m.get("bools")).toEqual({ type: "array", elementType: "bool", value: [false, true] });
      expect(m.get("i64s")).toEqual({ type: "array", elementType: "i64", value: new BigInt64Array([-1n]) });
      expect(m.get("empty")).toEqual({ type: "array", elementType: "u32", value: new Uint32Array(0) });
      expect(ggufNumber(m, "llama.context_length")).toBe(128);
      expect(ggufNumber(m, "general.name")).toBeUndefined();

      expect(f.tensors.map((t) => [t.name, t.type, t.shape])).toEqual([
        ["token_embd.weight", "F32", [3, 2]],
        ["blk.0.attn_norm.weight", "F16", [4]],
        ["blk.0.attn_q.weight", "Q8_0", [32, 2]],
        ["output.weight", "Q4_0", [64]],
      ]);
      f.tensors.forEach((t, i) => expect([...t.data]).toEqual(spec.tensors[i].data));
      expect([...ggufTensorToF32(f.tensors[0])]).toEqual([1, 2, 3, 4, 5, 6]);
      expect([...ggufTensorToF32(f.tensors[1])]).toEqual([1, -2, 0.5, 65504]);
      expect(() => ggufTensorToF32(f.tensors[2])).toThrow(TinyLMError);
    });

    it(`writes byte-for-byte what the independent writer writes (alignment ${alignment ?? "default 32"})`, () => {
      const bytes = specFile(richSpec(alignment));
      const f = readGguf(bytes);
      expect(writeGguf(f.metadata, f.tensors)).toEqual(bytes);
    });
  }

  it("reads a vocabulary-only file (no tensors), with or without padding after the metadata", () => {
    const kvs: SpecFile["kvs"] = [["general.architecture", STR("llama")], ["tokenizer.ggml.model", STR("llama")]];
    const bare = specFile({ kvs, tensors: [], alignment: 1 }); // as gguf-py writes ggml-vocab-*.gguf
    const padded = specFile({ kvs, tensors: [], alignment: 32 }); // as llama.cpp's gguf_write_to_buf writes it
    expect(bare.length % 32).not.toBe(0);
    const f = readGguf(bare);
    expect(f.tensors).toEqual([]);
    expect(f.dataOffset).toBe(bare.length);
    expect(readGguf(padded).metadata).toEqual(f.metadata);
    expect(writeGguf(f.metadata, [])).toEqual(bare);
  });

  it("accepts GGUF v2 (same layout) and tolerates a missing pad after the last tensor", () => {
    expect(readGguf(specFile({ ...richSpec(), version: 2 })).version).toBe(2);
    const bytes = specFile(richSpec());
    const lastEnd = readGguf(bytes).dataOffset + 32 + 32 + 96 + 36;
    expect(readGguf(bytes.subarray(0, lastEnd)).tensors[3].data.length).toBe(36);
  });
});

describe("GGUF reader rejects corrupt files with BAD_FILE", () => {
  const good = () => richSpec();
  const tensorAt = (i: number, patch: Partial<SpecTensor>): SpecFile => {
    const s = good();
    s.tensors[i] = { ...s.tensors[i], ...patch };
    return s;
  };

  it("bad magic and versions", () => {
    expectBad(specFile({ ...good(), magic: [0x47, 0x47, 0x4d, 0x4c] }), /magic/);
    expectBad(new Uint8Array([0x47, 0x47]), /magic/);
    expectBad(specFile({ ...good(), version: 1 }), /version 1/);
    expectBad(specFile({ ...good(), version: 4 }), /unknown GGUF version 4/);
    expectBad(specFile({ ...good(), version: 0x03000000 }), /unknown GGUF version/); // a big-endian file
  });

  it("absurd counts and lengths, before anything is allocated", () => {
    expectBad(specFile({ ...good(), nTensors: 2n ** 40n }), /tensor count/);
    expectBad(specFile({ ...good(), nKv: 2n ** 63n }), /key\/value count/);
    expectBad(specFile({ kvs: [["a", (b) => b.u32(9).u32(8).u64(2n ** 62n)]], tensors: [] }), /length of "a"/);
    expectBad(specFile({ kvs: [["a", (b) => b.u32(9).u32(12).u64(1_000_000)]], tensors: [] }), /length of "a"/);
    expectBad(specFile({ kvs: [["a", (b) => b.u32(8).u64(2n ** 60n)]], tensors: [] }), /past the end/);
    expectBad(specFile({ kvs: [], tensors: [{ name: "t", dims: [2n ** 62n], typeId: 0, offset: 0, data: [] }] }), /dimension 0/);
    expectBad(specFile({ kvs: [], tensors: [{ name: "t", dims: [1 << 20, 1 << 20], typeId: 0, offset: 0, data: [] }] }), /more than the whole file/);
  });

  it("bad keys and values", () => {
    expectBad(specFile({ kvs: [["a", U32(1)], ["a", U32(2)]], tensors: [] }), /duplicate key "a"/);
    expectBad(specFile({ kvs: [["", U32(1)]], tensors: [] }), /empty/);
    expectBad(specFile({ kvs: [["a", (b) => b.u32(13).u32(0)]], tensors: [] }), /unknown value type 13/);
    expectBad(specFile({ kvs: [["a", (b) => b.u32(9).u32(9).u64(0)]], tensors: [] }), /arrays/);
    expectBad(specFile({ kvs: [["a", (b) => b.u32(9).u32(77).u64(0)]], tensors: [] }), /unknown type 77/);
    const badUtf8Key = new SpecBytes().raw([0x47, 0x47, 0x55, 0x46]).u32(3).u64(0).u64(1).u64(2).raw([0xc3, 0x28]).u32(4).u32(1);
    expectBad(new Uint8Array(badUtf8Key.b), /UTF-8/);
    expectBad(specFile({ kvs: [["general.alignment", (b) => b.u32(5).u32(32)]], tensors: [] }), /must be a u32/);
    expectBad(specFile({ kvs: [["general.alignment", U32(24)]], tensors: [] }), /power of 2/);
    expectBad(specFile({ kvs: [["general.alignment", U32(0)]], tensors: [] }), /power of 2/);
  });

  it("bad tensor infos", () => {
    const s = good();
    s.tensors[1].name = s.tensors[0].name;
    expectBad(specFile(s), /duplicate tensor name/);
    expectBad(specFile(tensorAt(0, { name: "x".repeat(64) })), /64 bytes long/);
    expect(() => readGguf(specFile(tensorAt(0, { name: "x".repeat(63) })))).not.toThrow();
    expectBad(specFile(tensorAt(0, { name: "é".repeat(32) })), /64 bytes long/); // 32 characters, 64 bytes
    expectBad(specFile(tensorAt(0, { dims: [3, 2, 1, 1, 1] })), /5 dimensions/);
    expectBad(specFile(tensorAt(0, { typeId: 99 })), /unknown ggml type 99/);
    expectBad(specFile(tensorAt(0, { typeId: 4 })), /unknown ggml type 4/); // Q4_2, removed from ggml
    expectBad(specFile(tensorAt(0, { typeId: 16 })), /does not support/, "UNSUPPORTED"); // IQ2_XXS
    expectBad(specFile(tensorAt(2, { dims: [16, 4] })), /blocks of 32/);
  });

  it("offsets that break the packed sequence, misaligned data, data past the end", () => {
    expectBad(specFile(tensorAt(1, { offset: 64 })), /offset 64, expected 32/); // a gap
    expectBad(specFile(tensorAt(1, { offset: 0 })), /offset 0, expected 32/); // overlap
    expectBad(specFile(tensorAt(1, { offset: 36 })), /not a multiple of the alignment 32/);
    expectBad(specFile(tensorAt(3, { offset: 2n ** 40n })), /past the end of the file/);
    const s = good();
    [s.tensors[0].offset, s.tensors[1].offset] = [s.tensors[1].offset, s.tensors[0].offset];
    expectBad(specFile(s), /expected 0/); // infos listed out of data order
    // Offsets and general.alignment say 64, but the file was padded to 32: the data is not where the reader looks.
    const mis = richSpec(64);
    mis.alignment = 32;
    expectBad(specFile(mis), /truncated/);
  });

  it("truncation at every byte, and random bit flips, give TinyLMError and nothing else", () => {
    const bytes = specFile(richSpec());
    const lastEnd = readGguf(bytes).dataOffset + 32 + 32 + 96 + 36;
    for (let cut = 0; cut < lastEnd; cut++) expectBad(bytes.subarray(0, cut));
    let seed = 3;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let trial = 0; trial < 5000; trial++) {
      const b = bytes.slice();
      for (let k = 0, flips = 1 + rnd(4); k < flips; k++) b[rnd(b.length)] ^= 1 << rnd(8);
      try {
        readGguf(b);
      } catch (e) {
        if (!(e instanceof TinyLMError)) throw e;
      }
    }
  });
});

describe("GGUF writer", () => {
  it("round-trips metadata and tensors; the second write is byte-identical", () => {
    const meta = new Map<string, GgufValue>([
      ["general.architecture", gguf.string("llama")],
      ["general.alignment", gguf.u32(64)],
      ["x.u64", gguf.u64(123n)],
      ["x.tokens", gguf.array("string", ["a", "b"])],
      ["x.scores", gguf.array("f32", new Float32Array([0.5, -1]))],
      ["x.flags", gguf.array("bool", [true, false, true])],
    ]);
    const tensors: GgufTensor[] = [
      { name: "a", type: "F32", shape: [5], data: new Uint8Array(20).fill(1) },
      { name: "b", type: "Q4_1", shape: [32, 3], data: new Uint8Array(60).fill(2) },
      { name: "c", type: "F16", shape: [1, 1, 1, 3], data: new Uint8Array(6).fill(3) },
    ];
    const bytes = writeGguf(meta, tensors);
    const f = readGguf(bytes);
    expect(f.alignment).toBe(64);
    expect(f.metadata).toEqual(meta);
    expect(f.tensors.map((t) => ({ ...t, data: [...t.data] }))).toEqual(tensors.map((t) => ({ ...t, data: [...t.data] })));
    expect(f.tensors.map((t) => (t.data.byteOffset - f.dataOffset) % 64)).toEqual([0, 0, 0]);
    expect(bytes.length % 64).toBe(0);
    expect(writeGguf(f.metadata, f.tensors)).toEqual(bytes);
  });

  it("knows the block layouts of the quantized types", () => {
    expect(GGML_TYPES.Q8_0).toEqual({ id: 8, blockSize: 32, typeSize: 34 });
    expect(GGML_TYPES.Q4_0).toEqual({ id: 2, blockSize: 32, typeSize: 18 });
    expect(GGML_TYPES.Q4_1).toEqual({ id: 3, blockSize: 32, typeSize: 20 });
    expect(ggmlTensorBytes("Q8_0", [288, 768])).toBe(9 * 34 * 768);
    expect(ggmlTensorBytes("F16", [7, 3])).toBe(42);
    expect(() => ggmlTensorBytes("Q4_0", [172, 2])).toThrow(TinyLMError);
  });

  it("refuses what llama.cpp would refuse", () => {
    const t = (patch: Partial<GgufTensor>): GgufTensor[] => [{ name: "a", type: "F32", shape: [2], data: new Uint8Array(8), ...patch }];
    expect(() => writeGguf([], t({ name: "x".repeat(64) }))).toThrow(TinyLMError);
    expect(() => writeGguf([], [...t({}), ...t({})])).toThrow(/duplicate tensor/);
    expect(() => writeGguf([], t({ data: new Uint8Array(4) }))).toThrow(TinyLMError);
    expect(() => writeGguf([], t({ type: "Q8_0", shape: [16], data: new Uint8Array(17) }))).toThrow(TinyLMError);
    expect(() => writeGguf([], t({ shape: [2, 1, 1, 1, 1] }))).toThrow(TinyLMError);
    expect(() => writeGguf([["a", gguf.u32(-1)]], [])).toThrow(TinyLMError);
    expect(() => writeGguf([["a", gguf.u8(256)]], [])).toThrow(TinyLMError);
    expect(() => writeGguf([["a", gguf.i32(1.5)]], [])).toThrow(TinyLMError);
    expect(() => writeGguf([["a", gguf.u64(-1n)]], [])).toThrow(TinyLMError);
    expect(() => writeGguf([["a", { type: "u32", value: 5n } as unknown as GgufValue]], [])).toThrow(TinyLMError);
    expect(() => writeGguf([["a", gguf.array("f32", [1, 2] as unknown as Float32Array)]], [])).toThrow(TinyLMError);
    expect(() => writeGguf([["", gguf.u32(1)]], [])).toThrow(TinyLMError);
    expect(() => writeGguf([["a", gguf.u32(1)], ["a", gguf.u32(1)]], [])).toThrow(/duplicate key/);
    expect(() => writeGguf([["general.alignment", gguf.u32(48)]], [])).toThrow(/power of 2/);
    expect(() => writeGguf([["general.alignment", gguf.i32(32)]], [])).toThrow(/power of 2/);
  });
});
