import { check } from "../../errors.js";
import { trainBpeCore } from "./bpe-core.js";
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
import { bertNormalize, countBertWords, type BertNormalizerOptions } from "./pretokenize.js";

export interface WordPieceTrainerOptions extends TrainRunOptions {
  /** Final vocabulary size, special tokens included. Default 30000. */
  vocabSize?: number;
  /** A pair seen fewer times than this is never merged. Default 0. */
  minFrequency?: number;
  /** Default ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]: the first ids, never split. */
  specialTokens?: string[];
  /** The token for words that cannot be spelled with the vocabulary. Default "[UNK]". */
  unkToken?: string;
  /** Keep at most this many characters in the alphabet, the most frequent ones. Default: no limit. */
  limitAlphabet?: number;
  /** Characters always in the alphabet. Default []. */
  initialAlphabet?: string[];
  /** Marks a piece that continues a word. Default "##". */
  continuingSubwordPrefix?: string;
  /** BERT normalization: lowercase (default true, as bert-base-uncased). */
  lowercase?: boolean;
  /** Strip accents; null (default) follows `lowercase`. */
  stripAccents?: boolean | null;
  /** Drop control characters and turn whitespace into spaces. Default true. */
  cleanText?: boolean;
  /** Put spaces around CJK ideographs so each is a word. Default true. */
  handleChineseChars?: boolean;
  /** Longer words encode as the unknown token (HF max_input_chars_per_word). Default 100. */
  maxInputCharsPerWord?: number;
  /** Replays an HF run: give these prefixed characters ids in this order (tests only). */
  symbolOrder?: string[];
}

const KEYS = [
  "vocabSize",
  "minFrequency",
  "specialTokens",
  "unkToken",
  "limitAlphabet",
  "initialAlphabet",
  "continuingSubwordPrefix",
  "lowercase",
  "stripAccents",
  "cleanText",
  "handleChineseChars",
  "maxInputCharsPerWord",
  "symbolOrder",
  "onProgress",
  "signal",
] as const;

/**
 * WordPiece trainer, as Hugging Face trains one: BERT normalization and pre-tokenization, BPE merges
 * where every non-initial character carries the "##" prefix, and the resulting vocabulary used by
 * greedy longest-match WordPiece.
 *
 *     const json = await new WordPieceTrainer({ vocabSize: 8000 }).train(lines);
 */
export class WordPieceTrainer {
  private readonly o: {
    vocabSize: number;
    minFrequency: number;
    specialTokens: string[];
    unkToken: string;
    limitAlphabet?: number;
    initialAlphabet: string[];
    continuingSubwordPrefix: string;
    norm: BertNormalizerOptions;
    maxInputCharsPerWord: number;
    symbolOrder?: string[];
    run: TrainRunOptions;
  };

  constructor(options: WordPieceTrainerOptions = {}) {
    const who = "WordPieceTrainer";
    checkKnownKeys(who, options, KEYS);
    checkRunOptions(who, options);
    const bool = (name: keyof WordPieceTrainerOptions, dflt: boolean): boolean => {
      const v = options[name] ?? dflt;
      check(typeof v === "boolean", "BAD_ARGUMENT", `${who}: ${name} must be a boolean`);
      return v as boolean;
    };
    const unkToken = options.unkToken ?? "[UNK]";
    check(typeof unkToken === "string" && unkToken.length > 0, "BAD_ARGUMENT", `${who}: unkToken must be a non-empty string`);
    const prefix = options.continuingSubwordPrefix ?? "##";
    check(typeof prefix === "string" && prefix.length > 0, "BAD_ARGUMENT", `${who}: continuingSubwordPrefix must be a non-empty string`);
    const stripAccents = options.stripAccents ?? null;
    check(stripAccents === null || typeof stripAccents === "boolean", "BAD_ARGUMENT", `${who}: stripAccents must be a boolean or null`);
    if (options.limitAlphabet !== undefined) checkInt(who, "limitAlphabet", options.limitAlphabet, 0);
    this.o = {
      vocabSize: checkInt(who, "vocabSize", options.vocabSize ?? 30000, 1, 1 << 24),
      minFrequency: checkInt(who, "minFrequency", options.minFrequency ?? 0, 0),
      specialTokens: checkTokens(who, "specialTokens", options.specialTokens ?? ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]),
      unkToken,
      limitAlphabet: options.limitAlphabet,
      initialAlphabet: checkAlphabet(who, options.initialAlphabet ?? []),
      continuingSubwordPrefix: prefix,
      norm: {
        lowercase: bool("lowercase", true),
        stripAccents,
        cleanText: bool("cleanText", true),
        handleChineseChars: bool("handleChineseChars", true),
      },
      maxInputCharsPerWord: checkInt(who, "maxInputCharsPerWord", options.maxInputCharsPerWord ?? 100, 1),
      symbolOrder: options.symbolOrder === undefined ? undefined : checkTokens(who, "symbolOrder", options.symbolOrder),
      run: { onProgress: options.onProgress, signal: options.signal },
    };
  }

  /** Trains on `input` and returns the tokenizer.json object. */
  async train(input: TrainerInput, run: TrainRunOptions = {}): Promise<TokenizerJson> {
    const who = "WordPieceTrainer.train";
    const o = this.o;
    const ticker = startRun(who, run, o.run);
    const raw = await countWords(input, who, ticker, (counts, seq) => countBertWords(counts, bertNormalize(seq, o.norm)));
    const { vocab } = await trainBpeCore([...raw.keys()], [...raw.values()], o, ticker);
    const v = vocabObject(vocab);
    const json: TokenizerJson = {
      ...emptyTokenizerJson(),
      added_tokens: addedTokens(o.specialTokens, (s) => v[s]),
      normalizer: {
        type: "BertNormalizer",
        clean_text: o.norm.cleanText,
        handle_chinese_chars: o.norm.handleChineseChars,
        strip_accents: o.norm.stripAccents,
        lowercase: o.norm.lowercase,
      },
      pre_tokenizer: { type: "BertPreTokenizer" },
      decoder: { type: "WordPiece", prefix: o.continuingSubwordPrefix, cleanup: true },
      model: {
        type: "WordPiece",
        unk_token: o.unkToken,
        continuing_subword_prefix: o.continuingSubwordPrefix,
        max_input_chars_per_word: o.maxInputCharsPerWord,
        vocab: v,
      },
    };
    const cls = v["[CLS]"];
    const sep = v["[SEP]"];
    if (o.specialTokens.includes("[CLS]") && o.specialTokens.includes("[SEP]")) {
      json.post_processor = { type: "BertProcessing", sep: ["[SEP]", sep], cls: ["[CLS]", cls] };
    }
    return json;
  }
}
