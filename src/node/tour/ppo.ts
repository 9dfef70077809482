import { generateAll } from "../../generate/generate.js";
import { Llama } from "../../nn/llama.js";
import { isCorrect } from "../../posttrain/arithmetic.js";
import { type ChatTemplate, END_OF_TURN } from "../../posttrain/chat.js";
import { ScalarHead } from "../../posttrain/head.js";
import { tokenLogProbs } from "../../posttrain/logprobs.js";
import { ppo } from "../../posttrain/ppo.js";
import type { RewardModel } from "../../posttrain/reward.js";
import { prepareChatModel } from "../../posttrain/sft.js";
import type { Tokenizer } from "../../tokenizer/tokenizer.js";
import type { Chapter, ReportRow, TourContext } from "./chapter.js";
import { rewardChapter } from "./reward.js";
import { postTrainingTask } from "./task.js";

// The seed's 强化学习: the SFT model answers the ranked questions, the reward model scores each answer, and PPO moves
// the model toward higher-scored answers while a per-token KL penalty to the SFT model holds it near what the reward
// model was trained on. The true checker (exact match) is never shown to PPO: only the reward model's opinion is.

// PPO's prompts are the reward chapter's ranked questions: its score is trustworthy there (96% right-before-wrong on
// fresh samples in quick mode) and close to chance on new questions (53%). So PPO practises where the judge is good,
// and the held-out table asks whether what it learned there carries over.
// Measured in quick mode: with the true checker as the reward, 200 steps raised held-out exact match 58% → 72%; that
// is about the most a reward model could give. With the reward model, lr 3e-5, 32 answers a step and a fixed β 0.1
// ended at 67–70% in six runs (seeds and prompt order varied); lr 1e-4 with 16 answers swung between 53% and 70%
// from one checkpoint to the next.
// In full mode even the true checker left held-out exact match at 79–82% from 81% (while it fixed the ranked questions
// themselves, 87% → 95%): the bigger model carries less of what it practises over to new questions.
// Earlier settings (the SFT questions as prompts, a reward model at 62% of held-out pairs trained on brevity rankings)
// climbed the score while exact match fell 45% → 28%: reward hacking.
const SETTINGS = { steps: 300, batchSize: 32, lr: 3e-5, klCoef: 0.1 };

interface Evaluation {
  name: string;
  accuracy: number;
  reward: number;
  /** Mean over questions of Σ_answer tokens (log π − log π_sft). */
  kl: number;
  /** Mean answer length in tokens, the end marker included when written. */
  length: number;
  /** Per question: the greedy answer, whether it is right, its reward-model score. */
  outputs: string[];
  correct: boolean[];
  scores: number[];
}

export const ppoChapter: Chapter = {
  id: "ppo",
  title: "PPO against the reward model",
  async run(ctx: TourContext): Promise<ReportRow[]> {
    const { log, artifacts } = ctx;
    if (artifacts.reward === undefined || artifacts.chat === undefined) await rewardChapter.run(ctx);
    const { model: sftModel, tokenizer: tok, template } = artifacts.chat!;
    const rm = artifacts.reward!;
    const s = SETTINGS;
    const { rl: train, heldOut } = postTrainingTask(ctx.quick);
    const endId = tok.tokenToId(END_OF_TURN)!;
    const question = new Map<string, string>();
    const prompts = train.map((p) => {
      const ids = template.encode(tok, [{ role: "user", content: p.prompt }], { addGenerationPrompt: true }).ids;
      question.set(ids.join(","), p.prompt);
      return ids;
    });
    const reward = (prompt: readonly number[], response: readonly number[]): number =>
      rm.score(question.get(prompt.join(","))!, [tok.decode(Array.from(response))])[0];

    log(`Policy: a copy of the SFT model, with a value head (zero at first) on the same body. Reference: the SFT model, frozen.`);
    log(`Each step samples ${s.batchSize} answers to training questions, scores each with the reward model, subtracts β·(log π − log π_sft)`);
    log(`per token (β = ${s.klCoef}) and 1 for an answer with no end marker, then takes 4 epochs of clipped PPO updates (GAE γ 1, λ 0.95).`);
    log(`The questions are the ${train.length} whose answers people ranked: PPO never sees their answers, only the reward model's opinion.`);
    const policy = new Llama(sftModel.k, sftModel.config, sftModel.k.f32(sftModel.params.view));
    const head = new ScalarHead(sftModel.k, sftModel.config.dim, { optimizer: { lr: 1e-2 } });
    const bar = ctx.progress("PPO", s.steps);
    const { train: history } = await ppo(policy, head, prompts, reward, {
      steps: s.steps, batchSize: s.batchSize, maxNewTokens: 6, endId, missingEndPenalty: 1, lr: s.lr, klCoef: s.klCoef, seed: 1,
      onStep: (st) => bar.update(st.step, `reward ${st.reward.toFixed(2)}  KL ${st.kl.toFixed(2)}  clip ${pct(st.clipFrac)}  β ${st.klCoef.toFixed(3)}  length ${st.responseLength.toFixed(1)}`),
    });
    bar.done();
    head.free();
    const first = history.slice(0, 5), last = history.slice(-5);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    log(`Training reward (mean of 5 steps): ${mean(first.map((h) => h.reward)).toFixed(2)} → ${mean(last.map((h) => h.reward)).toFixed(2)}; KL to SFT ${mean(last.map((h) => h.kl)).toFixed(2)} nats per answer.`);
    log();

    const items = heldOut.map((p) => ({ prompt: p.prompt, answer: p.answer }));
    const evaluate = (name: string, model: Llama) => evaluateModel(name, model, sftModel, tok, template, rm, endId, items);
    const rows: Evaluation[] = [];
    if (artifacts.model !== undefined) {
      const base = prepareChatModel(artifacts.model, tok, template).model;
      rows.push(await evaluate("base", base));
      if (base !== artifacts.model) base.free();
    }
    rows.push(await evaluate("SFT", sftModel));
    if (artifacts.dpo !== undefined) rows.push(await evaluate("DPO", artifacts.dpo));
    const ppoEval = await evaluate("PPO", policy);
    rows.push(ppoEval);
    policy.free();

    log(`On the ${items.length} held-out questions (greedy answers; KL = Σ over the answer of log π − log π_sft, mean over questions):`);
    const table = [["model", "exact match", "reward-model score", "KL to SFT", "answer tokens"],
      ...rows.map((r) => [r.name, pct(r.accuracy), r.reward.toFixed(2), r.kl.toFixed(2), r.length.toFixed(1)])];
    const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
    for (const r of table) log(`  ${r.map((cell, c) => cell.padEnd(widths[c])).join("  ")}`);
    const sftEval = rows.find((r) => r.name === "SFT")!;
    // Questions where PPO and SFT answer differently show what PPO changed; the first questions fill up to three.
    const order = items.map((_, i) => i).sort((a, b) => Number(ppoEval.outputs[b] !== sftEval.outputs[b]) - Number(ppoEval.outputs[a] !== sftEval.outputs[a]) || a - b);
    const shown = order.slice(0, 3);
    log(`Sample answers (${shown.map((i) => `${items[i].prompt} = ${items[i].answer}`).join("; ")}):`);
    for (const r of rows) log(`  ${r.name.padEnd(4)} ${shown.map((i) => `${r.correct[i] ? "✓" : "✗"} ${JSON.stringify(r.outputs[i])}`).join("   ")}`);
    // Paired over the same questions: how many answers PPO fixed and broke, and the reward change against its noise.
    const fixed = items.filter((_, i) => ppoEval.correct[i] && !sftEval.correct[i]).length;
    const broke = items.filter((_, i) => !ppoEval.correct[i] && sftEval.correct[i]).length;
    const diffs = items.map((_, i) => ppoEval.scores[i] - sftEval.scores[i]);
    const dMean = diffs.reduce((a, b) => a + b, 0) / diffs.length;
    const dSe = Math.sqrt(diffs.reduce((a, d) => a + (d - dMean) ** 2, 0) / (diffs.length - 1) / diffs.length);
    const significant = Math.abs(dMean) > 2 * dSe;
    log(`PPO vs SFT on the same questions: reward-model score ${dMean >= 0 ? "+" : ""}${dMean.toFixed(3)} (± ${(2 * dSe).toFixed(3)}, two standard errors; ` +
      `${significant ? "beyond" : "within"} noise), answers fixed ${fixed}, broken ${broke}.`);
    // McNemar's test on the paired right/wrong answers: the change is noise unless |fixed − broken| > 2·√(fixed + broken).
    const accuracyMoved = Math.abs(fixed - broke) > 2 * Math.sqrt(fixed + broke);
    log(`Exact match ${fixed >= broke ? "+" : ""}${(100 * (fixed - broke) / items.length).toFixed(1)} points, ${accuracyMoved ? "beyond" : "within"} noise (McNemar: |fixed − broken| against 2·√(fixed + broken)).`);
    if (dMean > 0 && broke > fixed) {
      log(`That is reward hacking: the reward model's score went up while true accuracy went down. On new questions the reward`);
      log(`model orders ${rewardPairs(ctx)} of answer pairs right, so part of what it rewards is not correctness. PPO climbs`);
      log(`exactly that score; the KL penalty bounds how far the policy moves (${ppoEval.kl.toFixed(2)} nats per answer), not in which direction.`);
    } else if (fixed > broke) {
      log(`PPO practised only on the ranked questions, where the reward model's judgement is sound, and ${accuracyMoved ? "what it learned there" : "some of what it learned"}`);
      log(`carried over to questions no stage saw${accuracyMoved ? "" : ` (a gain within the noise of ${items.length} questions)`}, at ${ppoEval.kl.toFixed(2)} nats per answer from the SFT model.`);
    } else {
      log(`PPO did not improve the held-out answers: what it learned on the ranked questions did not carry over.`);
    }
    if (!significant) {
      log(`The reward model's own score can hardly register right sums on held-out questions: between two numbers it orders`);
      log(`only ${numberPairs(ctx)} of held-out pairs right, so a fixed answer and a broken one look about the same to it.`);
    }
    return rows.map((r) => ({ metric: `${r.name}: exact match, reward`, value: `${pct(r.accuracy)}, ${r.reward.toFixed(2)}`, reference: `KL to SFT ${r.kl.toFixed(2)}` }));
  },
};

// Greedy answers of `model` to `items`: exact match, reward-model score, and log π − log π_sft summed over each answer.
async function evaluateModel(name: string, model: Llama, sft: Llama, tok: Tokenizer, template: ChatTemplate, rm: RewardModel, endId: number,
  items: readonly { prompt: string; answer: string }[]): Promise<Evaluation> {
  let kl = 0, length = 0;
  const outputs: string[] = [], correct: boolean[] = [], scores: number[] = [];
  const V = model.config.vocabSize;
  for (const item of items) {
    const prompt = template.encode(tok, [{ role: "user", content: item.prompt }], { addGenerationPrompt: true }).ids;
    const r = await generateAll(model, prompt, { maxTokens: 6, stopIds: [endId] });
    const output = tok.decode(r.ids);
    correct.push(isCorrect(output, item.answer));
    scores.push(rm.score(item.prompt, [output])[0]);
    outputs.push(output);
    const all = [...prompt, ...r.ids, ...(r.finishReason === "stop" ? [endId] : [])].slice(0, model.config.contextLength + 1);
    const T = all.length - 1, targets = new Int32Array(T).fill(-1);
    for (let t = prompt.length - 1; t < T; t++) targets[t] = all[t + 1];
    const ids = all.slice(0, T);
    model.forward(ids, { B: 1, T });
    const logp = tokenLogProbs(model.logits(), targets, V);
    sft.forward(ids, { B: 1, T });
    const ref = tokenLogProbs(sft.logits(), targets, V);
    for (let t = 0; t < T; t++) if (targets[t] !== -1) kl += logp[t] - ref[t];
    length += T - (prompt.length - 1);
  }
  const n = items.length;
  return { name, accuracy: correct.filter(Boolean).length / n, reward: scores.reduce((a, b) => a + b, 0) / n, kl: kl / n, length: length / n, outputs, correct, scores };
}

function numberPairs(ctx: TourContext): string {
  const h = ctx.artifacts.rewardHeldOut;
  return h === undefined ? "few" : pct(h.numberAccuracy);
}

function rewardPairs(ctx: TourContext): string {
  const h = ctx.artifacts.rewardHeldOut;
  return h === undefined ? "part" : `${pct(h.accuracy)} (of ${h.pairs})`;
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
