import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { loadModel, loadTrainState, saveModel, saveTrainState } from "../../src/node/checkpoint.js";
import { Llama } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";
import { pretrain } from "../../src/train/pretrain.js";
import { TinyLMError } from "../../src/errors.js";
import { readGguf } from "../../src/io/gguf.js";

const config = llamaConfig({ vocabSize: 300, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 48, contextLength: 16, tiedEmbeddings: false });
const ids = [5, 17, 200, 3, 99, 42, 7];

async function setup() {
  const k = await loadKernelsFromFiles("simd");
  const model = Llama.init(k, config, { seed: 2, initStd: 0.2 });
  model.forward(ids);
  return { k, model, logits: model.logits(), dir: mkdtempSync(join(tmpdir(), "tinylm-ckpt-")) };
}

async function smallTokenizer(): Promise<Tokenizer> {
  const text = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n".repeat(20);
  const json = await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train(text);
  return Tokenizer.fromJSON(json);
}

describe("checkpoints", () => {
  it("Hugging Face directory: save → load gives identical parameters and logits; F16 stays within half precision", async () => {
    const { k, model, logits, dir } = await setup();
    const tok = await smallTokenizer();
    await saveModel(model, dir, { tokenizer: tok });
    expect(readdirSync(dir).sort()).toEqual(["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"]);
    expect(JSON.parse(readFileSync(join(dir, "config.json"), "utf8"))).toMatchObject({ architectures: ["LlamaForCausalLM"], num_key_value_heads: 2 });
    const loaded = await loadModel(dir, { kernels: k });
    expect(loaded.model.params.view).toEqual(model.params.view);
    expect(loaded.tokenizer!.encode("the cat sat")).toEqual(tok.encode("the cat sat"));
    loaded.model.forward(ids);
    expect(loaded.model.logits()).toEqual(logits);

    const half = join(dir, "f16");
    await saveModel(model, half, { dtype: "F16" });
    const h = await loadModel(half, { kernels: k });
    const a = model.params.view, b = h.model.params.view;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(Math.abs(a[i]) * 2 ** -11 + 2 ** -24);
  });

  it("GGUF: F32 round trip is exact (Q/K permuted to llama.cpp's RoPE layout and back), the tokenizer is embedded", async () => {
    const { k, model, logits, dir } = await setup();
    const tok = await smallTokenizer();
    const path = join(dir, "model.gguf");
    await saveModel(model, path, { format: "gguf", tokenizer: tok });
    const file = readGguf(new Uint8Array(readFileSync(path)));
    expect(file.metadata.get("general.architecture")).toEqual({ type: "string", value: "llama" });
    expect(file.metadata.get("tokenizer.ggml.model")).toEqual({ type: "string", value: "gpt2" });
    expect(file.tensors.map((t) => t.name)).toContain("blk.1.attn_k.weight");
    const loaded = await loadModel(path, { kernels: k });
    expect(loaded.model.params.view).toEqual(model.params.view);
    loaded.model.forward(ids);
    expect(loaded.model.logits()).toEqual(logits);
    expect(loaded.tokenizer!.encode("a dog met the cat")).toEqual(tok.encode("a dog met the cat"));
    expect(loaded.tokenizer!.decode(tok.encode("a dog met the cat"))).toBe("a dog met the cat");
  });

  it("truncated or foreign files are rejected with TinyLMError, and a failed save keeps the previous file", async () => {
    const { k, model, dir } = await setup();
    const path = join(dir, "m.gguf");
    await saveModel(model, path, { format: "gguf" });
    const good = readFileSync(path);
    for (const bad of [good.subarray(0, good.length - 100), good.subarray(0, 40), Buffer.from("not a model at all")]) {
      writeFileSync(join(dir, "bad.gguf"), bad);
      await expect(loadModel(join(dir, "bad.gguf"), { kernels: k })).rejects.toThrow(TinyLMError);
    }
    const hf = join(dir, "hf");
    await saveModel(model, hf);
    const st = readFileSync(join(hf, "model.safetensors"));
    writeFileSync(join(hf, "model.safetensors"), st.subarray(0, st.length - 8));
    await expect(loadModel(hf, { kernels: k })).rejects.toThrow(TinyLMError);
    await expect(loadModel(join(dir, "missing"), { kernels: k })).rejects.toThrow(/does not exist/);
    // Saving into a path whose parent is a file fails before anything is replaced.
    await expect(saveModel(model, join(path, "x.gguf"), { format: "gguf" })).rejects.toThrow(TinyLMError);
    expect(readFileSync(path)).toEqual(good);
  });

  it("a training state written to disk resumes with the same losses", async () => {
    const { k, dir } = await setup();
    const tokens = Int32Array.from({ length: 2000 }, (_, i) => (i * 7) % 300);
    const data = { train: tokens.subarray(0, 1600), val: tokens.subarray(1600) };
    const opts = { steps: 4, batchSize: 2, evalEvery: 0, seed: 3 };
    const straight: number[] = [];
    await pretrain(Llama.init(k, config, { seed: 1 }), data, { ...opts, onStep: (l) => straight.push(l.loss) });
    const path = join(dir, "state.safetensors");
    // The same 4-step run (same schedule), checkpointed after step 2; the file is all the resumed run gets.
    await pretrain(Llama.init(k, config, { seed: 1 }), data, { ...opts, checkpointEvery: 2, onCheckpoint: async (s) => { if (s.step === 2) await saveTrainState(path, config, s); } });
    const { config: saved, state } = await loadTrainState(path);
    expect(saved).toEqual(config);
    const resumed: number[] = [];
    await pretrain(new Llama(k, saved), data, { ...opts, onStep: (l) => resumed.push(l.loss) }, state);
    expect(resumed).toEqual(straight.slice(2));
  });
});
