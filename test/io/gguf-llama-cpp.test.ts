import { afterAll, describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { ggufNumber, ggufString, readGguf, writeGguf } from "../../src/io/gguf.js";
import { bundleAvailable, bundleBlob, bundleCleanup, bundleList } from "./llama-cpp-bundle.js";

// Real GGUF files written by llama.cpp's own tools: the ggml-vocab-*.gguf test vocabularies (gguf-py, --vocab-only)
// that node-llama-cpp ships inside llama.cpp's git bundle. They are read straight out of the bundle with git, so
// nothing is copied into this repository; without node-llama-cpp or git the test is skipped.
afterAll(bundleCleanup);
const blob = bundleBlob;
const vocabFiles = () => bundleList("models").filter((f) => /ggml-vocab-.*\.gguf$/.test(f));

describe.skipIf(!bundleAvailable)("GGUF files written by llama.cpp's tools (ggml-vocab-*.gguf from node-llama-cpp's bundle)", () => {
  it("reads all of them, and writing what was read reproduces each file byte for byte", () => {
    const files = vocabFiles();
    expect(files.length).toBeGreaterThanOrEqual(19);
    for (const path of files) {
      const bytes = blob(path);
      const f = readGguf(bytes);
      expect(f.tensors, path).toEqual([]);
      expect(ggufString(f.metadata, "general.architecture"), path).toBeTypeOf("string");
      const again = writeGguf(f.metadata, f.tensors);
      // Our writer always writes version 3; a version-2 file (aquila) differs in that one byte.
      if (f.version === 2) again[4] = 2;
      expect(again.length, path).toBe(bytes.length);
      if (Buffer.compare(again, bytes) !== 0) expect(again.findIndex((b, i) => b !== bytes[i]), `${path}: first differing byte`).toBe(-1);
    }
  });

  it("reads the llama-2 SentencePiece vocabulary as ../shared/GGUF.md describes it", () => {
    const f = readGguf(blob("models/ggml-vocab-llama-spm.gguf"));
    const m = f.metadata;
    expect(ggufString(m, "general.architecture")).toBe("llama");
    expect(ggufString(m, "tokenizer.ggml.model")).toBe("llama");
    const tokens = m.get("tokenizer.ggml.tokens");
    expect(tokens?.type === "array" && tokens.elementType).toBe("string");
    const t = tokens!.value as string[];
    expect(t.length).toBe(32000);
    // "Hello world" → 15043 3186, " Hello world" → 29871 15043 3186 (the .gguf.out test vectors).
    expect([t[15043], t[3186], t[29871]]).toEqual(["▁Hello", "▁world", "▁"]);
    expect(t.slice(3, 259)).toEqual(Array.from({ length: 256 }, (_, i) => `<0x${i.toString(16).toUpperCase().padStart(2, "0")}>`));
    const types = m.get("tokenizer.ggml.token_type");
    expect(types).toMatchObject({ type: "array", elementType: "i32" });
    expect([...(types!.value as Int32Array).slice(0, 4)]).toEqual([2, 3, 3, 6]); // <unk> unknown, <s> </s> control, <0x00> byte
    expect(m.get("tokenizer.ggml.scores")).toMatchObject({ type: "array", elementType: "f32" });
    expect((m.get("tokenizer.ggml.scores")!.value as Float32Array).length).toBe(32000);
    expect([ggufNumber(m, "tokenizer.ggml.bos_token_id"), ggufNumber(m, "tokenizer.ggml.eos_token_id")]).toEqual([1, 2]);
  });

  it("rejects every truncation of a real file with BAD_FILE", () => {
    const bytes = blob("models/ggml-vocab-llama-spm.gguf");
    for (let cut = 0; cut < bytes.length; cut += cut < 4096 ? 61 : 24_989) {
      let err: unknown;
      try {
        readGguf(bytes.subarray(0, cut));
      } catch (e) {
        err = e;
      }
      expect(err instanceof TinyLMError && err.code === "BAD_FILE", `cut at ${cut}`).toBe(true);
    }
  });
});
