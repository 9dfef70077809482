import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { hfLlamaConfigJson, llamaConfigFromHf, llamaFromSafetensors, llamaToSafetensors } from "../../src/io/hf-llama.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import type { LlamaConfig } from "../../src/nn/config.js";
import { Random } from "../../src/util/random.js";
import { forward, paramShapes } from "../reference/llama64.js";

const config: LlamaConfig = {
  vocabSize: 17, dim: 12, nLayers: 2, nHeads: 3, nKvHeads: 1, ffnDim: 20, contextLength: 64, ropeTheta: 10000, normEps: 1e-5,
  tiedEmbeddings: false,
};

// Tensors named and shaped by the reference model's own table (written separately from src/), so a naming or shape
// slip in either shows up here.
function randomTensors(c: LlamaConfig, seed: number): Map<string, Float32Array> {
  const rng = new Random(seed);
  return new Map(Object.entries(paramShapes(c)).map(([name, shape]) => {
    const a = new Float32Array(shape.reduce((x, y) => x * y, 1));
    for (let i = 0; i < a.length; i++) a[i] = rng.normal(shape.length === 1 ? 1 : 0, 0.3);
    return [name, a];
  }));
}

describe("Hugging Face checkpoint files", () => {
  it("config.json holds the LlamaConfig fields transformers reads, and reads back to the same config", () => {
    const json = hfLlamaConfigJson(config, { dtype: "BF16", bosTokenId: 1, eosTokenId: 2 });
    expect(json).toMatchObject({
      architectures: ["LlamaForCausalLM"], model_type: "llama", vocab_size: 17, hidden_size: 12, intermediate_size: 20,
      num_hidden_layers: 2, num_attention_heads: 3, num_key_value_heads: 1, head_dim: 4, max_position_embeddings: 64,
      rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, hidden_act: "silu", torch_dtype: "bfloat16",
      bos_token_id: 1, eos_token_id: 2, rope_scaling: null, attention_bias: false, mlp_bias: false,
    });
    expect(llamaConfigFromHf(JSON.stringify(json))).toEqual(config);
    // A minimal llama-2-style config.json: defaults as transformers applies them.
    expect(llamaConfigFromHf({
      model_type: "llama", vocab_size: 32000, hidden_size: 288, intermediate_size: 768, num_hidden_layers: 6, num_attention_heads: 6,
      max_position_embeddings: 256,
    })).toEqual({ vocabSize: 32000, dim: 288, nLayers: 6, nHeads: 6, nKvHeads: 6, ffnDim: 768, contextLength: 256, ropeTheta: 10000, normEps: 1e-6, tiedEmbeddings: true });
  });

  it("rejects config.json files it cannot honour", () => {
    const ok = hfLlamaConfigJson(config);
    const code = (j: unknown) => { try { llamaConfigFromHf(j); } catch (e) { return (e as TinyLMError).code; } return "ok"; };
    expect(code("{nope")).toBe("BAD_FILE");
    expect(code([1])).toBe("BAD_FILE");
    expect(code({ ...ok, model_type: "mistral" })).toBe("UNSUPPORTED");
    expect(code({ ...ok, rope_scaling: { type: "linear", factor: 2 } })).toBe("UNSUPPORTED");
    expect(code({ ...ok, attention_bias: true })).toBe("UNSUPPORTED");
    expect(code({ ...ok, hidden_act: "gelu" })).toBe("UNSUPPORTED");
    expect(code({ ...ok, head_dim: 8 })).toBe("UNSUPPORTED");
    expect(code({ ...ok, hidden_size: "12" })).toBe("BAD_FILE");
    expect(code({ ...ok, num_key_value_heads: 2 })).toBe("BAD_FILE");
    expect(code({ ...ok, tie_word_embeddings: "yes" })).toBe("BAD_FILE");
  });

  it("model.safetensors holds every parameter under its HF name and shape, with {format: pt}", () => {
    const tensors = randomTensors(config, 1);
    const file = readSafetensors(llamaToSafetensors(config, tensors));
    expect(file.metadata).toEqual({ format: "pt" });
    expect(new Map([...file.tensors].map(([k, t]) => [k, t.shape]))).toEqual(new Map(Object.entries(paramShapes(config))));
    expect([...file.tensors.values()].every((t) => t.dtype === "F32")).toBe(true);
    // Tied: no lm_head.weight, as save_pretrained writes it.
    const tied = { ...config, tiedEmbeddings: true };
    const tiedTensors = randomTensors(tied, 2);
    expect(readSafetensors(llamaToSafetensors(tied, tiedTensors, "F16")).tensors.has("lm_head.weight")).toBe(false);
  });

  it("round-trips F32 exactly (same reference logits), F16 and BF16 within their rounding", () => {
    const tensors = randomTensors(config, 3);
    const back = llamaFromSafetensors(llamaToSafetensors(config, tensors), config);
    for (const [k, v] of tensors) expect(back.get(k)).toEqual(v);
    const f64 = (m: Map<string, Float32Array>) => Object.fromEntries([...m].map(([k, v]) => [k, Float64Array.from(v)]));
    const ids = [[3, 1, 4, 1, 5, 9]];
    expect(forward(f64(back), config, ids).logits).toEqual(forward(f64(tensors), config, ids).logits);
    for (const [dtype, rel] of [["F16", 2 ** -11], ["BF16", 2 ** -8]] as const) {
      const b = llamaFromSafetensors(llamaToSafetensors(config, tensors, dtype), config);
      for (const [k, v] of tensors) {
        const w = b.get(k)!;
        for (let i = 0; i < v.length; i++) expect(Math.abs(w[i] - v[i])).toBeLessThanOrEqual(Math.abs(v[i]) * rel + 2 ** -24);
      }
    }
  });

  it("reads tied checkpoints that still carry lm_head.weight, skips rotary inv_freq buffers, rejects the rest", () => {
    const tied = { ...config, tiedEmbeddings: true };
    const tensors = randomTensors({ ...config }, 4); // includes lm_head.weight
    const raw = (extra: Record<string, { dtype: "F32" | "I64"; shape: number[]; data: Uint8Array }> = {}, drop?: string) => {
      const entries = [...tensors].filter(([k]) => k !== drop).map(([k, v]) => [k, { dtype: "F32" as const, shape: paramShapes(config)[k], data: new Uint8Array(v.buffer) }]);
      return writeSafetensors({ ...Object.fromEntries(entries), ...extra });
    };
    expect(llamaFromSafetensors(raw(), tied).has("lm_head.weight")).toBe(false);
    expect(llamaFromSafetensors(raw({ "model.layers.0.self_attn.rotary_emb.inv_freq": { dtype: "F32", shape: [2], data: new Uint8Array(8) } }), config).size).toBe(tensors.size);
    const code = (bytes: Uint8Array, c: LlamaConfig) => { try { llamaFromSafetensors(bytes, c); } catch (e) { return [(e as TinyLMError).code, (e as Error).message]; } return "ok"; };
    expect(code(raw({}, "model.layers.1.mlp.up_proj.weight"), config)).toEqual(["BAD_FILE", expect.stringMatching(/up_proj.weight" is missing/)]);
    expect(code(raw({ "model.layers.0.self_attn.q_proj.bias": { dtype: "F32", shape: [12], data: new Uint8Array(48) } }), config)[0]).toBe("UNSUPPORTED");
    expect(code(raw(), { ...config, ffnDim: 21 })).toEqual(["BAD_FILE", expect.stringMatching(/down_proj.weight" has shape \[12,20\], expected \[12,21\]/)]);
    expect(code(raw({}, "model.norm.weight").subarray(0, 100), config)[0]).toBe("BAD_FILE");
    expect(() => llamaToSafetensors(config, new Map([...tensors].slice(1)))).toThrow(TinyLMError);
    expect(() => llamaToSafetensors(tied, tensors)).toThrow(/unexpected tensor "lm_head.weight"/);
  });
});
