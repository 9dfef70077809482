import { check } from "../errors.js";
import { generateAll } from "../generate/generate.js";
import type { Llama } from "../nn/llama.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import { isCorrect } from "./arithmetic.js";
import { ChatTemplate, END_OF_TURN } from "./chat.js";
import { type RankingExample, rankingPairs } from "./jsonl.js";

// What the reward model and DPO share: one prompt's K ranked responses, each rendered with the chat template as a
// [user prompt, assistant response] conversation, kept together as the K rows of one batch (InstructGPT: the C(K,2)
// comparisons of a prompt are one batch element, so no response is seen in one pair and missed in another). Also the
// tour's "people": a scripted labeler that ranks sampled answers by a rule the models never see.

/** One prompt's responses as token rows, and its (better, worse) pairs as row indices. */
export interface PreferenceItem {
  /** Per response: the rendered conversation's ids and, per id, whether it belongs to the answer. */
  rows: { ids: number[]; train: boolean[] }[];
  pairs: [number, number][];
  line?: number;
}

/** K rows padded to the longest: ids (K, T); targets (K, T) = the next token where it is answer, −1 elsewhere; last (K) = index of each row's final token. */
export interface PreferenceBatch {
  B: number;
  T: number;
  ids: Int32Array;
  targets: Int32Array;
  last: number[];
}

/** Ranking examples → token rows; a conversation longer than the context throws, naming its JSONL line. */
export function tokenizePreference(examples: readonly RankingExample[], tok: Tokenizer, template: ChatTemplate, contextLength: number): PreferenceItem[] {
  check(examples?.length > 0, "BAD_ARGUMENT", "tokenizePreference: no examples");
  return examples.map((ex, i) => {
    const where = ex.line !== undefined ? `line ${ex.line}` : `example ${i}`;
    check(ex.responses?.length >= 2 && ex.ranking?.length === ex.responses.length, "BAD_ARGUMENT",
      `${where}: a preference example needs at least 2 responses and a ranking of all of them`);
    const rows = ex.responses.map((r, j) => {
      const row = template.encode(tok, [{ role: "user", content: ex.prompt }, { role: "assistant", content: r }]);
      check(row.ids.length <= contextLength, "BAD_ARGUMENT",
        `${where}: the prompt with responses[${j}] is ${row.ids.length} tokens, longer than the model's context of ${contextLength}`);
      return row;
    });
    return { rows, pairs: rankingPairs(ex), line: ex.line };
  });
}

/** The K rows of one item as a batch (padding id 0 after each row's end: causal attention never reads it). */
export function preferenceBatch(item: PreferenceItem): PreferenceBatch {
  const B = item.rows.length, T = Math.max(...item.rows.map((r) => r.ids.length));
  const ids = new Int32Array(B * T), targets = new Int32Array(B * T).fill(-1);
  item.rows.forEach((r, b) => {
    ids.set(r.ids, b * T);
    for (let t = 0; t + 1 < r.ids.length; t++) if (r.train[t + 1]) targets[b * T + t] = r.ids[t + 1];
  });
  return { B, T, ids, targets, last: item.rows.map((r) => r.ids.length - 1) };
}

/**
 * How the scripted "person" grades an arithmetic answer, compared element by element (higher first): right before
 * wrong; then a number nearer the right one before a farther one ("41" before "97" for 42: a near miss is the
 * better mistake); then anything that is not a number; then shorter before longer.
 */
export function arithmeticGrade(output: string, answer: string): number[] {
  const text = output.trim().replace(/\.$/, ""), n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  return [Number(isCorrect(output, answer)), Number.isNaN(n) ? -Infinity : -Math.abs(n - Number(answer)), -output.trim().length];
}

/**
 * The scripted "person": ranks responses best first by `grade` (default arithmeticGrade). Of responses it cannot tell
 * apart (equal grades) it keeps the first: a coin-flip order between them would be noise no reward model can learn.
 * Returns null when fewer than two responses remain.
 */
export function scriptedRanking(prompt: string, answer: string, responses: readonly string[], grade: (output: string, answer: string) => number[] = arithmeticGrade): RankingExample | null {
  const kept: string[] = [], grades: number[][] = [], keys = new Set<string>();
  for (const raw of responses) {
    const r = raw.trim(), g = grade(r, answer), key = g.join(",");
    if (r === "" || keys.has(key)) continue;
    keys.add(key);
    kept.push(r);
    grades.push(g);
  }
  if (kept.length < 2) return null;
  const compare = (a: number[], b: number[]) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return b[i] - a[i];
    return 0;
  };
  return { prompt, responses: kept, ranking: kept.map((_, i) => i).sort((a, b) => compare(grades[a], grades[b])) };
}

/**
 * K answers per question sampled from `model` (a different seed per sample), ranked by scriptedRanking. A list of
 * temperatures is cycled through, sample by sample: answers at 1 are the model's own plausible mistakes, hotter ones
 * the odd answers a policy may wander into, and a reward model that only ever saw one kind misjudges the other.
 * Questions whose samples the labeler cannot tell apart are skipped.
 */
export async function sampleRankings(model: Llama, tok: Tokenizer, items: readonly { prompt: string; answer: string }[],
  options: { K: number; temperature?: number | readonly number[]; maxTokens?: number; seed?: number; template?: ChatTemplate; grade?: (output: string, answer: string) => number[]; signal?: AbortSignal; onItem?: (done: number) => void }): Promise<RankingExample[]> {
  const K = options.K;
  check(Number.isInteger(K) && K >= 2, "BAD_ARGUMENT", `sampleRankings: K must be an integer ≥ 2, got ${K}`);
  const temperatures = typeof options.temperature === "number" || options.temperature === undefined ? [options.temperature ?? 1] : options.temperature;
  check(Array.isArray(temperatures) && temperatures.length > 0 && temperatures.every((t) => typeof t === "number" && t > 0 && Number.isFinite(t)), "BAD_ARGUMENT",
    `sampleRankings: temperature must be a positive number or a non-empty list of them`);
  const template = options.template ?? new ChatTemplate();
  const end = tok.tokenToId(END_OF_TURN);
  check(end !== undefined, "BAD_ARGUMENT", `sampleRankings: the tokenizer has no ${END_OF_TURN} token; run prepareChatModel first`);
  const out: RankingExample[] = [];
  let seed = options.seed ?? 0;
  for (let i = 0; i < items.length; i++) {
    const prompt = template.encode(tok, [{ role: "user", content: items[i].prompt }], { addGenerationPrompt: true }).ids;
    const responses: string[] = [];
    for (let s = 0; s < K; s++) {
      const r = await generateAll(model, prompt, { maxTokens: options.maxTokens ?? 8, stopIds: [end], temperature: temperatures[s % temperatures.length], seed: seed++, signal: options.signal });
      responses.push(tok.decode(r.ids));
    }
    const ranked = scriptedRanking(items[i].prompt, items[i].answer, responses, options.grade);
    if (ranked !== null) out.push(ranked);
    options.onItem?.(i + 1);
  }
  return out;
}

/** Ranking examples as JSONL text in the {prompt, responses, ranking} form readPreferenceJsonl reads. */
export function rankingsToJsonl(examples: readonly RankingExample[]): string {
  return examples.map((e) => JSON.stringify({ prompt: e.prompt, responses: e.responses, ranking: e.ranking })).join("\n") + "\n";
}
