import { TinyLMError, check } from "../errors.js";
import { generateAll } from "../generate/generate.js";
import type { Llama } from "../nn/llama.js";
import { AdamW } from "../nn/optim.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";
import type { Batch } from "../train/data.js";
import { clipGradients } from "../train/pretrain.js";
import { learningRate } from "../train/schedule.js";
import { type TrainStateBase, restoreTrainState, snapshotTrainState } from "../train/state.js";
import { Random } from "../util/random.js";
import { isCorrect } from "./arithmetic.js";
import { type ChatExample, type ChatMessage, ChatTemplate, END_OF_TURN, addSpecialTokens } from "./chat.js";
import { resizeVocab } from "./vocab.js";

// The seed's 监督微调: a pretrained model is shown question → answer conversations and learns to write the answers.
// The loss is the same next-token cross-entropy as pretraining, but only on the answer tokens: prompt and padding
// targets are -1 (masked), so the model is not trained to produce questions.

/** A tokenized conversation: ids and, per id, whether it is a training target. */
export interface SftSequence {
  ids: number[];
  train: boolean[];
  line?: number;
}

/**
 * The base model and tokenizer made ready for a chat template: the template's special tokens (<|user|>, …) are added
 * to the tokenizer and the model's vocabulary grows to hold them (new rows = the mean embedding). Returns the inputs
 * themselves when nothing is missing.
 */
export function prepareChatModel(model: Llama, tok: Tokenizer, template: ChatTemplate = new ChatTemplate()): { model: Llama; tokenizer: Tokenizer; added: number } {
  const { tokenizer, added } = addSpecialTokens(tok, template.specialTokens());
  const V = Math.max(model.config.vocabSize, tokenizer.vocabSize);
  return { model: V === model.config.vocabSize ? model : resizeVocab(model, V), tokenizer, added };
}

/**
 * Conversations → token sequences of at most `contextLength` + 1 tokens (a sequence of n tokens trains n − 1
 * positions). A prompt or example that does not fit throws, naming its JSONL line.
 */
export function tokenizeSft(examples: readonly ChatExample[], tok: Tokenizer, template: ChatTemplate, contextLength: number): SftSequence[] {
  check(Array.isArray(examples) && examples.length > 0, "BAD_ARGUMENT", "tokenizeSft: no examples");
  checkTemplateTokens(tok, template, Infinity);
  return examples.map((ex, i) => {
    const where = ex.line !== undefined ? `line ${ex.line}` : `example ${i}`;
    const { ids, train } = template.encode(tok, ex.messages);
    const first = train.indexOf(true);
    check(first >= 0, "BAD_ARGUMENT", `${where}: the conversation has no assistant tokens to learn`);
    check(first <= contextLength, "BAD_ARGUMENT", `${where}: the prompt is ${first} tokens, longer than the model's context of ${contextLength}`);
    check(ids.length <= contextLength + 1, "BAD_ARGUMENT", `${where}: the conversation is ${ids.length} tokens; the model's context holds ${contextLength} (+1 target)`);
    return { ids, train, line: ex.line };
  });
}

/** An SFT batch; a packed one also numbers the conversations of each row (Llama.forward's `segments`). */
export interface SftBatch extends Batch {
  /** (B, T), with `pack` only: each position's conversation within its row, 0, 1, …; the padding after the last one
   *  is a segment of its own. */
  segments?: Int32Array;
}

/**
 * B rows of T positions from `sequences` taken in order starting at `start` (wrapping around): each row holds one
 * sequence, or with `pack` as many whole consecutive sequences as fit. Inputs after the end of a row are padding
 * (id 0); targets are the next token where it is trained, -1 everywhere else (prompt, padding, and the last position
 * of each packed conversation, whose next token belongs to the next one). Returns the batch and where the next one
 * starts.
 *
 * A packed batch carries `segments`, and with them Llama.forward makes each conversation attend only to itself, with
 * positions counted from its own start (Hugging Face's packing with position_ids, flash-attention's varlen): a packed
 * row trains exactly as its conversations would one per row, on fewer padding positions.
 */
export function sftBatch(sequences: readonly SftSequence[], start: number, B: number, T: number, pack: boolean): { batch: SftBatch; next: number } {
  check(sequences.length > 0, "BAD_ARGUMENT", "sftBatch: no sequences");
  const ids = new Int32Array(B * T), targets = new Int32Array(B * T).fill(-1);
  const segments = pack ? new Int32Array(B * T) : undefined;
  let next = start % sequences.length;
  for (let b = 0; b < B; b++) {
    const streamIds: number[] = [], streamTrain: boolean[] = [], streamSegment: number[] = [];
    let count = 0;
    do {
      const s = sequences[next];
      check(s.ids.length <= T + 1, "BAD_SHAPE", `sftBatch: a sequence of ${s.ids.length} tokens does not fit ${T} positions`);
      if (streamIds.length > 0 && streamIds.length + s.ids.length > T + 1) break;
      streamIds.push(...s.ids);
      streamTrain.push(...s.train);
      for (let i = 0; i < s.ids.length; i++) streamSegment.push(count);
      count++;
      next = (next + 1) % sequences.length;
    } while (pack && streamIds.length < T + 1);
    const n = Math.min(T, streamIds.length - 1);
    for (let t = 0; t < n; t++) {
      ids[b * T + t] = streamIds[t];
      if (streamTrain[t + 1] && streamSegment[t + 1] === streamSegment[t]) targets[b * T + t] = streamIds[t + 1];
    }
    if (segments) for (let t = 0; t < T; t++) segments[b * T + t] = t < n ? streamSegment[t] : count;
  }
  return { batch: { B, T, ids, targets, segments }, next };
}

/** A held-out question with its reference answer. */
export interface EvalItem {
  /** The conversation up to the answer (a string is one user message). */
  prompt: string | ChatMessage[];
  answer: string;
}

export interface ExactMatchResult {
  accuracy: number;
  samples: { prompt: string; output: string; answer: string; correct: boolean }[];
}

/**
 * Exact-match accuracy of greedy answers: each prompt is rendered with the template's generation prompt, the model
 * writes until the end-of-turn marker (or maxTokens), and `isRight(output, answer)` judges it (default: equal after
 * trimming space and a final period).
 */
export async function exactMatch(model: Llama, tok: Tokenizer, items: readonly EvalItem[],
  options: { template?: ChatTemplate; maxTokens?: number; isRight?: (output: string, answer: string) => boolean; signal?: AbortSignal } = {}): Promise<ExactMatchResult> {
  check(Array.isArray(items) && items.length > 0, "BAD_ARGUMENT", "exactMatch: no items");
  const template = options.template ?? new ChatTemplate();
  const end = checkTemplateTokens(tok, template, model.config.vocabSize);
  const isRight = options.isRight ?? isCorrect;
  const samples: ExactMatchResult["samples"] = [];
  for (const item of items) {
    const messages: ChatMessage[] = typeof item.prompt === "string" ? [{ role: "user", content: item.prompt }] : item.prompt;
    const prompt = template.encode(tok, messages, { addGenerationPrompt: true }).ids;
    check(prompt.length < model.config.contextLength, "BAD_ARGUMENT", `exactMatch: a prompt of ${prompt.length} tokens leaves no room in the context of ${model.config.contextLength}`);
    const r = await generateAll(model, prompt, { maxTokens: options.maxTokens ?? 16, stopIds: [end], signal: options.signal });
    const output = tok.decode(r.ids);
    samples.push({ prompt: messages[messages.length - 1].content, output, answer: item.answer, correct: isRight(output, item.answer) });
  }
  return { accuracy: samples.filter((s) => s.correct).length / samples.length, samples };
}

export interface SftOptions {
  /** Optimizer steps to reach (counting steps already taken when resuming). */
  steps: number;
  /** Rows per step. Default 16. */
  batchSize?: number;
  /** Positions per row. Default: the longest sequence − 1 (or the context length when packing). */
  seqLen?: number;
  /** Pack several conversations per row instead of padding each; each still attends only to itself, with its own
   *  positions (see sftBatch). Default false. */
  pack?: boolean;
  /** Peak learning rate. Default 1e-3 (a tenth of what the tour pretrains with). */
  lr?: number;
  /** Default lr / 10. */
  minLr?: number;
  /** Default steps / 10. */
  warmupSteps?: number;
  /** AdamW weight decay of the matrices. Default 0 (fine-tuning runs are short). */
  weightDecay?: number;
  /** Global gradient-norm clip (0: none). Default 1. */
  gradClip?: number;
  /** Seed of the example order. Default 0. */
  seed?: number;
  template?: ChatTemplate;
  /** Held-out questions for exact-match accuracy. */
  eval?: readonly EvalItem[];
  /** Evaluate every this many steps and at the end (0: only at the end). Default 0. */
  evalEvery?: number;
  /** Judge of an answer (default: exact match after trimming). */
  isRight?: (output: string, answer: string) => boolean;
  /** Call onCheckpoint every this many steps. Default 0 (never). */
  checkpointEvery?: number;
  onStep?: (log: SftStepLog) => void;
  onEval?: (log: SftEvalLog) => void;
  /** Receives the state to resume from (see SftState); awaited before the next step. */
  onCheckpoint?: (state: SftState) => void | Promise<void>;
  signal?: AbortSignal;
}

export interface SftStepLog {
  step: number;
  /** Mean cross-entropy over the answer tokens. */
  loss: number;
  /** Fraction of answer tokens where the most likely token is the target. */
  tokenAccuracy: number;
  /** Answer (trained) tokens seen so far. */
  tokensSeen: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
}

export interface SftEvalLog {
  step: number;
  exactMatch: number;
  samples: ExactMatchResult["samples"];
}

export interface SftHistory {
  train: SftStepLog[];
  eval: SftEvalLog[];
}

/**
 * Everything an SFT run needs to continue exactly where it stopped: the common state (step, parameters, AdamW, the
 * generator) and where it is in the data. sftStateToBytes / saveSftState write it.
 */
export interface SftState extends TrainStateBase {
  /** This pass's order of the training sequences: a permutation of the indices of tokenizeSft's output. */
  order: Int32Array;
  /** Where in `order` the next batch starts. */
  cursor: number;
  /** Answer tokens trained on so far. */
  tokensSeen: number;
  /** Fingerprint of the tokenized training data (ids and masks, so also of the tokenizer and template); resuming
   *  on other data is refused. */
  dataHash: string;
  history: SftHistory;
}

export interface SftResult extends SftHistory {
  /** The final state: resume from it with a larger `steps` to train further. */
  state: SftState;
}

/**
 * Supervised fine-tuning of `model` in place on conversations: masked cross-entropy on the assistant tokens,
 * AdamW with warm-up and cosine decay, gradient clipping; exact-match accuracy on `eval` items by greedy generation.
 * The tokenizer must already hold the template's markers (see prepareChatModel). Given a state from onCheckpoint (same
 * model, examples and options), it continues exactly: the same losses, accuracies and final parameters as a run
 * that never stopped.
 */
export async function sft(model: Llama, tok: Tokenizer, examples: readonly ChatExample[], options: SftOptions, resume?: SftState): Promise<SftResult> {
  check(options !== null && typeof options === "object", "BAD_ARGUMENT", "sft: options must be an object");
  const template = options.template ?? new ChatTemplate();
  checkTemplateTokens(tok, template, model.config.vocabSize);
  const int = (name: string, v: number | undefined, dflt: number, min: number) => {
    const x = v ?? dflt;
    check(Number.isInteger(x) && x >= min, "BAD_ARGUMENT", `sft: ${name} must be an integer ≥ ${min}, got ${x}`);
    return x;
  };
  const context = model.config.contextLength;
  const sequences = tokenizeSft(examples, tok, template, context);
  const pack = options.pack ?? false;
  const steps = int("steps", options.steps, NaN, 1);
  const B = int("batchSize", options.batchSize, 16, 1);
  const T = int("seqLen", options.seqLen, pack ? context : Math.max(...sequences.map((s) => s.ids.length)) - 1, 1);
  check(T <= context, "BAD_ARGUMENT", `sft: seqLen ${T} exceeds the context length ${context}`);
  const longest = sequences.reduce((a, s) => (s.ids.length > a.ids.length ? s : a));
  check(longest.ids.length <= T + 1, "BAD_ARGUMENT", `sft: ${longest.line !== undefined ? `line ${longest.line}` : "an example"} has ${longest.ids.length} tokens, more than seqLen ${T} + 1`);
  const lr = options.lr ?? 1e-3;
  check(Number.isFinite(lr) && lr > 0, "BAD_ARGUMENT", `sft: lr must be positive, got ${lr}`);
  const schedule = { lr, minLr: options.minLr ?? lr / 10, warmupSteps: int("warmupSteps", options.warmupSteps, Math.floor(steps / 10), 0), totalSteps: steps };
  const evalEvery = int("evalEvery", options.evalEvery, 0, 0);
  const checkpointEvery = int("checkpointEvery", options.checkpointEvery, 0, 0);
  const opt = new AdamW({ lr, groups: model.parameterGroups(options.weightDecay ?? 0) });
  const V = model.config.vocabSize;
  const dataHash = sequencesHash(sequences);

  // The data is read in `order` (indices into sequences) from `cursor`; each new pass reshuffles it.
  let rng: Random, order: number[], cursor = 0, tokensSeen = 0, step = 0;
  let history: SftHistory = { train: [], eval: [] };
  if (resume) {
    checkResume(resume, sequences.length, dataHash, steps);
    rng = restoreTrainState("sft", model, opt, resume);
    order = Array.from(resume.order);
    ({ cursor, tokensSeen, step } = resume);
    history = structuredClone(resume.history);
  } else {
    rng = new Random(options.seed ?? 0);
    order = rng.shuffle(sequences.map((_, i) => i));
  }
  let ordered = order.map((i) => sequences[i]);
  const snapshot = (): SftState => ({ ...snapshotTrainState(step, model, opt, rng), order: Int32Array.from(order), cursor, tokensSeen, dataHash, history: structuredClone(history) });
  const evaluate = async () => {
    if (!options.eval || options.eval.length === 0) return;
    const r = await exactMatch(model, tok, options.eval, { template, isRight: options.isRight, signal: options.signal });
    const log = { step, exactMatch: r.accuracy, samples: r.samples };
    history.eval.push(log);
    options.onEval?.(log);
  };

  while (step < steps) {
    if (options.signal?.aborted) throw new TinyLMError("BAD_ARGUMENT", "sft: aborted");
    opt.lr = learningRate(step, schedule);
    const { batch, next } = sftBatch(ordered, cursor, B, T, pack);
    // A new pass over the data starts in a new order.
    if (next < cursor || next === 0) ordered = rng.shuffle(order).map((i) => sequences[i]);
    cursor = next;
    model.zeroGrad();
    const loss = model.forward(batch.ids, { B, T, targets: batch.targets, segments: batch.segments });
    const { correct, counted } = argmaxHits(model.logits(), batch.targets, V);
    model.backward();
    const gradNorm = clipGradients(model, options.gradClip ?? 1);
    opt.step(model.k, model.params, model.grads!);
    tokensSeen += counted;
    step++;
    const log = { step, loss, tokenAccuracy: correct / counted, tokensSeen, lr: opt.lr, gradNorm };
    history.train.push(log);
    options.onStep?.(log);
    if ((evalEvery > 0 && step % evalEvery === 0) || step === steps) await evaluate();
    if (checkpointEvery > 0 && step % checkpointEvery === 0) await options.onCheckpoint?.(snapshot());
    // Let timers, signals and progress output run between steps.
    await new Promise((r) => setTimeout(r, 0));
  }
  return { ...history, state: snapshot() };
}

// A state to resume from must be an SFT state of these examples; restoreTrainState then checks that it fits the model.
function checkResume(state: SftState, n: number, dataHash: string, steps: number): void {
  check(state !== null && typeof state === "object" && state.order instanceof Int32Array, "BAD_ARGUMENT",
    "sft: the state to resume from has no data order: give an SFT state (sft's onCheckpoint, loadSftState), not a pretraining one");
  check(state.order.length === n, "BAD_ARGUMENT", `sft: the state was saved for ${state.order.length} training sequences, these examples give ${n}`);
  check(state.dataHash === dataHash, "BAD_ARGUMENT", `sft: the state was saved for other training data (fingerprint ${state.dataHash}, these examples give ${dataHash}): same examples, tokenizer and template are needed`);
  const seen = new Uint8Array(n);
  for (const i of state.order) {
    check(i >= 0 && i < n && seen[i] === 0, "BAD_ARGUMENT", "sft: the state's data order is not a permutation of the training sequences");
    seen[i] = 1;
  }
  check(Number.isInteger(state.cursor) && state.cursor >= 0 && state.cursor < n, "BAD_ARGUMENT", `sft: the state's cursor ${state.cursor} is outside the ${n} training sequences`);
  check(Number.isInteger(state.tokensSeen) && state.tokensSeen >= 0, "BAD_ARGUMENT", `sft: the state's tokensSeen must be a non-negative integer, got ${state.tokensSeen}`);
  check(Number.isInteger(state.step) && state.step <= steps, "BAD_ARGUMENT", `sft: the state is at step ${state.step}, past steps = ${steps}`);
  check(Array.isArray(state.history?.train) && Array.isArray(state.history?.eval), "BAD_ARGUMENT", "sft: the state has no history");
}

// FNV-1a over each sequence's length, ids and training flags: a fingerprint of the examples as tokenized.
function sequencesHash(sequences: readonly SftSequence[]): string {
  let h = 0x811c9dc5;
  const mix = (x: number) => { h = Math.imul(h ^ x, 0x01000193); };
  for (const s of sequences) {
    mix(s.ids.length);
    for (let i = 0; i < s.ids.length; i++) mix(2 * s.ids[i] + (s.train[i] ? 1 : 0));
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

// logits (N, V), targets (N) with -1 skipped: how many unmasked targets are the row's most likely token.
function argmaxHits(logits: Float32Array, targets: Int32Array, V: number): { correct: number; counted: number } {
  let correct = 0, counted = 0;
  for (let n = 0; n < targets.length; n++) {
    if (targets[n] === -1) continue;
    counted++;
    let best = 0;
    for (let j = 1; j < V; j++) if (logits[n * V + j] > logits[n * V + best]) best = j;
    if (best === targets[n]) correct++;
  }
  return { correct, counted };
}

// Every marker the template uses must be one token the model knows; returns the end-of-turn id (the stop token).
function checkTemplateTokens(tok: Tokenizer, template: ChatTemplate, vocabSize: number): number {
  const specials = template.specialTokens();
  for (const s of specials) {
    const id = tok.tokenToId(s);
    check(id !== undefined, "BAD_ARGUMENT", `the tokenizer has no ${s} token that the chat template uses; run prepareChatModel first`);
    check(id < vocabSize, "BAD_ARGUMENT", `the template token ${s} has id ${id}, outside the model's vocabulary of ${vocabSize}; run prepareChatModel first`);
  }
  const endToken = specials.includes(END_OF_TURN) ? END_OF_TURN : specials[specials.length - 1];
  check(endToken !== undefined, "UNSUPPORTED", "the chat template has no <|…|> marker to end a turn with");
  return tok.tokenToId(endToken)!;
}
