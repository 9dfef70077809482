import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { f32Tensor, readSafetensors, tensorToF32, writeSafetensors, type SafetensorsTensor } from "../../src/io/safetensors.js";

// No library that writes safetensors is installed, so the independent checks are byte sequences from the Rust crate's
// own unit tests (safetensors/src/tensor.rs: test_serialization, test_empty, test_serialization_forced_alignement
// and the `deserialize` doc example), plus hand-built files following the published spec.

const f32Bytes = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const u64le = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff, 0, 0, 0, 0];

// A file from its parts, with no help from the code under test.
function handBuilt(header: string, data: number[] | Uint8Array, headerLength?: number): Uint8Array {
  const h = new TextEncoder().encode(header);
  return new Uint8Array([...u64le(headerLength ?? h.length), ...h, ...data]);
}

function expectBadFile(bytes: Uint8Array, pattern?: RegExp): void {
  let err: unknown;
  try {
    readSafetensors(bytes);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(TinyLMError);
  expect((err as TinyLMError).code).toBe("BAD_FILE");
  if (pattern) expect((err as TinyLMError).message).toMatch(pattern);
}

describe("safetensors writer (Rust crate test vectors)", () => {
  it("test_serialization: one F32 tensor, header already a multiple of 8", () => {
    const out = writeSafetensors({ "attn.0": { dtype: "F32", shape: [1, 2, 3], data: f32Bytes([0, 1, 2, 3, 4, 5]) } });
    expect([...out]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
      116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
      58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
      101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
      0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
    ]);
  });

  it("test_serialization_forced_alignement: header padded with 7 spaces", () => {
    const out = writeSafetensors({ attn0: { dtype: "F32", shape: [1, 1, 2, 3], data: f32Bytes([0, 1, 2, 3, 4, 5]) } });
    expect([...out]).toEqual([
      72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
      121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
      91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
      115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
      32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
      160, 64,
    ]);
  });

  it("test_empty: no tensors, with and without __metadata__", () => {
    expect([...writeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
    expect([...writeSafetensors({}, { framework: "pt" })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
      95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
      116, 34, 125, 125, 32, 32, 32, 32, 32,
    ]);
    for (const bytes of [writeSafetensors({}), writeSafetensors({}, { framework: "pt" })]) {
      const back = readSafetensors(bytes);
      expect(back.tensors.size).toBe(0);
    }
    expect(readSafetensors(writeSafetensors({}, { framework: "pt" })).metadata).toEqual({ framework: "pt" });
  });

  it("orders tensors by descending dtype, then by name as UTF-8 bytes, as the Rust writer does", () => {
    const t = (dtype: SafetensorsTensor["dtype"], n: number): SafetensorsTensor => ({ dtype, shape: [n], data: new Uint8Array(n * { F16: 2, F32: 4, I64: 8, U8: 1 }[dtype as "F16"]) });
    const out = writeSafetensors(new Map([
      ["b", t("F16", 3)], ["a", t("F32", 1)], ["\u{1F600}", t("F32", 1)], ["\uFFFD", t("F32", 1)], ["c", t("I64", 2)], ["z", t("U8", 5)],
    ]));
    const n = new DataView(out.buffer).getUint32(0, true);
    expect(n % 8).toBe(0);
    const header = new TextDecoder().decode(out.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe(
      '{"c":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},' +
      '"a":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},' +
      '"\uFFFD":{"dtype":"F32","shape":[1],"data_offsets":[20,24]},' +
      '"\u{1F600}":{"dtype":"F32","shape":[1],"data_offsets":[24,28]},' +
      '"b":{"dtype":"F16","shape":[3],"data_offsets":[28,34]},' +
      '"z":{"dtype":"U8","shape":[5],"data_offsets":[34,39]}}');
    expect(out.length).toBe(8 + n + 39);
  });

  it("keeps integer-like tensor names after __metadata__ and escapes like serde_json", () => {
    const out = writeSafetensors({ "1": { dtype: "U8", shape: [], data: new Uint8Array([7]) } }, { "a\"b\n": "\u0001é" });
    const n = new DataView(out.buffer).getUint32(0, true);
    expect(new TextDecoder().decode(out.subarray(8, 8 + n)).trimEnd())
      .toBe('{"__metadata__":{"a\\"b\\n":"\\u0001é"},"1":{"dtype":"U8","shape":[],"data_offsets":[0,1]}}');
  });

  it("rejects inconsistent input with a TinyLMError", () => {
    expect(() => writeSafetensors({ a: { dtype: "F32", shape: [2], data: new Uint8Array(4) } })).toThrow(TinyLMError);
    expect(() => writeSafetensors({ a: { dtype: "Q4" as "F32", shape: [1], data: new Uint8Array(4) } })).toThrow(TinyLMError);
    expect(() => writeSafetensors({ a: { dtype: "F32", shape: [-1], data: new Uint8Array(4) } })).toThrow(TinyLMError);
    expect(() => writeSafetensors({ __metadata__: { dtype: "U8", shape: [1], data: new Uint8Array(1) } })).toThrow(TinyLMError);
    expect(() => writeSafetensors({}, { a: 1 as unknown as string })).toThrow(TinyLMError);
  });
});

describe("safetensors reader", () => {
  it("reads the Rust doc example (I32 [2,2], header without padding)", () => {
    const bytes = handBuilt('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', new Array(16).fill(0));
    expect(bytes[0]).toBe(60); // '<'
    const f = readSafetensors(bytes);
    const t = f.tensors.get("test")!;
    expect(t.dtype).toBe("I32");
    expect(t.shape).toEqual([2, 2]);
    expect(t.data.length).toBe(16);
  });

  it("reads a hand-built file with tensors listed out of order, metadata, F16 and BF16 data", () => {
    // F16 1.0 = 0x3c00, -2.0 = 0xc000; BF16 0.5 = 0x3f00; F32 3.0 = 0x40400000.
    const header = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"__metadata__":{"format":"pt"},' +
      '"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]}}';
    const data = [0x00, 0x3c, 0x00, 0xc0, 0x00, 0x3f, 0x80, 0xbf, 0x00, 0x00, 0x40, 0x40];
    const f = readSafetensors(handBuilt(header, data));
    expect([...f.tensors.keys()]).toEqual(["h", "b", "w"]);
    expect(f.metadata).toEqual({ format: "pt" });
    expect([...tensorToF32(f.tensors.get("h")!)]).toEqual([1, -2]);
    expect([...tensorToF32(f.tensors.get("b")!)]).toEqual([0.5, -1]);
    expect([...tensorToF32(f.tensors.get("w")!)]).toEqual([3]);
  });

  it("round-trips F32, F16, BF16, I32 and I64 tensors and zero-size tensors", () => {
    const vals = new Float32Array([0.1, -2.5, 65504, 1e-7, 3.14159, -0]);
    const i64 = new BigInt64Array([1n, -2n, 9007199254740993n]);
    const file = writeSafetensors({
      "model.embed_tokens.weight": f32Tensor([2, 3], vals),
      half: f32Tensor([6], vals, "F16"),
      brain: f32Tensor([3, 2], vals, "BF16"),
      ids: { dtype: "I32", shape: [2], data: new Uint8Array(new Int32Array([-7, 2147483647]).buffer) },
      pos: { dtype: "I64", shape: [3], data: new Uint8Array(i64.buffer) },
      empty: { dtype: "F32", shape: [0, 4], data: new Uint8Array(0) },
    }, { format: "pt" });
    const back = readSafetensors(file);
    expect(back.metadata).toEqual({ format: "pt" });
    expect(tensorToF32(back.tensors.get("model.embed_tokens.weight")!)).toEqual(vals);
    expect([...tensorToF32(back.tensors.get("half")!)]).toEqual([0.0999755859375, -2.5, 65504, 1.1920928955078125e-7, 3.140625, -0]);
    expect([...tensorToF32(back.tensors.get("brain")!)]).toEqual([0.10009765625, -2.5, 65536, 1.0011717677116394e-7, 3.140625, -0]);
    expect([...new Int32Array(back.tensors.get("ids")!.data.slice().buffer)]).toEqual([-7, 2147483647]);
    expect([...new BigInt64Array(back.tensors.get("pos")!.data.slice().buffer)]).toEqual([1n, -2n, 9007199254740993n]);
    expect(back.tensors.get("empty")!.shape).toEqual([0, 4]);
    expect(() => tensorToF32(back.tensors.get("ids")!)).toThrow(TinyLMError);
    // Writing what was read gives the same bytes.
    expect(writeSafetensors(back.tensors, back.metadata)).toEqual(file);
  });

  it("rejects malformed files with BAD_FILE", () => {
    const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const eight = new Array(8).fill(0);
    expect(() => readSafetensors(handBuilt(ok, eight))).not.toThrow();
    expectBadFile(new Uint8Array([1, 2, 3]), /shorter than the 8-byte/);
    expectBadFile(handBuilt(ok, eight, 1000), /runs past the end/);
    expectBadFile(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0x80, 0x7b]), /exceeds/);
    expectBadFile(handBuilt('{"a":1', []), /not valid JSON/);
    expectBadFile(new Uint8Array([...u64le(4), 0x7b, 0xff, 0xfe, 0x7d]), /UTF-8/);
    expectBadFile(handBuilt("[1,2]", []), /does not start with/);
    expectBadFile(handBuilt("null    ", []), /does not start with/);
    expectBadFile(handBuilt('{"a":[1]}', []), /not described by a JSON object/);
    expectBadFile(handBuilt('{"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}}', eight), /unknown dtype/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', eight), /invalid shape/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', eight), /invalid shape/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', eight), /invalid shape/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', eight), /invalid data_offsets/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', eight), /invalid data_offsets/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[2]}}', eight), /invalid data_offsets/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', eight), /past the 8 bytes/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight), /12 bytes, but its data_offsets span 8/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', [...eight, 0]), /cover 8 bytes of data but the file holds 9/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', eight), /a gap/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', eight), /overlaps/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"n":1}}', eight), /__metadata__/);
    expectBadFile(handBuilt('{"a":{"dtype":"F32","shape":[9007199254740993],"data_offsets":[0,8]}}', eight), /invalid shape/);
    expectBadFile(handBuilt('{"a":{"dtype":"U8","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}}', eight), /span 8/);
  });

  it("never throws anything but TinyLMError on truncated or bit-flipped files", () => {
    const file = writeSafetensors({ a: f32Tensor([2, 3], new Float32Array(6).fill(1)), b: f32Tensor([5], new Float32Array(5), "F16") }, { k: "v" });
    let seed = 1;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    for (let cut = 0; cut < file.length; cut++) expectBadFile(file.subarray(0, cut));
    for (let trial = 0; trial < 3000; trial++) {
      const bytes = file.slice();
      for (let k = 0, flips = 1 + rnd(3); k < flips; k++) bytes[rnd(bytes.length)] ^= 1 << rnd(8);
      try {
        readSafetensors(bytes);
      } catch (e) {
        if (!(e instanceof TinyLMError)) throw e;
      }
    }
  });
});

describe("reading from a Node Buffer", () => {
  it("tensorToF32 copies only the tensor's bytes, even when the file is a small Buffer from Node's shared pool", () => {
    const bytes = writeSafetensors({ w: f32Tensor([3], Float32Array.from([1, 2, 3])) });
    const pooled = Buffer.from(bytes); // small Buffers share one 8 KB pool; their slice() is a view, not a copy
    const values = tensorToF32(readSafetensors(pooled).tensors.get("w")!);
    expect(Array.from(values)).toEqual([1, 2, 3]);
  });
});
