import { TinyLMError, check } from "../errors.js";
import { parameterLayout, validateConfig, type LlamaConfig } from "../nn/config.js";
import { f32Tensor, readSafetensors, tensorToF32, writeSafetensors, type SafetensorsTensor } from "./safetensors.js";

/**
 * A Llama model as a Hugging Face checkpoint directory: `config.json` (LlamaConfig) + `model.safetensors`, the layout
 * `LlamaForCausalLM.from_pretrained(dir)` loads unchanged. Tensors keep their HF names and (out, in) shapes; with tied
 * embeddings lm_head.weight is left out, as save_pretrained does. The files' bytes are built here; writing them is
 * src/node/files.ts's job.
 */

export type HfDtype = "F32" | "F16" | "BF16";
const TORCH_DTYPE: Record<HfDtype, string> = { F32: "float32", F16: "float16", BF16: "bfloat16" };

export interface HfConfigOptions {
  dtype?: HfDtype;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** The config.json object of a LlamaForCausalLM with this config. */
export function hfLlamaConfigJson(c: LlamaConfig, options: HfConfigOptions = {}): Record<string, unknown> {
  validateConfig(c);
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    vocab_size: c.vocabSize,
    hidden_size: c.dim,
    intermediate_size: c.ffnDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: c.dim / c.nHeads,
    max_position_embeddings: c.contextLength,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: c.tiedEmbeddings,
    hidden_act: "silu",
    attention_bias: false,
    attention_dropout: 0.0,
    mlp_bias: false,
    pretraining_tp: 1,
    initializer_range: 0.02,
    use_cache: true,
    torch_dtype: TORCH_DTYPE[options.dtype ?? "F32"],
    ...(options.bosTokenId === undefined ? {} : { bos_token_id: options.bosTokenId }),
    ...(options.eosTokenId === undefined ? {} : { eos_token_id: options.eosTokenId }),
  };
}

/**
 * The LlamaConfig described by a config.json (object or its text). Throws BAD_FILE on missing or malformed fields and
 * UNSUPPORTED on features tinylm's model lacks (RoPE scaling, biases, another activation, another architecture).
 */
export function llamaConfigFromHf(json: unknown): LlamaConfig {
  let j: unknown = json;
  if (typeof json === "string") {
    try {
      j = JSON.parse(json);
    } catch (e) {
      throw new TinyLMError("BAD_FILE", `config.json is not valid JSON (${(e as Error).message})`);
    }
  }
  check(typeof j === "object" && j !== null && !Array.isArray(j), "BAD_FILE", "config.json must hold a JSON object");
  const o = j as Record<string, unknown>;
  check(o.model_type === "llama", "UNSUPPORTED", `config.json: model_type ${JSON.stringify(o.model_type)} is not supported (only "llama")`);
  const unsupported = (ok: boolean, what: string) => check(ok, "UNSUPPORTED", `config.json: ${what} is not supported`);
  unsupported(o.rope_scaling === undefined || o.rope_scaling === null, "rope_scaling");
  unsupported(o.attention_bias === undefined || o.attention_bias === false, "attention_bias");
  unsupported(o.mlp_bias === undefined || o.mlp_bias === false, "mlp_bias");
  unsupported(o.hidden_act === undefined || o.hidden_act === "silu", `hidden_act ${JSON.stringify(o.hidden_act)}`);
  unsupported(o.pretraining_tp === undefined || o.pretraining_tp === 1, "pretraining_tp other than 1");
  const num = (key: string, fallback?: number): number => {
    const v = o[key] ?? fallback;
    check(typeof v === "number" && Number.isFinite(v), "BAD_FILE", `config.json: ${key} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const nHeads = num("num_attention_heads");
  const dim = num("hidden_size");
  if (o.head_dim !== undefined && o.head_dim !== null) unsupported(o.head_dim === dim / nHeads, `head_dim ${String(o.head_dim)} ≠ hidden_size / num_attention_heads`);
  const tied = o.tie_word_embeddings ?? true; // transformers' PretrainedConfig default
  check(typeof tied === "boolean", "BAD_FILE", "config.json: tie_word_embeddings must be a boolean");
  const c = {
    vocabSize: num("vocab_size"), dim, nLayers: num("num_hidden_layers"), nHeads, nKvHeads: num("num_key_value_heads", nHeads),
    ffnDim: num("intermediate_size"), contextLength: num("max_position_embeddings"), ropeTheta: num("rope_theta", 10000),
    normEps: num("rms_norm_eps", 1e-6), tiedEmbeddings: tied,
  };
  try {
    return validateConfig(c);
  } catch (e) {
    throw new TinyLMError("BAD_FILE", `config.json describes an invalid model: ${(e as Error).message}`);
  }
}

/** The bytes of model.safetensors for HF-named f32 tensors, stored as `dtype`, with save_pretrained's {"format": "pt"}. */
export function llamaToSafetensors(c: LlamaConfig, tensors: Map<string, Float32Array> | Record<string, Float32Array>, dtype: HfDtype = "F32"): Uint8Array {
  validateConfig(c);
  check(dtype in TORCH_DTYPE, "BAD_ARGUMENT", `llamaToSafetensors: dtype must be F32, F16 or BF16, got ${String(dtype)}`);
  const byName = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const shapes = hfParameterShapes(c);
  for (const name of byName.keys()) check(shapes.has(name), "BAD_ARGUMENT", `llamaToSafetensors: unexpected tensor "${name}" for this config`);
  const out = new Map<string, SafetensorsTensor>();
  for (const [name, shape] of shapes) {
    const v = byName.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    check(v instanceof Float32Array && v.length === size, "BAD_SHAPE",
      `llamaToSafetensors: "${name}" must be a Float32Array of ${size} values (shape [${shape}]), got ${v === undefined ? "nothing" : v.length}`);
    out.set(name, f32Tensor(shape, v, dtype));
  }
  return writeSafetensors(out, { format: "pt" });
}

// Non-parameter buffers that older transformers versions saved; they carry nothing the model needs.
const IGNORED = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/**
 * HF-named f32 tensors of `c` from model.safetensors bytes (F32, F16 or BF16). Every parameter must be present with
 * its exact shape (BAD_FILE otherwise); a tied checkpoint's redundant lm_head.weight is dropped; anything else the
 * model has no place for is UNSUPPORTED.
 */
export function llamaFromSafetensors(bytes: Uint8Array, c: LlamaConfig): Map<string, Float32Array> {
  validateConfig(c);
  const file = readSafetensors(bytes);
  const shapes = hfParameterShapes(c);
  const out = new Map<string, Float32Array>();
  for (const [name, t] of file.tensors) {
    if (IGNORED.test(name) || (c.tiedEmbeddings && name === "lm_head.weight")) continue;
    const shape = shapes.get(name);
    check(shape !== undefined, "UNSUPPORTED", `model.safetensors: tensor "${name}" has no place in this Llama config`);
    check(t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i]), "BAD_FILE",
      `model.safetensors: "${name}" has shape [${t.shape}], expected [${shape}]`);
    check(t.dtype === "F32" || t.dtype === "F16" || t.dtype === "BF16", "UNSUPPORTED", `model.safetensors: "${name}" is ${t.dtype}; expected F32, F16 or BF16`);
    out.set(name, tensorToF32(t));
  }
  for (const name of shapes.keys()) check(out.has(name), "BAD_FILE", `model.safetensors: tensor "${name}" is missing`);
  return out;
}

/** HF parameter names and PyTorch shapes of a config (the model's own parameter layout, lm_head only when untied). */
export function hfParameterShapes(c: LlamaConfig): Map<string, number[]> {
  return new Map(parameterLayout(c).tensors.map((t) => [t.name, t.shape]));
}
