import { TinyLMError, check } from "../errors.js";
import type { Kernels } from "../kernels/module.js";
import { type LlamaConfig, parameterLayout, validateConfig } from "../nn/config.js";
import { Llama } from "../nn/llama.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";
import type { SftState } from "../posttrain/sft.js";
import type { TrainState } from "../train/pretrain.js";
import type { TrainStateBase } from "../train/state.js";
import { type QuantType, isQuantType } from "../quant/formats.js";
import { type WeightType, ggufIsQuantized, quantizeModel, quantizedModelFromGguf, quantizedModelToGguf } from "../quant/model.js";
import { type GgufValue, gguf, readGguf } from "./gguf.js";
import { type HfDtype, hfLlamaConfigJson, llamaConfigFromHf, llamaFromSafetensors, llamaToSafetensors } from "./hf-llama.js";
import { type DecodeTensor, type EncodeTensor, llamaFromGguf, llamaToGguf } from "./llama-gguf.js";
import { type SafetensorsTensor, f32Tensor, readSafetensors, tensorToF32, writeSafetensors } from "./safetensors.js";

/**
 * A model's files in the formats other tools read, as bytes (src/node/checkpoint.ts writes them atomically):
 * a Hugging Face directory (config.json, generation_config.json, model.safetensors, tokenizer.json) that
 * `LlamaForCausalLM.from_pretrained` loads, a llama GGUF that llama.cpp runs, and a training state to resume from.
 */

/** The model's parameters as HF-named f32 tensors (copies). */
export function modelTensors(model: Llama): Map<string, Float32Array> {
  const all = model.params.view;
  return new Map(model.tensors.map((t) => [t.name, all.slice(t.offset, t.offset + t.size)]));
}

/** A model with the given HF-named tensors (every parameter of the config, exact sizes). */
export function modelFromTensors(k: Kernels, config: LlamaConfig, tensors: Map<string, Float32Array>): Llama {
  const model = new Llama(k, validateConfig(config));
  const slab = model.params.view;
  for (const t of model.tensors) {
    const v = tensors.get(t.name);
    check(v !== undefined && v.length === t.size, "BAD_FILE", `tensor "${t.name}" is missing or has the wrong size`);
    slab.set(v, t.offset);
  }
  return model;
}

export interface HfSaveOptions {
  /** Storage type of model.safetensors. Default "F32". */
  dtype?: HfDtype;
  /** Saved as tokenizer.json so the directory is complete. */
  tokenizer?: Tokenizer;
  bosTokenId?: number;
  eosTokenId?: number;
}

/** The files of a Hugging Face checkpoint directory, name → bytes. */
export function modelToHfFiles(model: Llama, options: HfSaveOptions = {}): Map<string, Uint8Array> {
  const text = (o: unknown) => new TextEncoder().encode(JSON.stringify(o, null, 2) + "\n");
  const ids = { bosTokenId: options.bosTokenId, eosTokenId: options.eosTokenId };
  const files = new Map<string, Uint8Array>([
    ["config.json", text(hfLlamaConfigJson(model.config, { dtype: options.dtype, ...ids }))],
    ["generation_config.json", text({ _from_model_config: true, ...(ids.bosTokenId === undefined ? {} : { bos_token_id: ids.bosTokenId }), ...(ids.eosTokenId === undefined ? {} : { eos_token_id: ids.eosTokenId }) })],
    ["model.safetensors", llamaToSafetensors(model.config, modelTensors(model), options.dtype ?? "F32")],
  ]);
  if (options.tokenizer) files.set("tokenizer.json", text(options.tokenizer.toJSON()));
  return files;
}

/** A model (and its tokenizer, when tokenizer.json is among the files) from a Hugging Face checkpoint's files. */
export function modelFromHfFiles(k: Kernels, files: Map<string, Uint8Array>): { model: Llama; tokenizer?: Tokenizer } {
  const get = (name: string) => {
    const bytes = files.get(name);
    check(bytes !== undefined, "BAD_FILE", `the checkpoint has no ${name}`);
    return bytes;
  };
  const config = llamaConfigFromHf(new TextDecoder().decode(get("config.json")));
  const model = modelFromTensors(k, config, llamaFromSafetensors(get("model.safetensors"), config));
  const tok = files.get("tokenizer.json");
  return { model, tokenizer: tok ? Tokenizer.fromJSON(new TextDecoder().decode(tok)) : undefined };
}

export interface GgufSaveOptions {
  /**
   * 2-D tensors of an f32 model as "F32" (default), "F16", or quantized ("Q8_0", "Q4_0", "Q4_1": a pure file, as
   * `llama-quantize --pure` writes, rows not a multiple of 32 in F16); norms stay F32. A model that already holds
   * quantized or f16 weights is written as it is held, and `type` must be left unset.
   */
  type?: "F32" | "F16" | QuantType;
  /** With a quantized `type`: storage of token_embd / output (see quantizeModel). */
  keepEmbedding?: WeightType;
  keepOutput?: WeightType;
  /** Embedded as tokenizer.ggml.* so llama.cpp can tokenize (a byte-level BPE with the GPT-2 pre-tokenizer). */
  tokenizer?: Tokenizer;
  name?: string;
  /** Custom tensor encoding (the quantizers). */
  encode?: EncodeTensor;
  fileType?: number;
}

/** The bytes of a llama GGUF file for the model (Q/K rows permuted to llama.cpp's adjacent-pair RoPE). */
export function modelToGguf(model: Llama, options: GgufSaveOptions = {}): Uint8Array {
  const metadata: [string, GgufValue][] = options.tokenizer ? tokenizerGgufMetadata(options.tokenizer) : [["tokenizer.ggml.model", gguf.string("no_vocab")]];
  if (model.quantized.size > 0 || model.f16.size > 0) {
    check(options.type === undefined && options.encode === undefined, "BAD_ARGUMENT",
      "modelToGguf: this model holds quantized or f16 weights and is saved as held; quantize the f32 model for another type");
    return quantizedModelToGguf(model, { name: options.name, metadata });
  }
  if (isQuantType(options.type)) {
    const q = quantizeModel(model, options.type, { keepEmbedding: options.keepEmbedding, keepOutput: options.keepOutput });
    try {
      return quantizedModelToGguf(q, { name: options.name, metadata });
    } finally {
      q.free();
    }
  }
  return llamaToGguf(model.config, modelTensors(model), { type: options.type, name: options.name, metadata, encode: options.encode, fileType: options.fileType });
}

/**
 * A model from GGUF bytes, and its tokenizer when one is embedded. F32/F16/BF16 files give a trainable f32 model; a
 * file with Q8_0/Q4_0/Q4_1 tensors gives an inference model that keeps them quantized (src/quant/model.ts), unless a
 * `decode` function is given, which turns them into f32 values instead.
 */
export function modelFromGguf(k: Kernels, bytes: Uint8Array, options: { decode?: DecodeTensor } = {}): { model: Llama; tokenizer?: Tokenizer; metadata: Map<string, GgufValue> } {
  const file = readGguf(bytes);
  if (options.decode === undefined && ggufIsQuantized(file)) {
    return { model: quantizedModelFromGguf(k, file), tokenizer: tokenizerFromGguf(file.metadata), metadata: file.metadata };
  }
  const { config, tensors, metadata } = llamaFromGguf(file, options);
  return { model: modelFromTensors(k, config, tensors), tokenizer: tokenizerFromGguf(metadata), metadata };
}

/**
 * tokenizer.ggml.* keys for a byte-level BPE tokenizer (llama.cpp's "gpt2" model with the "gpt-2" pre-tokenizer):
 * tokens in id order, their types (special added tokens are control tokens), and the merges as "a b" strings.
 */
export function tokenizerGgufMetadata(tok: Tokenizer): [string, GgufValue][] {
  const j = tok.toJSON() as { model: { type?: string; vocab: Record<string, number>; merges: (string | [string, string])[] }; added_tokens: { id: number; content: string; special: boolean }[] };
  check(j.model.type === "BPE" && Array.isArray(j.model.merges), "UNSUPPORTED", "GGUF export embeds byte-level BPE tokenizers only");
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(j.model.vocab)) tokens[id] = t;
  const types = new Array<number>(tokens.length).fill(1);
  for (const a of j.added_tokens) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? 3 : 4;
  }
  for (let i = 0; i < tokens.length; i++) check(tokens[i] !== undefined, "BAD_ARGUMENT", `GGUF export: token id ${i} has no token (ids must be dense)`);
  const merges = j.model.merges.map((m) => (typeof m === "string" ? m : `${m[0]} ${m[1]}`));
  const meta: [string, GgufValue][] = [
    ["tokenizer.ggml.model", gguf.string("gpt2")],
    ["tokenizer.ggml.pre", gguf.string("gpt-2")],
    ["tokenizer.ggml.tokens", gguf.array("string", tokens)],
    ["tokenizer.ggml.token_type", gguf.array("i32", Int32Array.from(types))],
    ["tokenizer.ggml.merges", gguf.array("string", merges)],
    ["tokenizer.ggml.add_bos_token", gguf.bool(false)],
  ];
  const special = j.added_tokens.filter((a) => a.special);
  const bos = special.find((a) => /^<\|?(bos|s|begin_of_text|endoftext)\|?>$/.test(a.content));
  const eos = special.find((a) => /^<\|?(eos|\/s|end_of_text|endoftext)\|?>$/.test(a.content));
  if (bos) meta.push(["tokenizer.ggml.bos_token_id", gguf.u32(bos.id)]);
  if (eos) meta.push(["tokenizer.ggml.eos_token_id", gguf.u32(eos.id)]);
  return meta;
}

// The tokenizer a GGUF embeds, rebuilt as a Hugging Face byte-level BPE (only the "gpt2" model with the GPT-2 split).
function tokenizerFromGguf(meta: Map<string, GgufValue>): Tokenizer | undefined {
  const model = meta.get("tokenizer.ggml.model");
  if (model?.type !== "string" || model.value !== "gpt2") return undefined;
  const pre = meta.get("tokenizer.ggml.pre");
  if (pre !== undefined && !(pre.type === "string" && pre.value === "gpt-2")) return undefined;
  const tokens = meta.get("tokenizer.ggml.tokens"), merges = meta.get("tokenizer.ggml.merges"), types = meta.get("tokenizer.ggml.token_type");
  check(tokens?.type === "array" && merges?.type === "array", "BAD_FILE", "gguf: a gpt2 tokenizer needs tokenizer.ggml.tokens and tokenizer.ggml.merges");
  const list = tokens.value as string[];
  const kinds = types?.type === "array" ? Array.from(types.value as ArrayLike<number>) : [];
  const vocab: Record<string, number> = {};
  const added: Record<string, unknown>[] = [];
  list.forEach((t, id) => {
    if (kinds[id] === 3 || kinds[id] === 4) added.push({ id, content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: kinds[id] === 3 });
    vocab[t] = id;
  });
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return Tokenizer.fromJSON({
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: byteLevel, post_processor: null, decoder: byteLevel,
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: merges.value },
  });
}

/** The training loops whose state a training state file can hold. */
export type TrainStage = "pretrain" | "sft";

const STAGES: Record<TrainStage, string> = {
  pretrain: "a pretraining state (what pretrain / `tinylm pretrain` checkpoint)",
  sft: "an SFT state (what sft / `tinylm sft --checkpoint-every` checkpoint)",
};

/** A pretraining state (parameters, AdamW moments, data-order RNG, history) as safetensors bytes. */
export function trainStateToBytes(config: LlamaConfig, state: TrainState): Uint8Array {
  return stateToBytes("pretrain", config, state, { history: state.history });
}

/** The config and TrainState saved by trainStateToBytes. */
export function trainStateFromBytes(bytes: Uint8Array): { config: LlamaConfig; state: TrainState } {
  const { config, base, meta } = stateFromBytes(bytes, "pretrain");
  return { config, state: { ...base, history: historyOf<TrainState["history"]>(meta, ["train", "val"]) } };
}

/** An SFT state (sft's onCheckpoint) as safetensors bytes: the common part plus the data order as an I32 tensor. */
export function sftStateToBytes(config: LlamaConfig, state: SftState): Uint8Array {
  check(state.order instanceof Int32Array, "BAD_ARGUMENT", "sftStateToBytes: the state's order must be an Int32Array");
  const order: SafetensorsTensor = { dtype: "I32", shape: [state.order.length], data: new Uint8Array(state.order.slice().buffer) };
  return stateToBytes("sft", config, state, { cursor: state.cursor, tokensSeen: state.tokensSeen, dataHash: state.dataHash, history: state.history }, [["order", order]]);
}

/** The config and SftState saved by sftStateToBytes (sft() checks that it fits the model and the data). */
export function sftStateFromBytes(bytes: Uint8Array): { config: LlamaConfig; state: SftState } {
  const { config, base, meta, tensors } = stateFromBytes(bytes, "sft");
  const order = tensors.get("order");
  check(order !== undefined && order.dtype === "I32" && order.shape.length === 1, "BAD_FILE", "the SFT state has no I32 order tensor (the data order)");
  const { cursor, tokensSeen, dataHash } = meta;
  check(Number.isInteger(cursor) && Number.isInteger(tokensSeen) && typeof dataHash === "string", "BAD_FILE",
    "the SFT state's cursor, tokensSeen or dataHash is missing or of the wrong type");
  // The bytes are little-endian, as typed arrays are on every host tensorToF32 (above, for params) accepts.
  return {
    config,
    state: {
      ...base, order: new Int32Array(new Uint8Array(order.data).buffer), cursor: cursor as number, tokensSeen: tokensSeen as number, dataHash,
      history: historyOf<SftState["history"]>(meta, ["train", "eval"]),
    },
  };
}

// Every stage's training state is one safetensors file: the F32 tensors params, adamw.m and adamw.v (plus a stage's
// own, such as SFT's data order), and the metadata {format: "tinylm-train-state", stage, state: JSON of the model
// config, the step, AdamW's step, the generator's state and the stage's own fields}.
function stateToBytes(stage: TrainStage, config: LlamaConfig, base: TrainStateBase, fields: Record<string, unknown>, extra: [string, SafetensorsTensor][] = []): Uint8Array {
  const tensors = new Map([["params", f32Tensor([base.params.length], base.params)], ...extra]);
  if (base.optimizer) {
    tensors.set("adamw.m", f32Tensor([base.optimizer.m.length], base.optimizer.m));
    tensors.set("adamw.v", f32Tensor([base.optimizer.v.length], base.optimizer.v));
  }
  const meta = { config, step: base.step, adamwStep: base.optimizer?.t ?? 0, rng: base.rng, ...fields };
  return writeSafetensors(tensors, { format: "tinylm-train-state", stage, state: JSON.stringify(meta) });
}

// The common part of a training state file of the given stage, checked for what a loader can check without the model
// (the loops check the rest: that the parameters fit the model, the order the data).
function stateFromBytes(bytes: Uint8Array, stage: TrainStage): { config: LlamaConfig; base: TrainStateBase; meta: Record<string, unknown>; tensors: Map<string, SafetensorsTensor> } {
  const file = readSafetensors(bytes);
  check(file.metadata?.format === "tinylm-train-state" && typeof file.metadata.state === "string", "BAD_FILE", "not a tinylm training state (metadata format is missing)");
  // Files from before SFT states existed carry no stage: pretraining was the only one.
  const found = file.metadata.stage ?? "pretrain";
  check(Object.hasOwn(STAGES, found), "BAD_FILE", `the training state is of an unknown stage "${found}"`);
  check(found === stage, "BAD_FILE", `this file is ${STAGES[found as TrainStage]}, not ${STAGES[stage]}`);
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(file.metadata.state);
  } catch {
    throw new TinyLMError("BAD_FILE", "the training state's metadata is not valid JSON");
  }
  check(isRecord(meta), "BAD_FILE", "the training state's metadata is not a JSON object");
  let config: LlamaConfig;
  try {
    config = validateConfig(meta.config as Partial<LlamaConfig>);
  } catch (e) {
    throw new TinyLMError("BAD_FILE", `the training state's model config is invalid: ${(e as Error).message}`);
  }
  const { step, adamwStep, rng } = meta;
  check(Number.isInteger(step) && (step as number) >= 0 && Number.isInteger(adamwStep) && (adamwStep as number) >= 0, "BAD_FILE",
    "the training state's step and AdamW step must be non-negative integers");
  check(Array.isArray(rng) && rng.length === 4 && rng.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) && rng.some((w) => w !== 0), "BAD_FILE",
    "the training state's generator state is not four 32-bit words");
  const f32 = (name: string, n: number) => {
    const t = file.tensors.get(name);
    if (t === undefined) return undefined;
    check(t.dtype === "F32" && t.shape.length === 1 && t.shape[0] === n, "BAD_FILE",
      `the training state's ${name} tensor is ${t.dtype} [${t.shape}], not F32 [${n}] (the parameter count of its config)`);
    return tensorToF32(t);
  };
  const total = parameterLayout(config).total;
  const params = f32("params", total), m = f32("adamw.m", total), v = f32("adamw.v", total);
  check(params !== undefined, "BAD_FILE", "the training state has no params tensor");
  check((m === undefined) === (v === undefined), "BAD_FILE", "the training state has only one of the AdamW moments adamw.m and adamw.v");
  const base: TrainStateBase = { step: step as number, params, rng: rng as TrainStateBase["rng"], optimizer: m && v ? { t: adamwStep as number, m, v } : null };
  return { config, base, meta, tensors: file.tensors };
}

// A state's history: an object with an array of logs under each key.
function historyOf<H>(meta: Record<string, unknown>, keys: (keyof H & string)[]): H {
  const h = meta.history;
  check(isRecord(h) && keys.every((key) => Array.isArray(h[key])), "BAD_FILE", `the training state has no history (${keys.join(", ")})`);
  return h as H;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
