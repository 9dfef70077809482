import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { gguf, ggufTensorToF32, readGguf, writeGguf } from "../../src/io/gguf.js";
import { llamaToGguf } from "../../src/io/llama-gguf.js";
import type { LlamaConfig } from "../../src/nn/config.js";
import { Random } from "../../src/util/random.js";
import { paramShapes } from "../reference/llama64.js";
import { bundleAvailable, bundleCleanup, bundleExtract } from "./llama-cpp-bundle.js";

// gguf-py, llama.cpp's own Python GGUF library (from the git bundle node-llama-cpp ships), on the other side: it
// writes files tinylm must read, and reads files tinylm writes. Needs python3 with numpy and PyYAML; skipped otherwise.
const script = join(import.meta.dirname, "gguf_py_check.py");
const pythonReady = (() => {
  try {
    execFileSync("python3", ["-c", "import numpy, yaml"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const dir = mkdtempSync(join(tmpdir(), "tinylm-gguf-py-"));
let extracted = false;
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  bundleCleanup();
});

function python(mode: "write" | "read", path: string): any {
  if (!extracted) {
    bundleExtract("gguf-py", dir);
    extracted = true;
  }
  const out = execFileSync("python3", [script, mode, path], { env: { ...process.env, PYTHONPATH: join(dir, "gguf-py") }, encoding: "utf8", maxBuffer: 1 << 26 });
  return JSON.parse(out);
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe.skipIf(!bundleAvailable || !pythonReady)("GGUF against gguf-py (llama.cpp's Python library)", () => {
  it("reads a file gguf-py wrote (every value type; F32, F16, Q8_0, Q4_0, Q4_1 tensors) and rewrites it byte for byte", () => {
    const path = join(dir, "from-gguf-py.gguf");
    const wrote = python("write", path);
    const bytes = new Uint8Array(readFileSync(path));
    const f = readGguf(bytes);
    const m = f.metadata;
    expect(m.get("general.architecture")).toEqual(gguf.string("llama"));
    expect(m.get("t.u8")).toEqual(gguf.u8(200));
    expect(m.get("t.i8")).toEqual(gguf.i8(-5));
    expect(m.get("t.u16")).toEqual(gguf.u16(0x1234));
    expect(m.get("t.i16")).toEqual(gguf.i16(-2));
    expect(m.get("t.u32")).toEqual(gguf.u32(4000000000));
    expect(m.get("t.i32")).toEqual(gguf.i32(-123456));
    expect(m.get("t.f32")).toEqual(gguf.f32(Math.fround(1e-5)));
    expect(m.get("t.bool")).toEqual(gguf.bool(true));
    expect(m.get("t.str")).toEqual(gguf.string("tést ✓"));
    expect(m.get("t.u64")).toEqual(gguf.u64(2n ** 63n + 5n));
    expect(m.get("t.i64")).toEqual(gguf.i64(-7n));
    expect(m.get("t.f64")).toEqual(gguf.f64(Math.PI));
    expect(m.get("t.strs")).toEqual(gguf.array("string", ["<unk>", "\uFEFF", "▁the", ""]));
    expect(m.get("t.f32s")).toEqual(gguf.array("f32", new Float32Array([0, -1.5, 2.25])));
    expect(m.get("t.i32s")).toEqual(gguf.array("i32", new Int32Array([2, 1, -1])));
    expect(f.tensors.map((t) => [t.name, t.type, t.shape])).toEqual([
      ["a.f32", "F32", [4, 3]], ["b.f16", "F16", [8, 2]], ["c.q8_0", "Q8_0", [64, 2]], ["d.q4_0", "Q4_0", [64, 1]], ["e.q4_1", "Q4_1", [32, 3]],
    ]);
    expect([...ggufTensorToF32(f.tensors[0])]).toEqual(wrote.f32);
    expect([...ggufTensorToF32(f.tensors[1])]).toEqual(wrote.f16);
    for (const t of f.tensors.slice(2)) expect(hex(t.data), t.name).toBe(wrote.quantized[t.name]);
    expect(Buffer.compare(writeGguf(f.metadata, f.tensors), bytes)).toBe(0);
  });

  it("gguf-py reads what tinylm writes: keys with their types, tensor names, shapes, offsets and values", () => {
    const config: LlamaConfig = {
      vocabSize: 11, dim: 8, nLayers: 1, nHeads: 2, nKvHeads: 1, ffnDim: 12, contextLength: 16, ropeTheta: 10000, normEps: 1e-5, tiedEmbeddings: true,
    };
    const rng = new Random(9);
    const tensors = new Map(Object.entries(paramShapes(config)).map(([name, shape]) =>
      [name, new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rng.normal())]));
    const path = join(dir, "from-tinylm.gguf");
    writeFileSync(path, llamaToGguf(config, tensors, {
      metadata: [
        ["tokenizer.ggml.model", gguf.string("llama")],
        ["tokenizer.ggml.tokens", gguf.array("string", ["<unk>", "<s>", "\uFEFF", "▁a"])],
        ["tokenizer.ggml.scores", gguf.array("f32", new Float32Array([0, 0, -1, -2]))],
        ["tokenizer.ggml.add_bos_token", gguf.bool(true)],
        ["x.i64", gguf.i64(-3n)],
      ],
    }));
    const theirs = python("read", path);
    const ours = readGguf(new Uint8Array(readFileSync(path)));
    expect(theirs.alignment).toBe(32);
    const types = Object.fromEntries(Object.entries(theirs.fields as Record<string, { types: string[] }>).map(([k, v]) => [k, v.types.join("/")]));
    expect(types).toMatchObject({
      "general.architecture": "STRING", "llama.context_length": "UINT32", "llama.embedding_length": "UINT32", "llama.block_count": "UINT32",
      "llama.feed_forward_length": "UINT32", "llama.attention.head_count": "UINT32", "llama.attention.head_count_kv": "UINT32",
      "llama.rope.freq_base": "FLOAT32", "llama.attention.layer_norm_rms_epsilon": "FLOAT32", "llama.rope.dimension_count": "UINT32",
      "tokenizer.ggml.tokens": "ARRAY/STRING", "tokenizer.ggml.scores": "ARRAY/FLOAT32", "tokenizer.ggml.add_bos_token": "BOOL", "x.i64": "INT64",
    });
    expect(theirs.fields["tokenizer.ggml.tokens"].value).toEqual(["<unk>", "<s>", "\uFEFF", "▁a"]);
    expect(theirs.fields["llama.attention.head_count_kv"].value).toBe(1);
    expect(theirs.fields["x.i64"].value).toBe(-3);
    expect(theirs.tensors.map((t: { name: string; type: string; ne: number[] }) => [t.name, t.type, t.ne]))
      .toEqual(ours.tensors.map((t) => [t.name, t.type, t.shape]));
    expect(theirs.tensors.map((t: { offset: number }) => t.offset)).toEqual(ours.tensors.map((t) => t.data.byteOffset));
    for (const [i, t] of ours.tensors.entries()) expect(theirs.tensors[i].values, t.name).toEqual([...ggufTensorToF32(t)]);
    // And those values are the HF tensors themselves (q/k aside, which are permuted; see llama-gguf.test.ts).
    expect(theirs.tensors.find((t: { name: string }) => t.name === "blk.0.ffn_down.weight").values)
      .toEqual([...tensors.get("model.layers.0.mlp.down_proj.weight")!]);
  });
});
