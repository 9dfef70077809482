// A Llama whose 2-D weights are llama.cpp blocks (Q8_0 / Q4_0 / Q4_1), and its GGUF files in both directions.
//
//   const q = quantizeModel(model, "Q4_0", { keepOutput: "Q8_0" });   // a new Llama; `model` is untouched
//   q.decode(ids, cache) / q.forward(ids) / q.generate(prompt)          // the same layer walk as the f32 model
//   const bytes = quantizedModelToGguf(q);  const again = quantizedModelFromGguf(k, readGguf(bytes));
//
// How the weights are held and computed (src/nn/llama.ts walks the layers once for every storage):
// - Q8_0 / Q4_0 / Q4_1: a QuantizedMatrix per tensor in the wasm heap. Every Linear goes through matmulForward
//   (src/nn/linear.ts), which hands such a weight to qmatmul: the activations are quantized to 8-bit blocks and the
//   products are integer block dot products, as llama.cpp's CPU backend does. No f32 copy of these tensors exists.
// - Embedding lookup from a quantized token_embd dequantizes only the rows of the tokens fed (dequantizeRows).
// - F16: a tensor whose rows are not a multiple of 32 (llama-quantize keeps those in F16), or one kept at F16 on
//   request, is held in the f32 slab with its values rounded to f16 and computed by the f32 GEMM (so, unlike llama.cpp,
//   the activations are not rounded to f16 first). It costs 4 bytes per weight in memory and is written as F16.
// - 1-D tensors (the norm gains) stay F32, as in every llama.cpp ftype.
// A quantized model is for inference: zeroGrad/backward throw UNSUPPORTED.
import { TinyLMError, check } from "../errors.js";
import { type GgmlType, type GgufFile, type GgufTensor, type GgufValue, ggufTensorToF32, writeGguf } from "../io/gguf.js";
import { hfParameterShapes } from "../io/hf-llama.js";
import { LLAMA_FILE_TYPE, hfTensorOf, hfToGgufName, llamaConfigFromGguf, llamaGgufMetadata, permuteRopeRows, unpermuteRopeRows } from "../io/llama-gguf.js";
import { QuantizedMatrix } from "../kernels/quant.js";
import type { Kernels } from "../kernels/module.js";
import { Llama } from "../nn/llama.js";
import { f16ArrayToF32, f32ArrayToF16 } from "../util/f16.js";
import { type QuantType, canQuantize, isQuantType, quantFormat } from "./formats.js";

/** How one 2-D weight is stored. */
export type WeightType = "F32" | "F16" | QuantType;

export interface QuantizeModelOptions {
  /** Storage of model.embed_tokens (token_embd). Default: the model's type. With tied embeddings it is also the output. */
  keepEmbedding?: WeightType;
  /** Storage of lm_head (output). Default: the model's type. Used for the tied embedding when keepEmbedding is unset. */
  keepOutput?: WeightType;
}

const EMBED = "model.embed_tokens.weight";
const LM_HEAD = "lm_head.weight";

function weightType(value: unknown, what: string): WeightType {
  check(value === "F32" || value === "F16" || isQuantType(value), "BAD_ARGUMENT",
    () => `quantizeModel: ${what} must be "F32", "F16", "Q8_0", "Q4_0" or "Q4_1", got ${JSON.stringify(value)}`);
  return value;
}

/**
 * A new model with every 2-D weight of `model` quantized to `type` with llama.cpp's reference rounding (the bytes
 * `llama-quantize --pure` writes), except where options keep the embedding or output at another precision. A tensor
 * whose rows are not a multiple of 32 values falls back to F16. 1-D tensors are copied as F32. The caller frees both.
 */
export function quantizeModel(model: Llama, type: QuantType, options: QuantizeModelOptions = {}): Llama {
  check(model instanceof Llama, "BAD_ARGUMENT", "quantizeModel: model must be a Llama");
  quantFormat(type, "quantizeModel");
  check(model.quantized.size === 0, "UNSUPPORTED", "quantizeModel: the model is already quantized; quantize its f32 original");
  const embedType = options.keepEmbedding === undefined ? undefined : weightType(options.keepEmbedding, "keepEmbedding");
  const outType = options.keepOutput === undefined ? undefined : weightType(options.keepOutput, "keepOutput");
  const target = (name: string): WeightType => {
    if (name === EMBED) return embedType ?? (model.config.tiedEmbeddings ? outType : undefined) ?? type;
    if (name === LM_HEAD) return outType ?? type;
    return type;
  };
  const k = model.k;
  const quantized = new Map<string, QuantizedMatrix>();
  const f16 = new Set<string>();
  try {
    for (const t of model.tensors) {
      if (t.shape.length !== 2) continue;
      const [rows, cols] = t.shape;
      const want = target(t.name);
      if (isQuantType(want) && canQuantize(want, cols)) quantized.set(t.name, QuantizedMatrix.fromF32(k, want, model.param(t.name), rows, cols));
      else if (want !== "F32" || model.f16.has(t.name)) f16.add(t.name);
    }
    const q = new Llama(k, model.config, undefined, { quantized, f16 });
    const slab = q.params.view;
    for (const t of q.tensors) {
      const v = model.param(t.name).view;
      slab.set(f16.has(t.name) ? f16ArrayToF32(f32ArrayToF16(v)) : v, t.offset);
    }
    return q;
  } catch (e) {
    for (const m of quantized.values()) m.free();
    throw e;
  }
}

/** The storage of each 2-D weight of a model, by HF name. */
export function weightTypes(model: Llama): Map<string, WeightType> {
  const out = new Map<string, WeightType>();
  for (const [name, shape] of hfParameterShapes(model.config)) {
    if (shape.length !== 2) continue;
    out.set(name, model.quantized.get(name)?.type ?? (model.f16.has(name) ? "F16" : "F32"));
  }
  return out;
}

/** general.file_type (llama_ftype) for a model: the type most of its weights have, as llama-quantize labels its files. */
export function modelFileType(model: Llama): number {
  const count = new Map<WeightType, number>();
  for (const [name, t] of weightTypes(model)) {
    const shape = hfParameterShapes(model.config).get(name)!;
    count.set(t, (count.get(t) ?? 0) + shape[0] * shape[1]);
  }
  const top = [...count.entries()].sort((a, b) => b[1] - a[1])[0][0];
  return LLAMA_FILE_TYPE[top];
}

export interface QuantizedGgufOptions {
  /** general.name. Default "tinylm". */
  name?: string;
  /** More keys after the model's own (the tokenizer.ggml.* keys; llama.cpp requires tokenizer.ggml.model). */
  metadata?: Iterable<readonly [string, GgufValue]>;
}

/**
 * The bytes of a llama GGUF file for a model in any storage: quantized tensors are written as their blocks exactly as
 * held (QuantizedMatrix.toBytes), F16-held ones as F16, the rest F32; general.file_type and
 * general.quantization_version = 2 are set. q/k rows are permuted to llama.cpp's RoPE layout block row by block row.
 */
export function quantizedModelToGguf(model: Llama, options: QuantizedGgufOptions = {}): Uint8Array {
  check(model instanceof Llama, "BAD_ARGUMENT", "quantizedModelToGguf: model must be a Llama");
  const c = model.config;
  const tensors: GgufTensor[] = [];
  for (const [name, shape] of hfParameterShapes(c)) {
    const q = model.quantized.get(name);
    let type: GgmlType, data: Uint8Array, rowBytes: number;
    if (q !== undefined) {
      [type, data, rowBytes] = [q.type, q.toBytes(), q.rowBytes];
    } else {
      const v = model.param(name).toArray();
      const half = model.f16.has(name);
      const typed = half ? f32ArrayToF16(v) : v;
      [type, data, rowBytes] = [half ? "F16" : "F32", new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength), shape[shape.length - 1] * (half ? 2 : 4)];
    }
    if (name.endsWith("q_proj.weight")) data = permuteRopeRows(data, c.nHeads, rowBytes);
    if (name.endsWith("k_proj.weight")) data = permuteRopeRows(data, c.nKvHeads, rowBytes);
    tensors.push({ name: hfToGgufName(name), shape: [...shape].reverse(), type, data });
  }
  const quantizedFile = model.quantized.size > 0;
  const metadata: (readonly [string, GgufValue])[] = [
    ...llamaGgufMetadata(c, { name: options.name, fileType: modelFileType(model) }),
    ...(quantizedFile ? [["general.quantization_version", { type: "u32", value: 2 }] as [string, GgufValue]] : []),
    ...(options.metadata ?? []),
  ];
  return writeGguf(metadata, tensors);
}

/**
 * A model from a llama GGUF file whose tensors are F32, F16, BF16, Q8_0, Q4_0 or Q4_1, in any mix: block tensors stay
 * blocks (QuantizedMatrix.fromBytes, q/k rows moved back to HF's rotate_half order), F16 2-D tensors are held as f16
 * values. Other types (Q6_K, …) throw UNSUPPORTED.
 */
export function quantizedModelFromGguf(k: Kernels, f: GgufFile): Llama {
  const config = llamaConfigFromGguf(f);
  const shapes = hfParameterShapes(config);
  const quantized = new Map<string, QuantizedMatrix>();
  const f16 = new Set<string>();
  const values = new Map<string, Float32Array>();
  try {
    for (const t of f.tensors) {
      const { name, shape } = hfTensorOf(t, shapes, config);
      const heads = name.endsWith("q_proj.weight") ? config.nHeads : name.endsWith("k_proj.weight") ? config.nKvHeads : 0;
      if (isQuantType(t.type)) {
        check(shape.length === 2, "BAD_FILE", `gguf: the 1-D tensor "${t.name}" is ${t.type}; llama.cpp keeps norms in F32`);
        const data = heads > 0 ? unpermuteRopeRows(t.data, heads, t.data.length / shape[0]) : t.data;
        quantized.set(name, QuantizedMatrix.fromBytes(k, t.type, data, shape[0], shape[1]));
        continue;
      }
      if (t.type !== "F32" && t.type !== "F16" && t.type !== "BF16") {
        throw new TinyLMError("UNSUPPORTED", `gguf: tensor "${t.name}" is ${t.type}; tinylm computes with F32, F16, BF16, Q8_0, Q4_0 and Q4_1`);
      }
      const v = ggufTensorToF32(t);
      values.set(name, heads > 0 ? unpermuteRopeRows(v, heads, shape[1]) : v);
      if (t.type === "F16" && shape.length === 2) f16.add(name);
    }
    for (const name of shapes.keys()) check(quantized.has(name) || values.has(name), "BAD_FILE", `gguf: tensor "${hfToGgufName(name)}" is missing`);
    const model = new Llama(k, config, undefined, { quantized, f16 });
    const slab = model.params.view;
    for (const t of model.tensors) slab.set(values.get(t.name)!, t.offset);
    return model;
  } catch (e) {
    for (const m of quantized.values()) m.free();
    throw e;
  }
}

/** Whether a parsed GGUF holds block-quantized tensors (so quantizedModelFromGguf, not the f32 loader, should read it). */
export function ggufIsQuantized(f: GgufFile): boolean {
  return f.tensors.some((t) => t.type !== "F32" && t.type !== "F16" && t.type !== "BF16");
}
