// Forward parity with an implementation nobody here wrote: llama.cpp loads our GGUF, tokenizes like our tokenizer, and
// continues a prompt greedily exactly as we do, with the same next-token probabilities. The weights are random but
// large (std 0.3): at the usual 0.02 every layer is close to the identity and the embeddings alone decide the next
// token, so a wrong RoPE layout or mask would still "match".
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { loadModel, saveModel } from "../../src/node/checkpoint.js";
import { Llama } from "../../src/nn/llama.js";
import { llamaConfig } from "../../src/nn/config.js";
import { compareWithLlamaCpp, tinyTokenizer } from "./llama-cpp-compare.js";

describe("llama.cpp runs our GGUF files", () => {
  for (const type of ["F32", "F16"] as const) {
    it(`${type}: same token ids, same greedy continuation, same next-token probabilities`, async () => {
      const tok = await tinyTokenizer();
      const k = await loadKernelsFromFiles("simd");
      const config = llamaConfig({ vocabSize: tok.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 96, contextLength: 64 });
      const path = join(mkdtempSync(join(tmpdir(), "tinylm-llamacpp-")), `model-${type}.gguf`);
      await saveModel(Llama.init(k, config, { seed: 2, initStd: 0.3 }), path, { format: "gguf", type, tokenizer: tok });
      // Compare against the model as stored (F16 rounds the weights), loaded back from the same file.
      const { model } = await loadModel(path, { kernels: k });
      const diffs = await compareWithLlamaCpp(path, model, tok);
      expect(diffs.length).toBeGreaterThanOrEqual(24);
      // F32: measured worst 1.5e-5. F16: llama.cpp also rounds each matmul's activations to f16 (ggml's vec_dot_type
      // for F16 weights), which we do not, so the log-probabilities drift by up to ~2e-2.
      for (const x of diffs) expect(x.d, x.where).toBeLessThan(type === "F32" ? 1e-4 : 5e-2);
    });
  }
});
