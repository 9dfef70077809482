import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { gguf, readGguf, writeGguf, type GgufTensor } from "../../src/io/gguf.js";
import { ggufToHfName, hfToGgufName, llamaFromGguf, llamaGgufMetadata, llamaToGguf, permuteRopeRows, unpermuteRopeRows } from "../../src/io/llama-gguf.js";
import type { LlamaConfig } from "../../src/nn/config.js";
import { Random } from "../../src/util/random.js";
import { forward, paramShapes } from "../reference/llama64.js";

const config: LlamaConfig = {
  vocabSize: 13, dim: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 32, contextLength: 32, ropeTheta: 10000, normEps: 1e-5,
  tiedEmbeddings: false,
};

function randomTensors(c: LlamaConfig, seed: number): Map<string, Float32Array> {
  const rng = new Random(seed);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of Object.entries(paramShapes(c))) {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    for (let i = 0; i < a.length; i++) a[i] = shape.length === 1 ? 1 + 0.2 * rng.normal() : rng.normal(0, 0.3);
    out.set(name, a);
  }
  return out;
}

const f64 = (m: Map<string, Float32Array>) => Object.fromEntries([...m].map(([k, v]) => [k, Float64Array.from(v)]));

// numpy's w.reshape(n_head, 2, hd/2, n_in).swapaxes(1, 2).reshape(n_out, n_in), spelled out as 4-D index arithmetic:
// after the swap, element [h][j][s][i] comes from [h][s][j][i] of the reshaped input (../shared/GGUF.md).
function numpyPermute(w: Float32Array, nHead: number, nIn: number): Float32Array {
  const hd = w.length / nIn / nHead;
  const out = new Float32Array(w.length);
  for (let h = 0; h < nHead; h++) for (let j = 0; j < hd / 2; j++) for (let s = 0; s < 2; s++) for (let i = 0; i < nIn; i++) {
    out[((h * (hd / 2) + j) * 2 + s) * nIn + i] = w[((h * 2 + s) * (hd / 2) + j) * nIn + i];
  }
  return out;
}

// The two RoPE conventions, from their definitions. HF: pairs (x[i], x[i+hd/2]); llama.cpp NORM: pairs (x[2i], x[2i+1]);
// both rotate pair i by pos·base^(-2i/hd).
function ropeHalf(x: Float64Array, nHead: number, pos: number, base: number): Float64Array {
  const hd = x.length / nHead;
  const out = new Float64Array(x.length);
  for (let h = 0; h < nHead; h++) for (let i = 0; i < hd / 2; i++) {
    const a = pos * base ** (-2 * i / hd);
    const [x1, x2] = [x[h * hd + i], x[h * hd + i + hd / 2]];
    out[h * hd + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
    out[h * hd + i + hd / 2] = x1 * Math.sin(a) + x2 * Math.cos(a);
  }
  return out;
}
function ropeAdjacent(x: Float64Array, nHead: number, pos: number, base: number): Float64Array {
  const hd = x.length / nHead;
  const out = new Float64Array(x.length);
  for (let h = 0; h < nHead; h++) for (let i = 0; i < hd / 2; i++) {
    const a = pos * base ** (-2 * i / hd);
    const [x1, x2] = [x[h * hd + 2 * i], x[h * hd + 2 * i + 1]];
    out[h * hd + 2 * i] = x1 * Math.cos(a) - x2 * Math.sin(a);
    out[h * hd + 2 * i + 1] = x1 * Math.sin(a) + x2 * Math.cos(a);
  }
  return out;
}

describe("HF ↔ llama.cpp RoPE row permutation", () => {
  it("equals numpy's reshape/swapaxes formula from convert_hf_to_gguf, and unpermute inverts it", () => {
    const rng = new Random(1);
    for (const [nHead, hd, nIn] of [[4, 4, 16], [2, 8, 3], [1, 2, 5], [6, 48, 7]]) {
      const w = new Float32Array(nHead * hd * nIn).map(() => rng.normal());
      const p = permuteRopeRows(w, nHead, nIn);
      expect(p).toEqual(numpyPermute(w, nHead, nIn));
      expect(unpermuteRopeRows(p, nHead, nIn)).toEqual(w);
      if (hd > 2) expect(p).not.toEqual(w);
    }
    expect(() => permuteRopeRows(new Float32Array(12), 4, 1)).toThrow(TinyLMError); // head size 3 is odd
  });

  it("makes llama.cpp's adjacent-pair RoPE of the permuted rows equal HF's rotate_half RoPE, permuted", () => {
    const rng = new Random(2);
    const nHead = 3;
    const hd = 8;
    const nIn = 5;
    const W = new Float32Array(nHead * hd * nIn).map(() => rng.normal());
    const x = new Float32Array(nIn).map(() => rng.normal());
    const matvec = (m: Float32Array) => Float64Array.from({ length: nHead * hd }, (_, r) => x.reduce((s, xi, i) => s + m[r * nIn + i] * xi, 0));
    const qHf = matvec(W);
    const qCpp = matvec(permuteRopeRows(W, nHead, nIn));
    for (const pos of [0, 1, 7, 100]) {
      const hf = ropeHalf(qHf, nHead, pos, 10000);
      const cpp = ropeAdjacent(qCpp, nHead, pos, 10000);
      // Row 2j+s of each llama.cpp head is row s·hd/2+j of the HF head.
      for (let h = 0; h < nHead; h++) for (let j = 0; j < hd / 2; j++) for (let s = 0; s < 2; s++) {
        expect(cpp[h * hd + 2 * j + s]).toBeCloseTo(hf[h * hd + s * (hd / 2) + j], 12);
      }
    }
  });
});

describe("llama GGUF export (llamaToGguf)", () => {
  it("maps every HF name to the GGUF name in ../shared/GGUF.md, and back", () => {
    const pairs: [string, string][] = [
      ["model.embed_tokens.weight", "token_embd.weight"],
      ["model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"],
      ["model.layers.0.self_attn.q_proj.weight", "blk.0.attn_q.weight"],
      ["model.layers.0.self_attn.k_proj.weight", "blk.0.attn_k.weight"],
      ["model.layers.0.self_attn.v_proj.weight", "blk.0.attn_v.weight"],
      ["model.layers.0.self_attn.o_proj.weight", "blk.0.attn_output.weight"],
      ["model.layers.11.post_attention_layernorm.weight", "blk.11.ffn_norm.weight"],
      ["model.layers.11.mlp.gate_proj.weight", "blk.11.ffn_gate.weight"],
      ["model.layers.11.mlp.up_proj.weight", "blk.11.ffn_up.weight"],
      ["model.layers.11.mlp.down_proj.weight", "blk.11.ffn_down.weight"],
      ["model.norm.weight", "output_norm.weight"],
      ["lm_head.weight", "output.weight"],
    ];
    for (const [hf, g] of pairs) {
      expect(hfToGgufName(hf)).toBe(g);
      expect(ggufToHfName(g)).toBe(hf);
    }
    expect(() => hfToGgufName("model.layers.0.self_attn.q_proj.bias")).toThrow(TinyLMError);
    expect(() => ggufToHfName("blk.0.attn_q.bias")).toThrow(/not supported/);
    expect(() => ggufToHfName("rope_freqs.weight")).toThrow(TinyLMError);
  });

  it("writes llama.cpp's required keys with their types, the GGUF.md shapes, F32 norms, permuted q/k", () => {
    const tensors = randomTensors(config, 3);
    const tokenizer = [["tokenizer.ggml.model", gguf.string("llama")], ["tokenizer.ggml.tokens", gguf.array("string", ["a", "b"])]] as const;
    const f = readGguf(llamaToGguf(config, tensors, { type: "F16", name: "tiny", metadata: tokenizer }));
    const m = f.metadata;
    expect(m.get("general.architecture")).toEqual({ type: "string", value: "llama" });
    expect(m.get("general.name")).toEqual({ type: "string", value: "tiny" });
    expect(m.get("general.file_type")).toEqual({ type: "u32", value: 1 });
    for (const [key, value] of [
      ["llama.context_length", 32], ["llama.embedding_length", 16], ["llama.block_count", 2], ["llama.feed_forward_length", 32],
      ["llama.attention.head_count", 4], ["llama.attention.head_count_kv", 2], ["llama.rope.dimension_count", 4], ["llama.vocab_size", 13],
    ] as const) expect(m.get(key)).toEqual({ type: "u32", value });
    expect(m.get("llama.attention.layer_norm_rms_epsilon")).toEqual({ type: "f32", value: Math.fround(1e-5) });
    expect(m.get("llama.rope.freq_base")).toEqual({ type: "f32", value: 10000 });
    expect(m.get("tokenizer.ggml.model")).toEqual({ type: "string", value: "llama" });

    const byName = new Map(f.tensors.map((t) => [t.name, t]));
    const expectTensor = (name: string, type: string, ne: number[]) => {
      const t = byName.get(name)!;
      expect([t.type, t.shape]).toEqual([type, ne]);
    };
    expectTensor("token_embd.weight", "F16", [16, 13]);
    expectTensor("blk.1.attn_norm.weight", "F32", [16]);
    expectTensor("blk.1.attn_q.weight", "F16", [16, 16]);
    expectTensor("blk.1.attn_k.weight", "F16", [16, 8]);
    expectTensor("blk.1.attn_v.weight", "F16", [16, 8]);
    expectTensor("blk.1.attn_output.weight", "F16", [16, 16]);
    expectTensor("blk.1.ffn_norm.weight", "F32", [16]);
    expectTensor("blk.1.ffn_gate.weight", "F16", [16, 32]);
    expectTensor("blk.1.ffn_up.weight", "F16", [16, 32]);
    expectTensor("blk.1.ffn_down.weight", "F16", [32, 16]);
    expectTensor("output_norm.weight", "F32", [16]);
    expectTensor("output.weight", "F16", [16, 13]);
    expect(f.tensors.length).toBe(2 + 2 * 9 + 1);

    // F32 file: bytes equal the HF tensor for everything but q/k, which hold the numpy-permuted rows.
    const f32 = readGguf(llamaToGguf(config, tensors));
    expect(f32.metadata.get("general.file_type")).toEqual({ type: "u32", value: 0 });
    const raw = (name: string) => new Float32Array(f32.tensors.find((t) => t.name === name)!.data.slice().buffer);
    expect(raw("blk.0.ffn_down.weight")).toEqual(tensors.get("model.layers.0.mlp.down_proj.weight"));
    expect(raw("blk.0.attn_v.weight")).toEqual(tensors.get("model.layers.0.self_attn.v_proj.weight"));
    expect(raw("blk.0.attn_q.weight")).toEqual(numpyPermute(tensors.get("model.layers.0.self_attn.q_proj.weight")!, 4, 16));
    expect(raw("blk.0.attn_k.weight")).toEqual(numpyPermute(tensors.get("model.layers.0.self_attn.k_proj.weight")!, 2, 16));
  });

  it("round-trips F32 exactly (tied and untied), and the reference model gives identical logits", () => {
    for (const tiedEmbeddings of [false, true]) {
      const c = { ...config, tiedEmbeddings, ropeTheta: 500000, normEps: 1e-6 };
      const tensors = randomTensors(c, 4);
      const back = llamaFromGguf(llamaToGguf(c, tensors));
      expect(back.config).toEqual(c);
      expect([...back.tensors.keys()].sort()).toEqual([...tensors.keys()].sort());
      for (const [name, v] of tensors) expect(back.tensors.get(name)).toEqual(v);
      const ids = [[1, 5, 7, 2, 12], [0, 3, 3, 9, 4]];
      expect(forward(f64(back.tensors), back.config, ids).logits).toEqual(forward(f64(tensors), c, ids).logits);
    }
  });

  it("round-trips F16 to the f16-rounded values, and routes 2-D tensors through a custom encoder", () => {
    const tensors = randomTensors(config, 5);
    const back = llamaFromGguf(llamaToGguf(config, tensors, { type: "F16" }));
    for (const [name, v] of tensors) {
      const w = back.tensors.get(name)!;
      if (name.endsWith("norm.weight")) expect(w).toEqual(v);
      else for (let i = 0; i < v.length; i++) expect(Math.abs(w[i] - v[i])).toBeLessThanOrEqual(Math.abs(v[i]) * 2 ** -11 + 2 ** -25);
    }
    // A stand-in for a quantizer: it sees every 2-D tensor (after the q/k permutation), none of the norms, and may
    // replace any of them (here output.weight, doubled).
    const seen: string[] = [];
    const bytes = llamaToGguf(config, tensors, {
      encode: ({ name, ne, values }) => {
        seen.push(`${name}:${ne}`);
        return name === "output.weight" ? { type: "F32", data: new Uint8Array(values.slice().map((x) => x * 2).buffer) } : undefined;
      },
    });
    expect(seen).toContain("blk.0.attn_q.weight:16,16");
    expect(seen.some((s) => s.includes("norm"))).toBe(false);
    const doubled = llamaFromGguf(bytes).tensors.get("lm_head.weight")!;
    expect(doubled).toEqual(tensors.get("lm_head.weight")!.map((x) => x * 2));
  });

  it("rejects inconsistent exports", () => {
    const tensors = randomTensors(config, 6);
    const without = new Map(tensors);
    without.delete("model.norm.weight");
    expect(() => llamaToGguf(config, without)).toThrow(/model.norm.weight/);
    expect(() => llamaToGguf(config, new Map([...tensors, ["extra", new Float32Array(1)]]))).toThrow(/unexpected tensor/);
    expect(() => llamaToGguf({ ...config, tiedEmbeddings: true }, tensors)).toThrow(/lm_head/);
    expect(() => llamaToGguf(config, tensors, { type: "Q8_0" as "F16" })).toThrow(TinyLMError);
    expect(() => llamaToGguf(config, tensors, { metadata: [["llama.block_count", gguf.u32(3)]] })).toThrow(/duplicate key/);
    expect(llamaGgufMetadata(config).map(([k]) => k)).toContain("llama.attention.layer_norm_rms_epsilon");
  });
});

describe("llama GGUF import (llamaFromGguf) rejects what it cannot run", () => {
  const base = () => readGguf(llamaToGguf(config, randomTensors(config, 7)));
  const rewrite = (edit: (meta: Map<string, ReturnType<typeof gguf.u32>>, tensors: GgufTensor[]) => void) => {
    const f = base();
    const meta = new Map(f.metadata);
    const tensors = [...f.tensors];
    edit(meta, tensors);
    return writeGguf(meta, tensors);
  };
  const expectCode = (bytes: Uint8Array, code: string, pattern: RegExp) => {
    let err: unknown;
    try {
      llamaFromGguf(bytes);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TinyLMError);
    expect([(err as TinyLMError).code, (err as TinyLMError).message]).toEqual([code, expect.stringMatching(pattern)]);
  };

  it("foreign architectures, missing keys and tensors, wrong shapes, unsupported extras", () => {
    expectCode(rewrite((m) => m.set("general.architecture", gguf.string("gptneox"))), "UNSUPPORTED", /gptneox/);
    expectCode(rewrite((m) => m.delete("general.architecture")), "BAD_FILE", /architecture/);
    expectCode(rewrite((m) => m.delete("llama.attention.layer_norm_rms_epsilon")), "BAD_FILE", /layer_norm_rms_epsilon/);
    expectCode(rewrite((m) => m.delete("llama.feed_forward_length")), "BAD_FILE", /feed_forward_length/);
    expectCode(rewrite((m) => m.set("llama.rope.dimension_count", gguf.u32(2))), "UNSUPPORTED", /dimension_count/);
    expectCode(rewrite((m) => m.set("llama.attention.head_count_kv", gguf.u32(3))), "BAD_FILE", /nKvHeads/);
    expectCode(rewrite((m) => m.set("llama.block_count", gguf.u32(1))), "BAD_FILE", /blk\.1\..* does not belong/);
    expectCode(rewrite((m) => m.set("llama.block_count", gguf.u32(3))), "BAD_FILE", /blk\.2\..* is missing/);
    expectCode(rewrite((m, t) => t.splice(t.findIndex((x) => x.name === "blk.0.ffn_up.weight"), 1)), "BAD_FILE", /ffn_up.weight" is missing/);
    expectCode(rewrite((m) => m.set("llama.feed_forward_length", gguf.u32(48))), "BAD_FILE", /expected \[16,48\]/);
    expectCode(rewrite((m, t) => t.push({ name: "blk.0.attn_q.bias", type: "F32", shape: [16], data: new Uint8Array(64) })), "UNSUPPORTED", /attn_q.bias/);
    expectCode(rewrite((m, t) => {
      const i = t.findIndex((x) => x.name === "blk.0.ffn_down.weight");
      t[i] = { ...t[i], type: "Q8_0", data: new Uint8Array(16 * 34) };
    }), "UNSUPPORTED", /Q8_0; pass a decode function/);
  });

  it("accepts per-layer feed_forward_length arrays when uniform, and a decode hook for other types", () => {
    const bytes = rewrite((m) => m.set("llama.feed_forward_length", gguf.array("i32", new Int32Array([32, 32]))));
    expect(llamaFromGguf(bytes).config.ffnDim).toBe(32);
    expectCode(rewrite((m) => m.set("llama.feed_forward_length", gguf.array("i32", new Int32Array([32, 48])))), "UNSUPPORTED", /per layer/);
    const q = rewrite((m, t) => {
      const i = t.findIndex((x) => x.name === "blk.0.ffn_down.weight");
      t[i] = { ...t[i], type: "Q8_0", data: new Uint8Array(16 * 34) };
    });
    const got = llamaFromGguf(q, { decode: (t) => (t.type === "Q8_0" ? new Float32Array(16 * 32).fill(0.5) : undefined) });
    expect(got.tensors.get("model.layers.0.mlp.down_proj.weight")!.every((x) => x === 0.5)).toBe(true);
  });
});
