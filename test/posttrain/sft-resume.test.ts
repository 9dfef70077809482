// SFT stops and resumes exactly: a run stopped at step 4 of 8 (its state taken from onCheckpoint, and the same state
// written to disk and read back) and resumed into a freshly initialised model logs the same losses, token accuracies
// and evaluations as a run that never stopped, and ends with the same parameters, bit for bit. Ten conversations in
// batches of 4 wrap around the data mid-batch, so the reshuffled order and the cursor are part of what must survive.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { sftStateFromBytes, sftStateToBytes, trainStateFromBytes, trainStateToBytes } from "../../src/io/checkpoint.js";
import { readSafetensors, writeSafetensors } from "../../src/io/safetensors.js";
import type { Kernels } from "../../src/kernels/module.js";
import { type LlamaConfig, llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadSftState, loadTrainState, saveSftState } from "../../src/node/checkpoint.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { arithmeticSplits, problemToChat } from "../../src/posttrain/arithmetic.js";
import type { ChatExample } from "../../src/posttrain/chat.js";
import { type EvalItem, type SftOptions, type SftState, type SftStepLog, prepareChatModel, sft } from "../../src/posttrain/sft.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";
import { pretrain } from "../../src/train/pretrain.js";

let k: Kernels;
let base: Tokenizer;
let train: ChatExample[];
let held: EvalItem[];
const dir = mkdtempSync(join(tmpdir(), "tinylm-sft-resume-"));
const baseConfig = (vocabSize: number, dim = 64) => llamaConfig({ vocabSize, dim, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 176, contextLength: 32 });

beforeAll(async () => {
  k = await loadKernelsFromFiles("simd");
  const splits = arithmeticSplits({ seed: 4, maxOperand: 9, ops: ["plus"], train: 10, heldOut: 3, wordsFraction: 0 });
  base = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train(
    [...splits.train, ...splits.heldOut].map((p) => `${p.prompt} ${p.answer}`)));
  train = splits.train.map(problemToChat);
  held = splits.heldOut.map((p) => ({ prompt: p.prompt, answer: p.answer }));
});

// A chat-ready model; `seed` only matters for runs that do not resume (a resumed run overwrites every parameter).
function chatModel(seed: number, dim = 64): { model: Llama; tokenizer: Tokenizer } {
  return prepareChatModel(Llama.init(k, baseConfig(base.vocabSize, dim), { seed }), base);
}

// Runs sft until its checkpoint at `stopAt`, then stops it as an interrupted run would stop (through its signal).
async function stoppedAt(stopAt: number, options: SftOptions): Promise<SftState> {
  const { model, tokenizer } = chatModel(1);
  const abort = new AbortController();
  let saved: SftState | undefined;
  await expect(sft(model, tokenizer, train, { ...options, checkpointEvery: stopAt, signal: abort.signal,
    onCheckpoint: (s) => { saved = s; abort.abort(); } })).rejects.toThrow(/aborted/);
  expect(saved?.step).toBe(stopAt);
  return saved!;
}

const sameBits = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe("sft resumes exactly", () => {
  for (const pack of [false, true]) {
    it(`${pack ? "packed rows" : "one conversation per row"}: stopped at step 4 of 8 and resumed (from memory and from the file) = never stopped`, async () => {
      const options: SftOptions = { steps: 8, batchSize: 4, lr: 3e-3, warmupSteps: 2, seed: 5, pack, seqLen: pack ? 32 : undefined, eval: held, evalEvery: 4 };
      const straightLogs: SftStepLog[] = [];
      const straight = chatModel(1);
      const whole = await sft(straight.model, straight.tokenizer, train, { ...options, onStep: (s) => straightLogs.push(s) });
      expect(straightLogs.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

      const saved = await stoppedAt(4, options);
      expect(saved.history.train).toEqual(straightLogs.slice(0, 4));
      const path = join(dir, `state-${pack}.safetensors`);
      await saveSftState(path, straight.model.config, saved);
      const fromFile = await loadSftState(path);
      expect(fromFile.config).toEqual(straight.model.config);

      for (const state of [saved, fromFile.state]) {
        const { model, tokenizer } = chatModel(42);
        const logs: SftStepLog[] = [];
        const rest = await sft(model, tokenizer, train, { ...options, onStep: (s) => logs.push(s) }, state);
        // Every field of every step's log (loss, token accuracy, tokens seen, lr, gradient norm) is the same number.
        expect(logs).toEqual(straightLogs.slice(4));
        expect(rest.train).toEqual(straightLogs);
        expect(rest.eval).toEqual(whole.eval);
        expect(rest.state.step).toBe(8);
        expect(sameBits(model.params.view, straight.model.params.view), "final parameters").toBe(true);
        expect(sameBits(rest.state.optimizer!.m, whole.state.optimizer!.m) && sameBits(rest.state.optimizer!.v, whole.state.optimizer!.v), "AdamW moments").toBe(true);
        expect(rest.state.order).toEqual(whole.state.order);
        expect(rest.state.rng).toEqual(whole.state.rng);
      }
      expect(whole.eval.map((e) => e.step)).toEqual([4, 8]);
      expect(straightLogs[7].loss).toBeLessThan(straightLogs[0].loss);

      // The data position matters: the same state one conversation further on trains on other rows (so the
      // comparisons above would catch a resume that lost the cursor).
      const { model, tokenizer } = chatModel(42);
      const shifted: SftStepLog[] = [];
      await sft(model, tokenizer, train, { ...options, onStep: (s) => shifted.push(s) }, { ...saved, cursor: (saved.cursor + 1) % train.length });
      expect(shifted.map((s) => s.loss)).not.toEqual(straightLogs.slice(4).map((s) => s.loss));
    }, 60_000);
  }

  it("a final state resumes with a larger `steps` to train further", async () => {
    const { model, tokenizer } = chatModel(1);
    const first = await sft(model, tokenizer, train, { steps: 3, batchSize: 4, lr: 3e-3 });
    const logs: SftStepLog[] = [];
    const more = await sft(chatModel(7).model, tokenizer, train, { steps: 5, batchSize: 4, lr: 3e-3, onStep: (s) => logs.push(s) }, first.state);
    expect(logs.map((s) => s.step)).toEqual([4, 5]);
    expect(logs[0].tokensSeen).toBeGreaterThan(first.train[2].tokensSeen);
    expect(more.train.slice(0, 3)).toEqual(first.train);
  });
});

describe("bad SFT states are refused with a sentence naming the problem", () => {
  let saved: SftState;
  let config: LlamaConfig;
  beforeAll(async () => {
    saved = await stoppedAt(2, { steps: 4, batchSize: 4, lr: 3e-3 });
    config = chatModel(1).model.config;
  });
  const resumeWith = (state: SftState, examples = train, dim = 64) => {
    const { model, tokenizer } = chatModel(3, dim);
    return sft(model, tokenizer, examples, { steps: 4, batchSize: 4, lr: 3e-3 }, state);
  };

  it("a state from another model, other data or past the last step", async () => {
    await expect(resumeWith(saved, train, 32)).rejects.toThrow(/the state holds \d+ parameters, this model has \d+: it was saved from another model/);
    await expect(resumeWith(saved, train.slice(1))).rejects.toThrow("sft: the state was saved for 10 training sequences, these examples give 9");
    const other = [...train.slice(1), train[0]];
    await expect(resumeWith(saved, other)).rejects.toThrow(/sft: the state was saved for other training data \(fingerprint [0-9a-f]{8}/);
    await expect(resumeWith({ ...saved, order: saved.order.map(() => 0) })).rejects.toThrow("not a permutation");
    await expect(resumeWith({ ...saved, cursor: 10 })).rejects.toThrow("cursor 10 is outside the 10 training sequences");
    const { model, tokenizer } = chatModel(3);
    await expect(sft(model, tokenizer, train, { steps: 1 }, saved)).rejects.toThrow("sft: the state is at step 2, past steps = 1");
    // A rejected state leaves the model as it was.
    const before = model.params.toArray();
    await expect(sft(model, tokenizer, train, { steps: 4 }, { ...saved, rng: [0, 0, 0, 0] })).rejects.toThrow(TinyLMError);
    expect(sameBits(model.params.view, before)).toBe(true);
  });

  it("a pretraining state given to sft, and an SFT state given to pretrain", async () => {
    const pretrained = await pretrain(Llama.init(k, config, { seed: 1 }), { train: Int32Array.from({ length: 400 }, (_, i) => i % 50), val: new Int32Array(40) },
      { steps: 1, batchSize: 1, seqLen: 16, evalEvery: 0 });
    const { model, tokenizer } = chatModel(3);
    await expect(sft(model, tokenizer, train, { steps: 4 }, pretrained as unknown as SftState)).rejects.toThrow(/no data order: give an SFT state .*not a pretraining one/);
    await expect(pretrain(model, { train: new Int32Array(400), val: new Int32Array(40) }, { steps: 4, seqLen: 16 }, saved as never))
      .rejects.toThrow(/give a pretraining state, not an SFT one/);

    // The files say what they are.
    const pretrainFile = join(dir, "pretrain-state.safetensors"), sftFile = join(dir, "sft-state.safetensors");
    writeFileSync(pretrainFile, trainStateToBytes(config, pretrained));
    await saveSftState(sftFile, config, saved);
    await expect(loadSftState(pretrainFile)).rejects.toThrow(`${pretrainFile}: this file is a pretraining state (what pretrain / \`tinylm pretrain\` checkpoint), not an SFT state`);
    await expect(loadTrainState(sftFile)).rejects.toThrow(`${sftFile}: this file is an SFT state (what sft / \`tinylm sft --checkpoint-every\` checkpoint), not a pretraining state`);
    expect(() => trainStateFromBytes(sftStateToBytes(config, saved))).toThrow(TinyLMError);
  });

  it("truncated, foreign and corrupt files", async () => {
    const bytes = sftStateToBytes(config, saved);
    expect(sftStateFromBytes(bytes).state.order).toEqual(saved.order);
    expect(() => sftStateFromBytes(bytes.subarray(0, bytes.length - 10))).toThrow(TinyLMError);
    expect(() => sftStateFromBytes(writeSafetensors(new Map(), { format: "something else" }))).toThrow("not a tinylm training state");
    // Rewrites one metadata field (or tensor) of a good file.
    const edit = (change: (meta: Record<string, unknown>, file: ReturnType<typeof readSafetensors>) => void) => {
      const file = readSafetensors(bytes);
      const meta = JSON.parse(file.metadata.state);
      change(meta, file);
      return () => sftStateFromBytes(writeSafetensors(file.tensors, { ...file.metadata, state: JSON.stringify(meta) }));
    };
    expect(edit((m) => { m.config = { ...config, vocabSize: config.vocabSize + 1 }; })).toThrow(/params tensor is F32 \[\d+\], not F32 \[\d+\] \(the parameter count of its config\)/);
    expect(edit((m) => { m.config = { ...config, dim: 0 }; })).toThrow(/model config is invalid: config.dim must be a positive integer/);
    expect(edit((m) => { m.step = -1; })).toThrow("step and AdamW step must be non-negative integers");
    expect(edit((m) => { m.rng = [0, 0, 0, 0]; })).toThrow("generator state is not four 32-bit words");
    expect(edit((m) => { m.cursor = "3"; })).toThrow("cursor, tokensSeen or dataHash is missing");
    expect(edit((m) => { delete m.history; })).toThrow("has no history (train, eval)");
    expect(edit((_, f) => { f.tensors.delete("order"); })).toThrow("has no I32 order tensor");
    expect(edit((_, f) => { f.tensors.delete("adamw.v"); })).toThrow("only one of the AdamW moments");
    expect(edit((_, f) => { f.metadata.stage = "ppo"; })).toThrow('unknown stage "ppo"');
    const notJson = readSafetensors(bytes);
    expect(() => sftStateFromBytes(writeSafetensors(notJson.tensors, { ...notJson.metadata, state: "{" }))).toThrow("not valid JSON");
  });
});
