// The runtime-neutral entry (dist/src/index.js, `tinylm/web`) in a real browser: headless Chromium loads it with no
// bundler and no Node globals, fetches the kernels by URL, reads a GGUF written in Node, and must tokenize, decode and
// generate (and take three training steps) as Node does with the same file and the same (plain SIMD, bit-reproducible) kernels. Skips where Debian's
// Chromium or playwright-core is missing (CI installs neither unless .ci/run does) or dist/ is not built.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, describe, expect, it } from "vitest";
import { CHROMIUM, CHROMIUM_ARGS, browserMissing, serveIsolated } from "../../bench/browser.js";
import { modelToGguf } from "../../src/io/checkpoint.js";
import { generateAll } from "../../src/generate/generate.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { splitTokens } from "../../src/train/data.js";
import { pretrain } from "../../src/train/pretrain.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

const root = join(import.meta.dirname, "..", "..");
const built = existsSync(join(root, "dist", "src", "index.js")) && existsSync(join(root, "build", "simd.wasm"));
const why = (await browserMissing()) ?? (built ? undefined : "dist/ or build/ is not built (npm run build)");
const prompt = "the dog sat on the mat";

const CORPUS = "the cat sat on the mat. the dog sat on the log. a cat and a dog met on a mat.\n".repeat(20);
// Three AdamW steps, the same in both runtimes.
const TRAIN = { steps: 3, batchSize: 2, seqLen: 16, evalEvery: 0 };

// Plain browser JavaScript, served as a file: a function handed to page.evaluate would pass through vitest's transform,
// which rewrites import() into a helper the page does not have.
const PAGE_SCRIPT = `
const run = async () => {
  const t = await import("/dist/src/index.js");
  const k = await t.loadKernels({ simd: new URL("/build/simd.wasm", location.href), flavor: "simd" });
  const gguf = new Uint8Array(await (await fetch("/t/model.gguf")).arrayBuffer());
  const { model, tokenizer } = t.modelFromGguf(k, gguf);
  const ids = tokenizer.encode(${JSON.stringify(prompt)});
  const logits = model.decode(ids, model.newCache());
  const { ids: generated } = await t.generateAll(model, ids, { maxTokens: 12 });
  let errorCode = "none";
  try {
    model.decode([1 << 20], model.newCache());
  } catch (err) {
    errorCode = err instanceof t.TinyLMError ? err.code : "not a TinyLMError: " + String(err);
  }
  const losses = [];
  const trained = t.modelFromGguf(k, gguf).model;
  await t.pretrain(trained, t.splitTokens(Int32Array.from(tokenizer.encode(${JSON.stringify(CORPUS)}))), { ...${JSON.stringify(TRAIN)}, onStep: (log) => losses.push(log.loss) });
  return { hasProcess: typeof globalThis.process, flavor: k.flavor, ids, logits: Array.from(logits), generated,
    text: tokenizer.decode(generated), errorCode, losses };
};
window.result = run();
`;

interface PageResult {
  hasProcess: string;
  flavor: string;
  ids: number[];
  logits: number[];
  generated: number[];
  text: string;
  errorCode: string;
  losses: number[];
}

describe.skipIf(why !== undefined)("tinylm/web in headless Chromium", () => {
  const dir = mkdtempSync(join(tmpdir(), "tinylm-web-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("loads without Node, and tokenizes, decodes, generates and trains exactly as Node does", async () => {
    const tok = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train(CORPUS));
    const k = await loadKernelsFromFiles("simd");
    const config = llamaConfig({ vocabSize: tok.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 96, contextLength: 64 });
    const model = Llama.init(k, config, { seed: 2, initStd: 0.3 });
    writeFileSync(join(dir, "model.gguf"), modelToGguf(model, { tokenizer: tok }));
    writeFileSync(join(dir, "index.html"), `<!doctype html><title>tinylm</title><script type="module" src="/t/run.js"></script>`);
    writeFileSync(join(dir, "run.js"), PAGE_SCRIPT);
    const ids = tok.encode(prompt);
    const logits = model.decode(ids, model.newCache());
    const generated = (await generateAll(model, ids, { maxTokens: 12 })).ids;
    const losses: number[] = [];
    await pretrain(model, splitTokens(Int32Array.from(tok.encode(CORPUS))), { ...TRAIN, onStep: (log) => losses.push(log.loss) });
    model.free();

    const { chromium } = await import("playwright-core");
    const { server, origin } = await serveIsolated({ "/dist/": join(root, "dist"), "/build/": join(root, "build"), "/t/": dir });
    let browser: Browser | undefined;
    try {
      browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
      const page = await browser.newPage();
      await page.goto(`${origin}/t/index.html`);
      await page.waitForFunction(() => "result" in window, undefined, { timeout: 30_000 });
      const got = await page.evaluate(() => (window as unknown as { result: Promise<PageResult> }).result);
      expect(got.hasProcess).toBe("undefined");
      expect(got.flavor).toBe("simd");
      expect(got.ids).toEqual(ids);
      expect(got.generated).toEqual(generated);
      expect(got.text).toBe(tok.decode(generated));
      expect(got.errorCode).toBe("OUT_OF_RANGE");
      expect(losses).toHaveLength(3);
      expect(got.losses).toEqual(losses);
      // Same wasm, same inputs, no relaxed SIMD: every logit should be the same float in both runtimes.
      expect(Float32Array.from(got.logits)).toEqual(logits);
    } finally {
      await browser?.close();
      server.close();
    }
  });
});
