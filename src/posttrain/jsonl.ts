import { TinyLMError, check } from "../errors.js";
import { type ChatExample, checkMessages } from "./chat.js";

// The post-training data formats, one JSON object per line (JSONL), as the common fine-tuning tools read them:
//
//   SFT         {"prompt": "What is 2 plus 3?", "completion": "5"}
//               {"messages": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}]}
//   rankings    {"prompt": "…", "responses": ["…", "…", "…"], "ranking": [2, 0, 1]}   (indices, best first; K ≥ 2)
//   pairs       {"prompt": "…", "chosen": "…", "rejected": "…"}                       (TRL's DPO / reward format)
//
// Readers take the file's text or any iterable of lines (the node side reads files; a browser passes a fetched
// string), skip blank lines, and throw a TinyLMError naming the 1-based line of the first bad record.

/** A source of JSONL: the whole text, or its lines in order. */
export type JsonlSource = string | Iterable<string>;

/** Each non-blank line's parsed value with its 1-based line number. */
export function* parseJsonl(source: JsonlSource): Generator<{ line: number; value: Record<string, unknown> }> {
  check(typeof source === "string" || (source !== null && typeof source === "object" && Symbol.iterator in source), "BAD_ARGUMENT",
    "parseJsonl: give the text of a JSONL file or an iterable of its lines");
  const lines = typeof source === "string" ? source.split(/\r?\n/) : source;
  let line = 0;
  for (const raw of lines) {
    line++;
    check(typeof raw === "string", "BAD_ARGUMENT", `parseJsonl: line ${line} is not a string`);
    if (raw.trim() === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw new TinyLMError("BAD_FILE", `line ${line}: not valid JSON (${(e as Error).message})`);
    }
    check(value !== null && typeof value === "object" && !Array.isArray(value), "BAD_FILE", `line ${line}: expected a JSON object`);
    yield { line, value: value as Record<string, unknown> };
  }
}

/**
 * SFT examples from `{prompt, completion}` or `{messages}` lines. Each must end with a non-empty assistant answer
 * (that is what training learns to write).
 */
export function readSftJsonl(source: JsonlSource): ChatExample[] {
  const out: ChatExample[] = [];
  for (const { line, value } of parseJsonl(source)) {
    const where = `line ${line}`;
    if ("messages" in value) {
      const messages = checkMessages(value.messages, where);
      check(messages.some((m) => m.role === "assistant"), "BAD_FILE", `${where}: the conversation has no assistant message to learn`);
      out.push({ messages, line });
    } else {
      const prompt = text(value, "prompt", where, true);
      const completion = text(value, "completion", where, false);
      out.push({ messages: [{ role: "user", content: prompt }, { role: "assistant", content: completion }], line });
    }
  }
  check(out.length > 0, "BAD_FILE", "the SFT data has no examples");
  return out;
}

/** A prompt with K ≥ 2 responses and their order, best first (indices into responses). */
export interface RankingExample {
  prompt: string;
  responses: string[];
  ranking: number[];
  line?: number;
}

/**
 * Preference data for the reward model and DPO: `{prompt, responses, ranking}` lines (K-way) and `{prompt, chosen,
 * rejected}` lines (one pair: responses [chosen, rejected], ranking [0, 1]), freely mixed.
 */
export function readPreferenceJsonl(source: JsonlSource): RankingExample[] {
  const out: RankingExample[] = [];
  for (const { line, value } of parseJsonl(source)) {
    const where = `line ${line}`;
    const prompt = text(value, "prompt", where, true);
    if ("chosen" in value || "rejected" in value) {
      const chosen = text(value, "chosen", where, false), rejected = text(value, "rejected", where, false);
      out.push({ prompt, responses: [chosen, rejected], ranking: [0, 1], line });
      continue;
    }
    const responses = value.responses, ranking = value.ranking;
    check(Array.isArray(responses) && responses.length >= 2, "BAD_FILE", `${where}: "responses" must be an array of at least 2 answers (or give "chosen" and "rejected")`);
    responses.forEach((r, i) => check(typeof r === "string" && r.trim() !== "", "BAD_FILE", `${where}: responses[${i}] must be a non-empty string`));
    check(Array.isArray(ranking), "BAD_FILE", `${where}: "ranking" must be an array of response indices, best first`);
    const K = responses.length;
    const seen = new Set<number>();
    for (const r of ranking) {
      check(Number.isInteger(r) && r >= 0 && r < K && !seen.has(r), "BAD_FILE",
        `${where}: "ranking" must be a permutation of 0…${K - 1} (each response once, best first), got ${JSON.stringify(ranking)}`);
      seen.add(r);
    }
    check(seen.size === K, "BAD_FILE", `${where}: "ranking" must be a permutation of 0…${K - 1} (each response once, best first), got ${JSON.stringify(ranking)}`);
    out.push({ prompt, responses: responses as string[], ranking: ranking as number[], line });
  }
  check(out.length > 0, "BAD_FILE", "the preference data has no examples");
  return out;
}

/** All C(K, 2) (better, worse) response pairs of a ranking, as indices into responses (InstructGPT's comparisons). */
export function rankingPairs(example: RankingExample): [number, number][] {
  const r = example.ranking, pairs: [number, number][] = [];
  for (let i = 0; i < r.length; i++) for (let j = i + 1; j < r.length; j++) pairs.push([r[i], r[j]]);
  return pairs;
}

function text(value: Record<string, unknown>, field: string, where: string, allowEmpty: boolean): string {
  const v = value[field];
  check(v !== undefined, "BAD_FILE", `${where}: missing "${field}"`);
  check(typeof v === "string", "BAD_FILE", `${where}: "${field}" must be a string`);
  check(allowEmpty ? v.length > 0 : v.trim() !== "", "BAD_FILE", `${where}: "${field}" is empty`);
  return v;
}
