import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { arithmeticSplits, isCorrect, numberToWords } from "../../src/posttrain/arithmetic.js";
import { CHAT_TOKENS, ChatTemplate, DEFAULT_CHAT_TEMPLATE, addSpecialTokens } from "../../src/posttrain/chat.js";
import { rankingPairs, readPreferenceJsonl, readSftJsonl } from "../../src/posttrain/jsonl.js";
import { prepareChatModel, sftBatch, tokenizeSft } from "../../src/posttrain/sft.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";
import { errorOf } from "../helpers.js";

async function tokenizer(): Promise<Tokenizer> {
  const lines = ["What is 17 plus 25? 42", "What is seventeen minus three? 14", "the cat sat on the mat"];
  return Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 280, specialTokens: ["<|endoftext|>"] }).train(lines));
}

describe("the arithmetic task", () => {
  it("writes numbers in words", () => {
    expect([0, 7, 13, 20, 25, 40, 99].map(numberToWords)).toEqual(["zero", "seven", "thirteen", "twenty", "twenty-five", "forty", "ninety-nine"]);
    expect(() => numberToWords(100)).toThrow(TinyLMError);
  });

  it("train and held-out splits share no problem, answers are right, the same seed gives the same splits", () => {
    const s = arithmeticSplits({ seed: 3, train: 600, heldOut: 200, maxOperand: 20, ops: ["plus", "minus", "times"] });
    expect(s.train).toHaveLength(600);
    expect(s.heldOut).toHaveLength(200);
    const key = (p: { a: number; op: string; b: number }) => `${p.a} ${p.op} ${p.b}`;
    const train = new Set(s.train.map(key));
    expect(train.size).toBe(600);
    expect(s.heldOut.filter((p) => train.has(key(p)))).toEqual([]);
    for (const p of [...s.train, ...s.heldOut]) {
      const want = p.op === "plus" ? p.a + p.b : p.op === "minus" ? p.a - p.b : p.a * p.b;
      expect(Number(p.answer)).toBe(want);
      expect(want).toBeGreaterThanOrEqual(0);
      expect(p.prompt).toMatch(/^What is ([a-z-]+|\d+) (plus|minus|times) ([a-z-]+|\d+)\?$/);
    }
    const inWords = s.train.filter((p) => /What is [a-z]/.test(p.prompt)).length / s.train.length;
    expect(inWords).toBeGreaterThan(0.4);
    expect(inWords).toBeLessThan(0.6);
    expect(arithmeticSplits({ seed: 3, train: 600, heldOut: 200, maxOperand: 20, ops: ["plus", "minus", "times"] })).toEqual(s);
    expect(() => arithmeticSplits({ maxOperand: 3, train: 100 })).toThrow(/distinct/);
  });

  it("checks answers exactly", () => {
    expect(isCorrect(" 42", "42")).toBe(true);
    expect(isCorrect("42.", "42")).toBe(true);
    expect(isCorrect("42 apples", "42")).toBe(false);
    expect(isCorrect("4", "42")).toBe(false);
  });
});

describe("JSONL readers", () => {
  it("read prompt/completion and messages lines, skipping blank lines", () => {
    const text = `{"prompt": "What is 2 plus 3?", "completion": "5"}\n\n{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}\n`;
    const ex = readSftJsonl(text);
    expect(ex).toHaveLength(2);
    expect(ex[0]).toEqual({ messages: [{ role: "user", content: "What is 2 plus 3?" }, { role: "assistant", content: "5" }], line: 1 });
    expect(ex[1].line).toBe(3);
    expect(ex[1].messages.map((m) => m.role)).toEqual(["system", "user", "assistant"]);
    expect(readSftJsonl(text.split("\n"))).toEqual(ex);
  });

  it("name the line of a malformed SFT record", () => {
    const good = `{"prompt": "a", "completion": "b"}`;
    const cases: [string, RegExp][] = [
      [`${good}\n{"prompt": "a"}`, /^line 2: missing "completion"/],
      [`${good}\n${good}\n{"prompt": "a", "completion": "  "}`, /^line 3: "completion" is empty/],
      [`{"prompt": "a", "completion": 5}`, /^line 1: "completion" must be a string/],
      [`${good}\n{"prompt": "a", "completion": "b"`, /^line 2: not valid JSON/],
      [`[1, 2]`, /^line 1: expected a JSON object/],
      [`{"messages": [{"role": "robot", "content": "x"}]}`, /^line 1: messages\[0\]\.role/],
      [`{"messages": [{"role": "user", "content": "x"}]}`, /^line 1: the conversation has no assistant message/],
      [`{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": ""}]}`, /^line 1: messages\[1\] is an empty assistant response/],
      ["\n\n", /no examples/],
    ];
    for (const [text, message] of cases) {
      const e = errorOf(() => readSftJsonl(text));
      expect(e.code).toBe("BAD_FILE");
      expect(e.message).toMatch(message);
    }
  });

  it("read rankings and pairs, and reject a ranking that is not a permutation, naming the line", () => {
    const text = [
      `{"prompt": "What is 2 plus 2?", "responses": ["5", "4", "four"], "ranking": [1, 2, 0]}`,
      `{"prompt": "What is 1 plus 1?", "chosen": "2", "rejected": "3"}`,
    ].join("\n");
    const r = readPreferenceJsonl(text);
    expect(r[0]).toEqual({ prompt: "What is 2 plus 2?", responses: ["5", "4", "four"], ranking: [1, 2, 0], line: 1 });
    expect(r[1]).toEqual({ prompt: "What is 1 plus 1?", responses: ["2", "3"], ranking: [0, 1], line: 2 });
    expect(rankingPairs(r[0])).toEqual([[1, 2], [1, 0], [2, 0]]);
    const bad: [string, RegExp][] = [
      [`${text}\n{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 0]}`, /^line 3: "ranking" must be a permutation of 0…1/],
      [`{"prompt": "p", "responses": ["a", "b", "c"], "ranking": [0, 1]}`, /^line 1: "ranking" must be a permutation/],
      [`{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 2]}`, /^line 1: "ranking" must be a permutation/],
      [`{"prompt": "p", "responses": ["a"], "ranking": [0]}`, /^line 1: "responses" must be an array of at least 2/],
      [`{"prompt": "p", "responses": ["a", ""], "ranking": [0, 1]}`, /^line 1: responses\[1\] must be a non-empty string/],
      [`{"prompt": "p", "chosen": "a"}`, /^line 1: missing "rejected"/],
      [`{"chosen": "a", "rejected": "b"}`, /^line 1: missing "prompt"/],
    ];
    for (const [t, message] of bad) expect(errorOf(() => readPreferenceJsonl(t)).message).toMatch(message);
  });
});

describe("chat template", () => {
  it("renders like transformers' apply_chat_template would, and trains on the answer and its end marker only", async () => {
    const template = new ChatTemplate();
    const messages = [{ role: "user" as const, content: "What is 2 plus 3?" }, { role: "assistant" as const, content: "5" }];
    expect(template.render(messages)).toBe("<|user|>What is 2 plus 3?<|end|><|assistant|>5<|end|>");
    expect(template.render(messages.slice(0, 1), { addGenerationPrompt: true })).toBe("<|user|>What is 2 plus 3?<|end|><|assistant|>");
    expect(template.specialTokens()).toEqual(["<|system|>", "<|end|>", "<|user|>", "<|assistant|>"]);

    const base = await tokenizer();
    const { tokenizer: tok, added } = addSpecialTokens(base, CHAT_TOKENS);
    expect(added).toBe(4);
    expect(tok.vocabSize).toBe(base.vocabSize + 4);
    expect(addSpecialTokens(tok, CHAT_TOKENS).added).toBe(0);
    const { ids, train } = template.encode(tok, messages);
    expect(tok.decode(ids)).toBe(template.render(messages));
    const learned = ids.filter((_, i) => train[i]);
    expect(tok.decode(learned)).toBe("5<|end|>");
    // A marker typed by the user is plain text, not a control token.
    const injected = template.encode(tok, [{ role: "user", content: "<|end|>" }]).ids;
    expect(injected.filter((id) => id === tok.tokenToId("<|end|>"))).toHaveLength(1);
    expect(() => new ChatTemplate("{{ bos_token }}{% for m in msgs %}{% endfor %}")).toThrow(/only templates/);
    expect(new ChatTemplate(DEFAULT_CHAT_TEMPLATE.replace("<|end|>", "\n")).render(messages)).toBe("<|user|>What is 2 plus 3?\n<|assistant|>5\n");
  });

  it("prepareChatModel grows the vocabulary with mean-initialised rows; old rows and other tensors are unchanged", async () => {
    const k = await loadKernelsFromFiles("simd");
    const base = await tokenizer();
    const model = Llama.init(k, llamaConfig({ vocabSize: base.vocabSize, dim: 8, nLayers: 1, nHeads: 2, ffnDim: 16, contextLength: 16, tiedEmbeddings: false }), { seed: 2 });
    const { model: grown, tokenizer: tok } = prepareChatModel(model, base);
    const V = base.vocabSize, C = 8;
    expect(grown.config.vocabSize).toBe(V + 4);
    for (const name of ["model.embed_tokens.weight", "lm_head.weight"]) {
      const before = model.param(name).view, after = grown.param(name).view;
      expect(Array.from(after.subarray(0, V * C))).toEqual(Array.from(before));
      for (let c = 0; c < C; c++) {
        let mean = 0;
        for (let v = 0; v < V; v++) mean += before[v * C + c] / V;
        for (let v = V; v < V + 4; v++) expect(after[v * C + c]).toBeCloseTo(mean, 6);
      }
    }
    expect(Array.from(grown.param("model.layers.0.mlp.up_proj.weight").view)).toEqual(Array.from(model.param("model.layers.0.mlp.up_proj.weight").view));
    expect(tok.tokenToId("<|assistant|>")).toBe(V + 3);
  });

  it("tokenizeSft names the line of a prompt longer than the context; sftBatch masks prompts, padding and packed boundaries", async () => {
    const { tokenizer: tok } = addSpecialTokens(await tokenizer(), CHAT_TOKENS);
    const template = new ChatTemplate();
    const examples = readSftJsonl(`{"prompt": "What is 2 plus 3?", "completion": "5"}\n{"prompt": "${"the cat sat on the mat ".repeat(8)}", "completion": "ok"}`);
    expect(errorOf(() => tokenizeSft(examples, tok, template, 24)).message).toMatch(/^line 2: the prompt is \d+ tokens, longer than the model's context of 24/);
    const seqs = tokenizeSft(examples.slice(0, 1), tok, template, 24);
    const n = seqs[0].ids.length;
    const { batch } = sftBatch(seqs, 0, 1, n + 3, false);
    const answer = tok.encodeOrdinary("5")[0], end = tok.tokenToId("<|end|>")!;
    expect(Array.from(batch.targets)).toEqual([...new Array(n - 3).fill(-1), answer, end, -1, -1, -1, -1]);
    expect(Array.from(batch.ids.subarray(0, n - 1))).toEqual(seqs[0].ids.slice(0, n - 1));
    const packed = sftBatch([seqs[0], seqs[0]], 0, 1, 2 * n, true).batch;
    expect(Array.from(packed.targets).filter((t) => t !== -1)).toEqual([answer, end, answer, end]);
    expect(packed.targets[n - 1]).toBe(-1); // the next conversation's first token is not a target
    expect(Array.from(packed.ids.subarray(n, 2 * n - 1))).toEqual(seqs[0].ids.slice(0, n - 1));
  });
});
