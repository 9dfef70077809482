import { mkdir, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { check } from "../errors.js";
import { type GgufSaveOptions, type HfSaveOptions, modelFromGguf, modelFromHfFiles, modelToGguf, modelToHfFiles, sftStateFromBytes, sftStateToBytes, trainStateFromBytes, trainStateToBytes } from "../io/checkpoint.js";
import type { Kernels } from "../kernels/module.js";
import type { LlamaConfig } from "../nn/config.js";
import type { Llama } from "../nn/llama.js";
import type { SftState } from "../posttrain/sft.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { TrainState } from "../train/pretrain.js";
import { parseFile, readFileBytes, writeFileAtomic } from "./files.js";
import { loadKernelsFromFiles } from "./kernels.js";

export type SaveModelOptions = ({ format?: "hf" } & HfSaveOptions) | ({ format: "gguf" } & GgufSaveOptions);

/**
 * Saves a model as a Hugging Face directory (default: config.json, generation_config.json, model.safetensors and,
 * with a tokenizer, tokenizer.json) or as one .gguf file. Every file is written to a temporary name and renamed, so an
 * interrupted save leaves the previous files intact.
 */
export async function saveModel(model: Llama, path: string, options: SaveModelOptions = {}): Promise<void> {
  if (options.format === "gguf") {
    await writeFileAtomic(path, modelToGguf(model, options));
    return;
  }
  check(options.format === undefined || options.format === "hf", "BAD_ARGUMENT", `saveModel: format must be "hf" or "gguf", got ${String(options.format)}`);
  await mkdir(path, { recursive: true });
  for (const [name, bytes] of modelToHfFiles(model, options)) await writeFileAtomic(join(path, name), bytes);
}

/** Loads a model from a Hugging Face directory or a .gguf file, with its tokenizer when the files carry one. */
export async function loadModel(path: string, options: { kernels?: Kernels } = {}): Promise<{ model: Llama; tokenizer?: Tokenizer }> {
  const k = options.kernels ?? (await loadKernelsFromFiles());
  const info = await stat(path).catch(() => undefined);
  check(info !== undefined, "BAD_FILE", `loadModel: ${path} does not exist`);
  if (info.isFile()) return modelFromGguf(k, await readFileBytes(path));
  const files = new Map<string, Uint8Array>();
  for (const name of await readdir(path)) {
    if (["config.json", "model.safetensors", "tokenizer.json"].includes(name)) files.set(name, await readFileBytes(join(path, name)));
  }
  return modelFromHfFiles(k, files);
}

/** Writes a training state (atomically) for `pretrain(..., resume)`. */
export async function saveTrainState(path: string, config: LlamaConfig, state: TrainState): Promise<void> {
  await writeFileAtomic(path, trainStateToBytes(config, state));
}

/** Reads what saveTrainState wrote; any other file (an SFT state among them) is a TinyLMError naming the file and the problem. */
export async function loadTrainState(path: string): Promise<{ config: LlamaConfig; state: TrainState }> {
  return parseFile(path, trainStateFromBytes);
}

/** Writes an SFT state (atomically) for `sft(..., resume)`. */
export async function saveSftState(path: string, config: LlamaConfig, state: SftState): Promise<void> {
  await writeFileAtomic(path, sftStateToBytes(config, state));
}

/** Reads what saveSftState wrote; any other file (a pretraining state among them) is a TinyLMError naming the file and the problem. */
export async function loadSftState(path: string): Promise<{ config: LlamaConfig; state: SftState }> {
  return parseFile(path, sftStateFromBytes);
}
