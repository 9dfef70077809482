// GGUF files quantized by llama.cpp itself: llama_model_quantize (the function behind the llama-quantize tool) from
// the libllama node-llama-cpp ships, called through Python's ctypes (llama_quantize.py). It checks tinylm's writer
// (a pure file must be llama-quantize --pure's, tensor for tensor and byte for byte) and its reader (llama.cpp's own
// default recipe, a mix of Q4_0, Q8_0 and F16, loads quantized and generates what llama.cpp generates from it).
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { modelToGguf } from "../../src/io/checkpoint.js";
import { readGguf } from "../../src/io/gguf.js";
import { loadModel, saveModel } from "../../src/node/checkpoint.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { weightTypes } from "../../src/quant/model.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";
import { lcg } from "./reference.js";

const libDir = join(import.meta.dirname, "../../node_modules/@node-llama-cpp/linux-x64/bins/linux-x64");
const ready = existsSync(join(libDir, "libllama.v0.4.0.so")) && (() => {
  try {
    execFileSync("python3", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const dir = mkdtempSync(join(tmpdir(), "tinylm-llama-quantize-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function llamaQuantize(src: string, dst: string, ftype: number, pure: boolean): Uint8Array {
  execFileSync("python3", [join(import.meta.dirname, "llama_quantize.py"), libDir, src, dst, String(ftype), ...(pure ? ["--pure"] : [])], { stdio: "ignore" });
  return new Uint8Array(readFileSync(dst));
}

// ffnDim 80: ffn_down's rows (80 values) cannot be blocks, so both sides must fall back to F16.
const config = llamaConfig({ vocabSize: 300, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 80, contextLength: 64, tiedEmbeddings: false });

async function f32Model(seed: number, vocabSize = config.vocabSize): Promise<Llama> {
  const k = await loadKernelsFromFiles("simd");
  const model = Llama.init(k, { ...config, vocabSize }, { seed, initStd: 0.3 });
  for (const t of model.tensors) if (t.shape.length === 1) model.param(t.name).set(lcg(t.size, seed + t.offset, 0.5, 1.5));
  return model;
}

describe.skipIf(!ready)("GGUF files quantized by llama.cpp's llama_model_quantize", () => {
  it("pure Q8_0 / Q4_0 / Q4_1: tinylm writes the same tensors, byte for byte, and the same metadata values", async () => {
    const model = await f32Model(4);
    const src = join(dir, "f32.gguf");
    await saveModel(model, src, { format: "gguf" });
    for (const [type, ftype] of [["Q8_0", 7], ["Q4_0", 2], ["Q4_1", 3]] as const) {
      const theirs = readGguf(llamaQuantize(src, join(dir, `pure-${type}.gguf`), ftype, true));
      const ours = readGguf(modelToGguf(model, { type }));
      // llama.cpp writes the tensors in its own order; the set, the types and the bytes must agree.
      expect(theirs.tensors.map((t) => t.name).sort()).toEqual(ours.tensors.map((t) => t.name).sort());
      for (const t of ours.tensors) {
        const u = theirs.tensors.find((x) => x.name === t.name)!;
        expect(u.type, t.name).toBe(t.type);
        expect(Buffer.compare(Buffer.from(u.data), Buffer.from(t.data)), `${type} ${t.name}`).toBe(0);
      }
      expect(ours.tensors.find((t) => t.name === "blk.0.ffn_down.weight")!.type).toBe("F16");
      for (const [key, value] of ours.metadata) expect(theirs.metadata.get(key), `${type} ${key}`).toEqual(value);
    }
    model.free();
  });

  it("llama.cpp's default Q4_0 recipe (Q4_0 + Q8_0 output + F16 fallback) loads quantized and generates llama.cpp's tokens", async () => {
    const text = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n".repeat(20);
    const tok = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train(text));
    const model = await f32Model(6, tok.vocabSize);
    const src = join(dir, "f32-tok.gguf"), dst = join(dir, "default-Q4_0.gguf");
    await saveModel(model, src, { format: "gguf", tokenizer: tok });
    model.free();
    llamaQuantize(src, dst, 2, false);
    const { model: q, tokenizer } = await loadModel(dst, { kernels: model.k });
    const types = weightTypes(q);
    expect(types.get("model.layers.0.self_attn.q_proj.weight")).toBe("Q4_0");
    expect(types.get("lm_head.weight")).toBe("Q8_0"); // llama.cpp's choice for output.weight when ne[0] % 256 ≠ 0
    expect(types.get("model.layers.1.mlp.down_proj.weight")).toBe("F16");
    expect(tokenizer).toBeDefined();

    const prompt = tok.encode("the dog sat on");
    const ours: number[] = [];
    for await (const t of q.generate(prompt, { maxTokens: 8, temperature: 0 })) ours.push(t);

    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
    const theirModel = await llama.loadModel({ modelPath: dst });
    const context = await theirModel.createContext({ contextSize: 64, threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" });
    try {
      const sequence = context.getSequence();
      const theirs: number[] = [];
      for await (const o of sequence.evaluateWithMetadata(prompt, {}, { temperature: 0 })) {
        theirs.push(o.token as number);
        if (theirs.length === 8) break;
      }
      expect(ours).toEqual(theirs);
    } finally {
      await context.dispose();
      await theirModel.dispose();
      q.free();
    }
  });
});
