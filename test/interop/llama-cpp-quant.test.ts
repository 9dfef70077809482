// Quantized inference against an implementation nobody here wrote: llama.cpp (node-llama-cpp's prebuilt binary,
// 1 thread, flash attention off, F32 KV cache) loads our Q8_0 / Q4_0 / Q4_1 GGUF files and must tokenize, continue greedily
// and score the next token as tinylm does from the same file. llama.cpp quantizes each matmul's input activations to
// Q8_0 blocks (round half to even on x86) and multiplies blocks in integers; tinylm does the same, so only the order of
// f32 additions differs. Weights are random but large (std 0.3) so the layers, not the embeddings, decide the tokens;
// norm gains are random too (with gains of 1 a 4-bit embedding row lands activations on exact Q8 rounding ties, which
// two correct implementations may break differently).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { loadModel, saveModel } from "../../src/node/checkpoint.js";
import { Llama } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/config.js";
import { weightTypes } from "../../src/quant/model.js";
import { lcg } from "../quant/reference.js";
import { compareWithLlamaCpp, tinyTokenizer } from "./llama-cpp-compare.js";

describe("llama.cpp runs our quantized GGUF files", () => {
  for (const type of ["Q8_0", "Q4_0", "Q4_1"] as const) {
    it(`${type}: same token ids, same greedy continuation, same next-token log-probabilities`, async () => {
      const tok = await tinyTokenizer();
      const k = await loadKernelsFromFiles("simd");
      const config = llamaConfig({ vocabSize: tok.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 96, contextLength: 64, tiedEmbeddings: false });
      const f32 = Llama.init(k, config, { seed: 2, initStd: 0.3 });
      for (const t of f32.tensors) if (t.shape.length === 1) f32.param(t.name).set(lcg(t.size, 9 + t.offset, 0.5, 1.5));
      const path = join(mkdtempSync(join(tmpdir(), "tinylm-llamacpp-quant-")), `model-${type}.gguf`);
      await saveModel(f32, path, { format: "gguf", type, tokenizer: tok });
      f32.free();
      // tinylm reads the file back with its blocks as they are: every 2-D tensor is `type`, none dequantized.
      const { model } = await loadModel(path, { kernels: k });
      expect(new Set(weightTypes(model).values())).toEqual(new Set([type]));

      const diffs = await compareWithLlamaCpp(path, model, tok);
      model.free();
      // Measured (120 comparisons each): Q8_0 all within 1.5e-6, Q4_1 within 2.3e-6; Q4_0 115 within 1.7e-6, then 6e-3 … 7e-2 on the last
      // two steps of one prompt: from there on one activation rounds to the other side of a Q8 step in one of the two
      // (both break near-ties by f32 summation order) and the KV cache carries it. The greedy tokens still all agree.
      const exact = diffs.filter((x) => x.d < 1e-5).length;
      expect(diffs.length).toBeGreaterThanOrEqual(60);
      expect(exact / diffs.length, `log-prob differences: ${diffs.map((x) => x.d.toExponential(1)).join(" ")}`).toBeGreaterThanOrEqual(0.9);
      for (const x of diffs) expect(x.d, x.where).toBeLessThan(0.1);
    });
  }
});
