import { check } from "../errors.js";
import { Random } from "../util/random.js";
import type { ChatExample } from "./chat.js";

// The post-training stages' measurable task: small arithmetic asked in digits or in words ("What is 17 plus 25?",
// "What is seventeen plus twenty-five?"), answered in digits ("42"). Every answer is checked exactly, so each stage
// (SFT, reward model, PPO, DPO) shows a number that moves, and a model pretrained on prose cannot already do it.

export type ArithmeticOp = "plus" | "minus" | "times";

export interface ArithmeticProblem {
  a: number;
  op: ArithmeticOp;
  b: number;
  /** The question, e.g. "What is 17 plus 25?". */
  prompt: string;
  /** The answer in digits, e.g. "42". */
  answer: string;
}

export interface ArithmeticOptions {
  /** Seed of the choice and order of problems. Default 0. */
  seed?: number;
  /** Problems in the training split. Default 1000. */
  train?: number;
  /** Problems in the held-out split. Default 200. */
  heldOut?: number;
  /** Operands are integers in [0, maxOperand]. Default 20 (at most 99: the words go to ninety-nine). */
  maxOperand?: number;
  /** Default ["plus", "minus"]; "times" uses operands up to min(maxOperand, 12). */
  ops?: readonly ArithmeticOp[];
  /** Fraction of questions asked in words instead of digits. Default 0.5. */
  wordsFraction?: number;
}

const ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
  "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
const TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

/** 0…99 in English words: 7 → "seven", 25 → "twenty-five". */
export function numberToWords(n: number): string {
  check(Number.isInteger(n) && n >= 0 && n <= 99, "OUT_OF_RANGE", `numberToWords: ${n} is not an integer in [0, 99]`);
  if (n < 20) return ONES[n];
  return TENS[Math.floor(n / 10)] + (n % 10 === 0 ? "" : `-${ONES[n % 10]}`);
}

/**
 * Train and held-out problems that share no (a, op, b) triple, whatever the wording: the held-out score measures
 * arithmetic the model was never shown, not recall. Minus keeps a ≥ b so every answer is a natural number.
 */
export function arithmeticSplits(options: ArithmeticOptions = {}): { train: ArithmeticProblem[]; heldOut: ArithmeticProblem[] } {
  const max = options.maxOperand ?? 20;
  check(Number.isInteger(max) && max >= 1 && max <= 99, "BAD_ARGUMENT", `arithmeticSplits: maxOperand must be an integer in [1, 99], got ${max}`);
  const ops = options.ops ?? ["plus", "minus"];
  check(Array.isArray(ops) && ops.length > 0 && ops.every((o) => o === "plus" || o === "minus" || o === "times"), "BAD_ARGUMENT",
    `arithmeticSplits: ops must be a non-empty list of "plus", "minus", "times"`);
  const nTrain = options.train ?? 1000, nHeld = options.heldOut ?? 200;
  check(Number.isInteger(nTrain) && nTrain >= 0 && Number.isInteger(nHeld) && nHeld >= 0, "BAD_ARGUMENT", "arithmeticSplits: train and heldOut must be non-negative integers");
  const words = options.wordsFraction ?? 0.5;
  check(words >= 0 && words <= 1, "BAD_ARGUMENT", `arithmeticSplits: wordsFraction must be in [0, 1], got ${words}`);

  const triples: [number, ArithmeticOp, number][] = [];
  for (const op of new Set(ops)) {
    const top = op === "times" ? Math.min(max, 12) : max;
    for (let a = 0; a <= top; a++) for (let b = 0; b <= (op === "minus" ? a : top); b++) triples.push([a, op, b]);
  }
  check(nTrain + nHeld <= triples.length, "BAD_ARGUMENT",
    `arithmeticSplits: ${nTrain} + ${nHeld} problems asked, but operands up to ${max} with ${ops.join("/")} give only ${triples.length} distinct ones`);
  const rng = new Random(options.seed ?? 0);
  rng.shuffle(triples);
  const make = ([a, op, b]: [number, ArithmeticOp, number]): ArithmeticProblem => {
    const inWords = rng.random() < words;
    const say = (n: number) => (inWords ? numberToWords(n) : String(n));
    const answer = op === "plus" ? a + b : op === "minus" ? a - b : a * b;
    return { a, op, b, prompt: `What is ${say(a)} ${op} ${say(b)}?`, answer: String(answer) };
  };
  return { train: triples.slice(0, nTrain).map(make), heldOut: triples.slice(nTrain, nTrain + nHeld).map(make) };
}

/** Exact match of a generated answer: surrounding space and a final period are forgiven, nothing else ("42" ≠ "42 apples"). */
export function isCorrect(output: string, answer: string): boolean {
  return output.trim().replace(/\.$/, "") === answer.trim();
}

/** A problem as a two-turn chat (user question, assistant answer), the SFT data format. */
export function problemToChat(p: ArithmeticProblem): ChatExample {
  return { messages: [{ role: "user", content: p.prompt }, { role: "assistant", content: p.answer }] };
}
