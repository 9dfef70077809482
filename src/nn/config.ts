import { check } from "../errors.js";

/**
 * A Llama-architecture decoder, in the names Hugging Face's LlamaConfig uses for the same numbers
 * (vocab_size, hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, intermediate_size,
 * max_position_embeddings, rope_theta, rms_norm_eps, tie_word_embeddings).
 */
export interface LlamaConfig {
  vocabSize: number;
  /** Model width C (hidden_size). */
  dim: number;
  nLayers: number;
  /** Query heads; head size = dim / nHeads. */
  nHeads: number;
  /** Key/value heads (grouped-query attention when fewer than nHeads); must divide nHeads. */
  nKvHeads: number;
  /** SwiGLU hidden width (intermediate_size). */
  ffnDim: number;
  /** Longest sequence the model attends over (max_position_embeddings). */
  contextLength: number;
  ropeTheta: number;
  normEps: number;
  /** lm_head shares the token embedding matrix. */
  tiedEmbeddings: boolean;
}

const DEFAULTS: Pick<LlamaConfig, "contextLength" | "ropeTheta" | "normEps" | "tiedEmbeddings"> = {
  contextLength: 256,
  ropeTheta: 10000,
  normEps: 1e-5,
  tiedEmbeddings: true,
};

/** Sizes from a few hundred thousand to ~20M parameters (counts with the default vocabulary in `parameterTable`). */
export const PRESETS = {
  /** ~0.2M: tests and the quick tour. Grouped-query attention (2 kv heads for 4 query heads). */
  nano: { vocabSize: 2048, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 176, contextLength: 128 },
  /** ~1.3M: the tour's pretraining chapter. */
  micro: { vocabSize: 4096, dim: 128, nLayers: 4, nHeads: 4, nKvHeads: 4, ffnDim: 352, contextLength: 256 },
  /** ~5M: the MFU benchmark's model. */
  small: { vocabSize: 8192, dim: 256, nLayers: 4, nHeads: 8, nKvHeads: 8, ffnDim: 688, contextLength: 256 },
  /** llama2.c's stories15M shape (dim 288, 6 layers, 6 heads, ffn 768, vocab 32000): compares with llama.cpp figures. */
  stories15m: { vocabSize: 32000, dim: 288, nLayers: 6, nHeads: 6, nKvHeads: 6, ffnDim: 768, contextLength: 256 },
  /** ~17M. */
  base20m: { vocabSize: 8192, dim: 384, nLayers: 8, nHeads: 6, nKvHeads: 6, ffnDim: 1024, contextLength: 512 },
} as const satisfies Record<string, Partial<LlamaConfig>>;

export type PresetName = keyof typeof PRESETS;

/** A complete, validated config from a preset name and/or overrides. */
export function llamaConfig(base: PresetName | Partial<LlamaConfig>, overrides: Partial<LlamaConfig> = {}): LlamaConfig {
  if (typeof base === "string") {
    check(base in PRESETS, "BAD_ARGUMENT", `unknown preset "${base}"; presets: ${Object.keys(PRESETS).join(", ")}`);
  }
  const preset = typeof base === "string" ? PRESETS[base] : base;
  const merged = { ...DEFAULTS, ...preset, ...overrides } as Partial<LlamaConfig>;
  merged.nKvHeads ??= merged.nHeads;
  return validateConfig(merged);
}

export function validateConfig(c: Partial<LlamaConfig>): LlamaConfig {
  const ints = ["vocabSize", "dim", "nLayers", "nHeads", "nKvHeads", "ffnDim", "contextLength"] as const;
  for (const key of ints) {
    const v = c[key];
    check(typeof v === "number" && Number.isInteger(v) && v >= 1 && v < 2 ** 24, "BAD_ARGUMENT", `config.${key} must be a positive integer, got ${String(v)}`);
  }
  const cfg = c as LlamaConfig;
  check(cfg.dim % cfg.nHeads === 0, "BAD_ARGUMENT", `config.dim (${cfg.dim}) must be a multiple of nHeads (${cfg.nHeads})`);
  check((cfg.dim / cfg.nHeads) % 2 === 0, "BAD_ARGUMENT", `the head size dim/nHeads = ${cfg.dim / cfg.nHeads} must be even for RoPE`);
  check(cfg.nHeads % cfg.nKvHeads === 0, "BAD_ARGUMENT", `config.nKvHeads (${cfg.nKvHeads}) must divide nHeads (${cfg.nHeads})`);
  check(typeof cfg.ropeTheta === "number" && cfg.ropeTheta > 1 && Number.isFinite(cfg.ropeTheta), "BAD_ARGUMENT", `config.ropeTheta must be a finite number > 1, got ${cfg.ropeTheta}`);
  check(typeof cfg.normEps === "number" && cfg.normEps > 0 && cfg.normEps < 1, "BAD_ARGUMENT", `config.normEps must be in (0, 1), got ${cfg.normEps}`);
  check(typeof cfg.tiedEmbeddings === "boolean", "BAD_ARGUMENT", "config.tiedEmbeddings must be a boolean");
  return {
    vocabSize: cfg.vocabSize, dim: cfg.dim, nLayers: cfg.nLayers, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads,
    ffnDim: cfg.ffnDim, contextLength: cfg.contextLength, ropeTheta: cfg.ropeTheta, normEps: cfg.normEps,
    tiedEmbeddings: cfg.tiedEmbeddings,
  };
}

export function headSize(c: LlamaConfig): number {
  return c.dim / c.nHeads;
}

/** One parameter tensor: its Hugging Face name, PyTorch shape and offset (in floats) in the parameter slab. */
export interface ParamTensor {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/**
 * The parameter slab's layout, in Hugging Face LlamaForCausalLM names, so a checkpoint is a key copy. Every tensor
 * starts on a 16-float boundary (64 bytes) so SIMD loads of any tensor are aligned.
 */
export function parameterLayout(c: LlamaConfig): { tensors: ParamTensor[]; total: number } {
  const hs = headSize(c);
  const tensors: ParamTensor[] = [];
  let offset = 0;
  const add = (name: string, shape: number[]) => {
    const size = shape.reduce((a, b) => a * b, 1);
    tensors.push({ name, shape, offset, size });
    offset += Math.ceil(size / 16) * 16;
  };
  add("model.embed_tokens.weight", [c.vocabSize, c.dim]);
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    add(p + "input_layernorm.weight", [c.dim]);
    add(p + "self_attn.q_proj.weight", [c.nHeads * hs, c.dim]);
    add(p + "self_attn.k_proj.weight", [c.nKvHeads * hs, c.dim]);
    add(p + "self_attn.v_proj.weight", [c.nKvHeads * hs, c.dim]);
    add(p + "self_attn.o_proj.weight", [c.dim, c.nHeads * hs]);
    add(p + "post_attention_layernorm.weight", [c.dim]);
    add(p + "mlp.gate_proj.weight", [c.ffnDim, c.dim]);
    add(p + "mlp.up_proj.weight", [c.ffnDim, c.dim]);
    add(p + "mlp.down_proj.weight", [c.dim, c.ffnDim]);
  }
  add("model.norm.weight", [c.dim]);
  if (!c.tiedEmbeddings) add("lm_head.weight", [c.vocabSize, c.dim]);
  return { tensors, total: offset };
}

/** Bytes per parameter of each storage type (block formats include their scales: Q8_0 34 B / 32, Q4_0 18 B / 32). */
export const BYTES_PER_PARAM = { F32: 4, F16: 2, BF16: 2, Q8_0: 34 / 32, Q4_1: 20 / 32, Q4_0: 18 / 32 } as const;

/** Parameter count in total and per kind of tensor, and the bytes a user plans memory with. */
export function parameterTable(c: LlamaConfig): {
  total: number;
  byKind: { kind: string; count: number }[];
  bytes: Record<keyof typeof BYTES_PER_PARAM, number>;
  /** Training footprint of the parameters in f32: weights + gradients + AdamW's two moments. */
  trainingBytes: number;
} {
  const { tensors } = parameterLayout(c);
  const kinds = new Map<string, number>();
  let total = 0;
  for (const t of tensors) {
    const kind = t.name.replace(/^model\.layers\.\d+\./, "layers.*.").replace(/^model\./, "");
    kinds.set(kind, (kinds.get(kind) ?? 0) + t.size);
    total += t.size;
  }
  const bytes = Object.fromEntries(Object.entries(BYTES_PER_PARAM).map(([k, b]) => [k, Math.ceil(total * b)])) as Record<keyof typeof BYTES_PER_PARAM, number>;
  return { total, byKind: [...kinds].map(([kind, count]) => ({ kind, count })), bytes, trainingBytes: total * 16 };
}
