// Packed SFT batches: several conversations per row, numbered by `segments`, so that each attends only to itself with
// its own positions. The defining property: a packed row's loss, logits and gradients equal those of the same
// conversations laid out one per row (the unpacked batch) — computed independently by the same model without segments.
import { describe, expect, it } from "vitest";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { arithmeticSplits, problemToChat } from "../../src/posttrain/arithmetic.js";
import { ChatTemplate } from "../../src/posttrain/chat.js";
import { prepareChatModel, sft, sftBatch, tokenizeSft } from "../../src/posttrain/sft.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

async function setup() {
  const k = await loadKernelsFromFiles("simd");
  const { train } = arithmeticSplits({ seed: 3, maxOperand: 99, ops: ["plus", "times"], train: 12, heldOut: 1 });
  const base = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 300, specialTokens: ["<|endoftext|>"] }).train(train.map((p) => `${p.prompt} ${p.answer}`)));
  const config = llamaConfig({ vocabSize: base.vocabSize, dim: 32, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 64, contextLength: 64 });
  // std 0.2: a random model whose attention is far from uniform, so leaking across conversations would show.
  const { model, tokenizer } = prepareChatModel(Llama.init(k, config, { seed: 2, initStd: 0.2 }), base);
  const chats = train.map(problemToChat);
  return { model, tokenizer, chats, sequences: tokenizeSft(chats, tokenizer, new ChatTemplate(), config.contextLength) };
}

function maxRel(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / Math.max(scale, 1e-12);
}

describe("packed SFT batches", () => {
  it("number the conversations of each row, mask the targets across a boundary, and give padding its own segment", async () => {
    const { sequences } = await setup();
    const lengths = sequences.map((s) => s.ids.length);
    const T = lengths[0] + lengths[1] + 2; // room for two conversations and a little padding
    const { batch, next } = sftBatch(sequences, 0, 1, T, true);
    expect(next).toBe(2);
    const n0 = lengths[0], n1 = lengths[1];
    const want = [...new Array(n0).fill(0), ...new Array(n1 - 1).fill(1), ...new Array(T - n0 - n1 + 1).fill(2)];
    expect(Array.from(batch.segments!)).toEqual(want);
    expect(batch.targets[n0 - 1]).toBe(-1);
    expect(sftBatch(sequences, 0, 2, T, false).batch.segments).toBeUndefined();
  });

  it("a packed row's loss, logits and gradients equal the unpacked batch of the same conversations", async () => {
    const { model, sequences } = await setup();
    const T = 60;
    const { batch: packed, next: count } = sftBatch(sequences, 0, 1, T, true);
    expect(count).toBeGreaterThanOrEqual(3);
    const { batch: single } = sftBatch(sequences, 0, count, T, false);
    const V = model.config.vocabSize;

    const loss = model.forward(packed.ids, { B: 1, T, targets: packed.targets, segments: packed.segments });
    const packedLogits = model.logits();
    model.zeroGrad();
    model.backward();
    const packedGrads = model.grads!.toArray();

    const want = model.forward(single.ids, { B: count, T, targets: single.targets });
    const logits = model.logits();
    model.zeroGrad();
    model.backward();
    expect(Math.abs(loss - want)).toBeLessThan(1e-5 * want);
    expect(maxRel(packedGrads, model.grads!.view)).toBeLessThan(1e-5);
    // Conversation i sits at its offset in the packed row and at 0 in row i; its last token is an input only there.
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const n = sequences[i].ids.length - 1;
      expect(maxRel(packedLogits.subarray(offset * V, (offset + n) * V), logits.subarray(i * T * V, (i * T + n) * V)), `conversation ${i}`).toBeLessThan(1e-5);
      offset += n + 1;
    }
    // What packing without segments computed: the later conversations see the earlier ones, and the loss moves.
    const leaky = model.forward(packed.ids, { B: 1, T, targets: packed.targets });
    expect(Math.abs(leaky - want)).toBeGreaterThan(1e-3 * want);
  });

  it("sft() passes the segments of packed batches to the model, and none without packing", async () => {
    const { model, tokenizer, chats } = await setup();
    const seen: (ArrayLike<number> | undefined)[] = [];
    const forward = model.forward.bind(model);
    model.forward = (ids, options) => {
      seen.push(options?.segments);
      return forward(ids, options);
    };
    await sft(model, tokenizer, chats, { steps: 2, batchSize: 2, seqLen: 48, pack: true });
    expect(seen).toHaveLength(2);
    for (const segments of seen) {
      expect(segments).toHaveLength(2 * 48);
      expect(Math.max(...Array.from(segments!))).toBeGreaterThan(0);
    }
    seen.length = 0;
    await sft(model, tokenizer, chats, { steps: 1, batchSize: 2 });
    expect(seen).toEqual([undefined]);
  });
});
