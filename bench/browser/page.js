// The browser half of bench/browser.ts: tinylm (dist/src/index.js, the runtime-neutral entry) and llama.cpp compiled to
// wasm (@wllama/wllama) on the same GGUF file, in the same page of the same Chromium. bench/browser.ts drives it through
// window.bench; every function returns plain data (seconds, ids, text) so it crosses page.evaluate unchanged.
import { generateAll, loadKernels, modelFromGguf } from "/dist/src/index.js";
import { Wllama } from "/wllama/esm/index.js";

async function bytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function argmax(x) {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

let kernels;
let tiny; // { model, tokenizer, cache }
let wllama;

window.bench = {
  /** Loads the kernels (once) and the model from the GGUF at url; returns what ran and a generate() check. */
  async tinylmLoad(url) {
    kernels ??= await loadKernels({ simd: await bytes("/build/simd.wasm"), relaxed: await bytes("/build/relaxed.wasm") });
    tiny?.cache.free();
    tiny?.model.free();
    const { model, tokenizer } = modelFromGguf(kernels, await bytes(url));
    tiny = { model, tokenizer, cache: model.newCache() };
    // The runtime-neutral claim, exercised: tokenizer, generate() with its sampler and stop handling, decode to text.
    const prompt = tokenizer ? tokenizer.encode("The jury said") : [1, 2, 3];
    const result = await generateAll(model, prompt, { maxTokens: 8, temperature: 0.8, topK: 40, seed: 1 });
    return {
      flavor: kernels.flavor,
      crossOriginIsolated: globalThis.crossOriginIsolated,
      generated: result.ids.length,
      finishReason: result.finishReason,
      text: tokenizer ? tokenizer.decode(result.ids) : "",
    };
  },

  /** One round: PP = decode(prompt) into an empty cache; TG = tg greedy single-token decodes from an empty cache. */
  tinylmRound(prompt, tg) {
    const { model, cache } = tiny;
    cache.reset();
    let start = performance.now();
    model.decode(prompt, cache);
    const pp = (performance.now() - start) / 1000;
    cache.reset();
    start = performance.now();
    let id = prompt[0];
    for (let i = 0; i < tg; i++) id = argmax(model.decode([id], cache));
    const tgSeconds = (performance.now() - start) / 1000;
    return { pp, tg: tgSeconds };
  },

  /**
   * Loads the GGUF into wllama: one thread, no WebGPU, one sequence, a batch that holds the whole prompt; `overrides`
   * are llama.cpp load parameters (the bench sets flash_attn; true means llama.cpp's "auto").
   */
  async wllamaLoad(url, verbose, overrides = {}) {
    await wllama?.exit();
    wllama = new Wllama({ default: "/wllama/esm/wasm/wllama.wasm" }, { suppressNativeLog: !verbose, allowOffline: true });
    wllama.setCompat(null); // the compat path fetches a slower build from a CDN; Chromium needs none of it
    const blob = await (await fetch(url)).blob();
    await wllama.loadModel([blob], { n_threads: 1, n_ctx: 512, n_batch: 512, n_ubatch: 512, n_gpu_layers: 0, n_parallel: 1, ...overrides });
    return { version: Wllama.getLibllamaVersion(), multiThread: wllama.isMultithread() };
  },

  /**
   * One round, timed by llama.cpp's own server timings (prompt_ms, predicted_ms: decode + sampling, no messaging to
   * the worker) and by the page's clock around each call (which adds the worker round trip). wllama takes prompts as
   * text only (its glue reads "prompt" as a string), so it gets the text the token ids decode to and reports how many
   * tokens it made of it. Prompt caching is off so every round processes the whole prompt.
   */
  async wllamaRound(promptText, tgPromptText, tg) {
    let start = performance.now();
    const a = await wllama.createCompletion({ prompt: promptText, max_tokens: 1, temperature: 0, cache_prompt: false });
    const ppWall = (performance.now() - start) / 1000;
    start = performance.now();
    const b = await wllama.createCompletion({ prompt: tgPromptText, max_tokens: tg, temperature: 0, ignore_eos: true, cache_prompt: false });
    const tgWall = (performance.now() - start) / 1000;
    return {
      ppTokens: a.timings.prompt_n, pp: a.timings.prompt_ms / 1000, ppWall,
      tgTokens: b.timings.predicted_n, tg: b.timings.predicted_ms / 1000, tgWall,
    };
  },

  async unload() {
    tiny?.cache.free();
    tiny?.model.free();
    tiny = undefined;
    await wllama?.exit();
    wllama = undefined;
  },
};
window.benchReady = true;
