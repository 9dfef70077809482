import { check } from "../../errors.js";
import { trainBpeCore, type BpeCoreOptions } from "./bpe-core.js";
import {
  addedTokens,
  checkAlphabet,
  checkInt,
  checkKnownKeys,
  checkRunOptions,
  checkTokens,
  countWords,
  emptyTokenizerJson,
  startRun,
  vocabObject,
  type TokenizerJson,
  type TrainerInput,
  type TrainRunOptions,
} from "./common.js";
import { BYTE_TO_UNICODE, countByteLevelWords, toByteLevel } from "./pretokenize.js";

export interface BpeTrainerOptions extends TrainRunOptions {
  /** Final vocabulary size, special tokens and alphabet included. Default 30000 (HF's default). */
  vocabSize?: number;
  /** A pair seen fewer times than this is never merged. Default 0. */
  minFrequency?: number;
  /** Tokens that get the first ids, in order, and are never split (e.g. "<|endoftext|>"). Default []. */
  specialTokens?: string[];
  /** Keep at most this many characters in the alphabet, the most frequent ones. Default: no limit. */
  limitAlphabet?: number;
  /** Characters always in the alphabet. Default: the 256 byte-level symbols, so no text is ever unknown. */
  initialAlphabet?: string[];
  /** Prepend a space to a sequence that does not start with one (HF ByteLevel add_prefix_space). Default false. */
  addPrefixSpace?: boolean;
}

const KEYS = ["vocabSize", "minFrequency", "specialTokens", "limitAlphabet", "initialAlphabet", "addPrefixSpace", "onProgress", "signal"];

/**
 * Byte-level BPE trainer (GPT-2 style): GPT-2 regex pre-tokens, bytes written as printable
 * characters, merges learnt as Hugging Face's BpeTrainer learns them (same merges, same ids).
 *
 *     const json = await new BpeTrainer({ vocabSize: 8000, specialTokens: ["<|endoftext|>"] }).train(text);
 */
export class BpeTrainer {
  private readonly o: BpeCoreOptions & { addPrefixSpace: boolean; run: TrainRunOptions };

  constructor(options: BpeTrainerOptions = {}) {
    const who = "BpeTrainer";
    checkKnownKeys(who, options, KEYS);
    checkRunOptions(who, options);
    const specialTokens = checkTokens(who, "specialTokens", options.specialTokens ?? []);
    const vocabSize = checkInt(who, "vocabSize", options.vocabSize ?? 30000, 1, 1 << 24);
    const minFrequency = checkInt(who, "minFrequency", options.minFrequency ?? 0, 0);
    if (options.limitAlphabet !== undefined) checkInt(who, "limitAlphabet", options.limitAlphabet, 0);
    const initialAlphabet = checkAlphabet(who, options.initialAlphabet ?? BYTE_TO_UNICODE);
    const addPrefixSpace = options.addPrefixSpace ?? false;
    check(typeof addPrefixSpace === "boolean", "BAD_ARGUMENT", `${who}: addPrefixSpace must be a boolean`);
    const limitAlphabet = options.limitAlphabet;
    this.o = { vocabSize, minFrequency, specialTokens, limitAlphabet, initialAlphabet, addPrefixSpace, run: { onProgress: options.onProgress, signal: options.signal } };
  }

  /** Trains on `input` and returns the tokenizer.json object. */
  async train(input: TrainerInput, run: TrainRunOptions = {}): Promise<TokenizerJson> {
    const who = "BpeTrainer.train";
    const o = this.o;
    const ticker = startRun(who, run, o.run);
    const raw = await countWords(input, who, ticker, (counts, seq) => countByteLevelWords(counts, seq, o.addPrefixSpace));
    const words: string[] = [];
    const counts: number[] = [];
    for (const [w, c] of raw) {
      words.push(toByteLevel(w));
      counts.push(c);
    }
    const { vocab, merges } = await trainBpeCore(words, counts, o, ticker);
    return bpeJson(vocab, merges, o.specialTokens, o.addPrefixSpace);
  }
}

function bpeJson(vocab: string[], merges: [string, string][], specials: readonly string[], addPrefixSpace: boolean): TokenizerJson {
  const v = vocabObject(vocab);
  return {
    ...emptyTokenizerJson(),
    added_tokens: addedTokens(specials, (s) => v[s]),
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab: v,
      merges,
    },
  };
}
