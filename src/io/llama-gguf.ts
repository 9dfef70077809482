import { TinyLMError, check } from "../errors.js";
import { validateConfig, type LlamaConfig } from "../nn/config.js";
import { hfParameterShapes } from "./hf-llama.js";
import { f32ArrayToF16 } from "../util/f16.js";
import { ggufNumber, ggufString, ggufTensorToF32, readGguf, writeGguf, type GgmlType, type GgufFile, type GgufTensor, type GgufValue } from "./gguf.js";

/**
 * A Llama model in Hugging Face names (LlamaForCausalLM's state dict) ↔ a GGUF file for llama.cpp's arch "llama".
 *
 * Three things change on the way (../shared/GGUF.md has the details):
 * - names: model.layers.{i}.self_attn.q_proj.weight → blk.{i}.attn_q.weight, and so on (HF_TO_GGUF below);
 * - shapes: GGUF lists dimensions fastest-first, so an HF (out, in) weight has ne = [in, out]; the bytes are the same;
 * - the rows of q_proj and k_proj: HF rotates the pairs (x[i], x[i + hs/2]) of each head ("rotate_half"), llama.cpp
 *   rotates adjacent pairs (x[2i], x[2i+1]). Reordering each head's rows so that row 2j+s takes HF row s·hs/2 + j makes
 *   llama.cpp's rotation act on exactly the pairs HF rotates: convert_hf_to_gguf.py does this, and so do we.
 */

const LAYER_NAMES: [hf: string, gguf: string][] = [
  ["input_layernorm.weight", "attn_norm.weight"],
  ["self_attn.q_proj.weight", "attn_q.weight"],
  ["self_attn.k_proj.weight", "attn_k.weight"],
  ["self_attn.v_proj.weight", "attn_v.weight"],
  ["self_attn.o_proj.weight", "attn_output.weight"],
  ["post_attention_layernorm.weight", "ffn_norm.weight"],
  ["mlp.gate_proj.weight", "ffn_gate.weight"],
  ["mlp.up_proj.weight", "ffn_up.weight"],
  ["mlp.down_proj.weight", "ffn_down.weight"],
];
const GLOBAL_NAMES: [hf: string, gguf: string][] = [
  ["model.embed_tokens.weight", "token_embd.weight"],
  ["model.norm.weight", "output_norm.weight"],
  ["lm_head.weight", "output.weight"],
];

/** The GGUF name of an HF LlamaForCausalLM parameter, e.g. model.layers.3.mlp.up_proj.weight → blk.3.ffn_up.weight. */
export function hfToGgufName(name: string): string {
  const global = GLOBAL_NAMES.find(([hf]) => hf === name);
  if (global) return global[1];
  const m = /^model\.layers\.(0|[1-9]\d*)\.(.+)$/.exec(name);
  const layer = m ? LAYER_NAMES.find(([hf]) => hf === m[2]) : undefined;
  check(m !== null && layer !== undefined, "BAD_ARGUMENT", `"${name}" is not a LlamaForCausalLM parameter name`);
  return `blk.${m[1]}.${layer[1]}`;
}

/** The HF name of a llama GGUF tensor name, e.g. blk.0.attn_q.weight → model.layers.0.self_attn.q_proj.weight. */
export function ggufToHfName(name: string): string {
  const global = GLOBAL_NAMES.find(([, g]) => g === name);
  if (global) return global[0];
  const m = /^blk\.(0|[1-9]\d*)\.(.+)$/.exec(name);
  const layer = m ? LAYER_NAMES.find(([, g]) => g === m[2]) : undefined;
  check(m !== null && layer !== undefined, "UNSUPPORTED",
    `GGUF tensor "${name}" has no place in a plain Llama model (biases, rope_freqs and the like are not supported)`);
  return `model.layers.${m[1]}.${layer[0]}`;
}

/**
 * Reorders the rows of a q_proj / k_proj weight (nHeads·hs rows of nIn) from HF's rotate_half layout to llama.cpp's
 * adjacent-pair layout: within each head, output row 2j + s is input row s·hs/2 + j. This is numpy's
 * `w.reshape(nHeads, 2, hs/2, nIn).swapaxes(1, 2).reshape(-1, nIn)`. Quantized blocks are rows too: pass a tensor's
 * bytes with nIn = bytes per row (block formats never cross rows, so the permuted bytes are exact).
 */
export function permuteRopeRows<T extends Float32Array | Uint8Array>(w: T, nHeads: number, nIn: number): T {
  return moveRows(w, nHeads, nIn, false);
}

/** The inverse of permuteRopeRows: llama.cpp's adjacent-pair row order back to HF's rotate_half order. */
export function unpermuteRopeRows<T extends Float32Array | Uint8Array>(w: T, nHeads: number, nIn: number): T {
  return moveRows(w, nHeads, nIn, true);
}

function moveRows<T extends Float32Array | Uint8Array>(w: T, nHeads: number, nIn: number, inverse: boolean): T {
  check(Number.isInteger(nHeads) && nHeads > 0 && Number.isInteger(nIn) && nIn > 0, "BAD_SHAPE", "nHeads and nIn must be positive integers");
  const rows = w.length / nIn;
  const hs = rows / nHeads;
  check(Number.isInteger(rows) && Number.isInteger(hs) && hs % 2 === 0, "BAD_SHAPE",
    `a ${w.length}-value weight with rows of ${nIn} is not ${nHeads} heads of an even head size`);
  const out = (w instanceof Float32Array ? new Float32Array(w.length) : new Uint8Array(w.length)) as T;
  for (let h = 0; h < nHeads; h++) {
    for (let j = 0; j < hs / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const adjacent = (h * hs + 2 * j + s) * nIn;
        const half = (h * hs + s * (hs / 2) + j) * nIn;
        const [to, from] = inverse ? [half, adjacent] : [adjacent, half];
        out.set(w.subarray(from, from + nIn), to);
      }
    }
  }
  return out;
}

/** llama_ftype values for general.file_type (informational: loaders read each tensor's own type). */
export const LLAMA_FILE_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7 } as const;

/** The llama.* and general.* keys llama.cpp reads for arch "llama", in the order convert_hf_to_gguf.py writes them. */
export function llamaGgufMetadata(c: LlamaConfig, options: { name?: string; fileType?: number } = {}): [string, GgufValue][] {
  validateConfig(c);
  const u32 = (value: number): GgufValue => ({ type: "u32", value });
  const f32 = (value: number): GgufValue => ({ type: "f32", value });
  return [
    ["general.architecture", { type: "string", value: "llama" }],
    ["general.name", { type: "string", value: options.name ?? "tinylm" }],
    ["general.file_type", u32(options.fileType ?? LLAMA_FILE_TYPE.F32)],
    ["llama.context_length", u32(c.contextLength)],
    ["llama.embedding_length", u32(c.dim)],
    ["llama.block_count", u32(c.nLayers)],
    ["llama.feed_forward_length", u32(c.ffnDim)],
    ["llama.attention.head_count", u32(c.nHeads)],
    ["llama.attention.head_count_kv", u32(c.nKvHeads)],
    ["llama.rope.freq_base", f32(c.ropeTheta)],
    ["llama.attention.layer_norm_rms_epsilon", f32(c.normEps)],
    ["llama.rope.dimension_count", u32(c.dim / c.nHeads)],
    ["llama.vocab_size", u32(c.vocabSize)],
  ];
}

/** A 2-D tensor's GGUF encoding; return undefined to keep the default type. */
export type EncodeTensor = (info: { name: string; ne: number[]; values: Float32Array }) => { type: GgmlType; data: Uint8Array } | undefined;

export interface LlamaToGgufOptions {
  /** Storage of the 2-D tensors: "F32" (default) or "F16". 1-D tensors (the norms) are always F32, as in llama.cpp. */
  type?: "F32" | "F16";
  /** general.name. */
  name?: string;
  /** general.file_type; defaults to the one matching `type`. */
  fileType?: number;
  /** More keys after the model's own, e.g. the tokenizer.ggml.* keys (llama.cpp requires tokenizer.ggml.model). */
  metadata?: Iterable<readonly [string, GgufValue]>;
  /** Custom encoding of 2-D tensors (the quantizers plug in here); receives the already RoPE-permuted values. */
  encode?: EncodeTensor;
}

/**
 * The bytes of a llama GGUF file for a model given as HF-named f32 tensors (row-major PyTorch shapes, q/k in HF's
 * rotate_half layout). Every parameter of the config must be present with its exact size; nothing else may be.
 */
export function llamaToGguf(c: LlamaConfig, tensors: Map<string, Float32Array> | Record<string, Float32Array>, options: LlamaToGgufOptions = {}): Uint8Array {
  validateConfig(c);
  const type = options.type ?? "F32";
  check(type === "F32" || type === "F16", "BAD_ARGUMENT", `llamaToGguf: type must be "F32" or "F16", got ${String(type)}`);
  const byName = tensors instanceof Map ? tensors : new Map(Object.entries(tensors));
  const shapes = hfParameterShapes(c);
  for (const name of byName.keys()) check(shapes.has(name), "BAD_ARGUMENT", `llamaToGguf: unexpected tensor "${name}" for this config`);
  const out: GgufTensor[] = [];
  for (const [name, shape] of shapes) {
    const values = byName.get(name);
    const size = shape.reduce((a, b) => a * b, 1);
    check(values instanceof Float32Array && values.length === size, "BAD_SHAPE",
      `llamaToGguf: "${name}" must be a Float32Array of ${size} values (shape [${shape}]), got ${values === undefined ? "nothing" : values.length}`);
    const ggufName = hfToGgufName(name);
    const ne = [...shape].reverse();
    let v = values;
    if (name.endsWith("q_proj.weight")) v = permuteRopeRows(values, c.nHeads, c.dim);
    if (name.endsWith("k_proj.weight")) v = permuteRopeRows(values, c.nKvHeads, c.dim);
    const custom = shape.length === 2 ? options.encode?.({ name: ggufName, ne, values: v }) : undefined;
    if (custom !== undefined) out.push({ name: ggufName, shape: ne, type: custom.type, data: custom.data });
    else if (shape.length === 2 && type === "F16") out.push({ name: ggufName, shape: ne, type, data: bytesOf(f32ArrayToF16(v)) });
    else out.push({ name: ggufName, shape: ne, type: "F32", data: bytesOf(v) });
  }
  const metadata = [...llamaGgufMetadata(c, { name: options.name, fileType: options.fileType ?? LLAMA_FILE_TYPE[type] }), ...(options.metadata ?? [])];
  return writeGguf(metadata, out);
}

/** Dequantizes a tensor tinylm's GGUF reader cannot decode on its own (the quant module plugs in here). */
export type DecodeTensor = (tensor: GgufTensor) => Float32Array | undefined;

export interface LlamaFromGguf {
  config: LlamaConfig;
  /** HF-named f32 tensors, q/k back in HF's rotate_half layout. */
  tensors: Map<string, Float32Array>;
  /** Every key of the file (tokenizer.ggml.* included). */
  metadata: Map<string, GgufValue>;
}

/** GGUF tensor `t`'s HF name and PyTorch shape in a model of `config` (BAD_FILE if it has no place there or the wrong shape). */
export function hfTensorOf(t: GgufTensor, shapes: Map<string, number[]>, config: LlamaConfig): { name: string; shape: number[] } {
  const name = ggufToHfName(t.name);
  const shape = shapes.get(name);
  check(shape !== undefined, "BAD_FILE", `gguf: tensor "${t.name}" does not belong to a ${config.nLayers}-layer model`);
  const ne = [...shape].reverse();
  check(t.shape.length === ne.length && t.shape.every((d, i) => d === ne[i]), "BAD_FILE",
    `gguf: tensor "${t.name}" has ne [${t.shape}], expected [${ne}] for this config`);
  return { name, shape };
}

/**
 * Reads a llama GGUF file (bytes or an already parsed file) into a config and HF-named f32 tensors. F32, F16 and
 * BF16 tensors decode here; other types go through `options.decode` or are reported as UNSUPPORTED.
 */
export function llamaFromGguf(file: Uint8Array | GgufFile, options: { decode?: DecodeTensor } = {}): LlamaFromGguf {
  const f = file instanceof Uint8Array ? readGguf(file) : file;
  const m = f.metadata;
  const config = llamaConfigFromGguf(f);
  const shapes = hfParameterShapes(config);
  const tensors = new Map<string, Float32Array>();
  for (const t of f.tensors) {
    const { name } = hfTensorOf(t, shapes, config);
    let values = t.type === "F32" || t.type === "F16" || t.type === "BF16" ? ggufTensorToF32(t) : options.decode?.(t);
    check(values !== undefined, "UNSUPPORTED", `gguf: tensor "${t.name}" is ${t.type}; pass a decode function to read it`);
    if (name.endsWith("q_proj.weight")) values = unpermuteRopeRows(values, config.nHeads, config.dim);
    if (name.endsWith("k_proj.weight")) values = unpermuteRopeRows(values, config.nKvHeads, config.dim);
    tensors.set(name, values);
  }
  for (const name of shapes.keys()) check(tensors.has(name), "BAD_FILE", `gguf: tensor "${hfToGgufName(name)}" is missing`);
  return { config, tensors, metadata: m };
}

/** The model config a llama GGUF file describes (its llama.* keys and token_embd's shape), validated. */
export function llamaConfigFromGguf(f: GgufFile): LlamaConfig {
  const m = f.metadata;
  const arch = ggufString(m, "general.architecture");
  check(arch !== undefined, "BAD_FILE", "gguf: general.architecture is missing");
  check(arch === "llama", "UNSUPPORTED", `gguf: architecture "${arch}" is not supported (only "llama")`);
  const need = (key: string): number => {
    const v = ggufNumber(m, key);
    check(v !== undefined, "BAD_FILE", `gguf: the required key ${key} is missing or not a number`);
    return v;
  };
  const byName = new Map(f.tensors.map((t) => [t.name, t]));
  const embd = byName.get("token_embd.weight");
  check(embd !== undefined && embd.shape.length === 2, "BAD_FILE", "gguf: token_embd.weight is missing or not 2-D");
  const dim = need("llama.embedding_length");
  const nHeads = need("llama.attention.head_count");
  const ffnValue = m.get("llama.feed_forward_length");
  let ffnDim: number | undefined = ggufNumber(m, "llama.feed_forward_length");
  if (ffnValue?.type === "array") {
    const per = Array.from(ffnValue.value as ArrayLike<number | bigint>, Number);
    check(per.length > 0 && per.every((x) => x === per[0]), "UNSUPPORTED", "gguf: a different feed_forward_length per layer is not supported");
    ffnDim = per[0];
  }
  check(ffnDim !== undefined, "BAD_FILE", "gguf: the required key llama.feed_forward_length is missing");
  const config = checkedConfig({
    vocabSize: ggufNumber(m, "llama.vocab_size") ?? embd.shape[1],
    dim,
    nLayers: need("llama.block_count"),
    nHeads,
    nKvHeads: ggufNumber(m, "llama.attention.head_count_kv") ?? nHeads,
    ffnDim,
    contextLength: need("llama.context_length"),
    ropeTheta: shortestF32(ggufNumber(m, "llama.rope.freq_base") ?? 10000),
    normEps: shortestF32(need("llama.attention.layer_norm_rms_epsilon")),
    tiedEmbeddings: !byName.has("output.weight"),
  });
  const hs = dim / nHeads;
  for (const key of ["llama.rope.dimension_count", "llama.attention.key_length", "llama.attention.value_length"]) {
    const v = ggufNumber(m, key);
    check(v === undefined || v === hs, "UNSUPPORTED", `gguf: ${key} = ${v} differs from the head size ${hs}; only full-width RoPE heads are supported`);
  }
  return config;
}

// A config read from a file: its problems are the file's, so they are reported as BAD_FILE.
function checkedConfig(c: LlamaConfig): LlamaConfig {
  try {
    return validateConfig(c);
  } catch (e) {
    throw new TinyLMError("BAD_FILE", `gguf: the llama.* keys describe an invalid model: ${(e as Error).message}`);
  }
}

// The shortest decimal that rounds to the same f32, so that 1e-5 stored as f32 reads back as 1e-5, not 9.99999974e-6.
function shortestF32(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

function bytesOf(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
