// tokenizer.json (Hugging Face) → the parts of a Tokenizer, validating as it goes.
import { TinyLMError, check } from "../errors.js";
import { BpeModel } from "./bpe.js";
import { decoderFromJSON, type Decoder } from "./decoders.js";
import { WordPieceModel, UnigramModel, unsupportedModel, type Model } from "./models.js";
import { normalizerFromJSON, type Normalizer } from "./normalizers.js";
import { postProcessorFromJSON, type PostProcessor } from "./processors.js";
import { ByteLevelPreTokenizer, SequencePreTokenizer, preTokenizerFromJSON, type PreTokenizer } from "./pretokenizers.js";

/** Ids are indexes of dense tables: a file claiming more tokens than this is corrupt, not large. */
export const MAX_ID = 1 << 24;

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
  lstrip: boolean;
  rstrip: boolean;
  singleWord: boolean;
  normalized: boolean;
}

export interface TokenizerParts {
  model: Model;
  normalizer?: Normalizer | null;
  preTokenizer?: PreTokenizer | null;
  postProcessor?: PostProcessor | null;
  decoder?: Decoder | null;
  addedTokens?: AddedToken[];
}

/** The last step of a pre-tokenizer, if it is ByteLevel: a BPE model after it works on bytes. */
export function trailingByteLevel(p: PreTokenizer | null | undefined): ByteLevelPreTokenizer | undefined {
  if (p instanceof ByteLevelPreTokenizer) return p;
  if (p instanceof SequencePreTokenizer) return trailingByteLevel(p.steps[p.steps.length - 1]);
  return undefined;
}

function vocabMap(v: unknown, what: string): Map<string, number> {
  check(v !== null && typeof v === "object" && !Array.isArray(v), "BAD_FILE", `${what} vocab must be an object of token → id`);
  const obj = v as Record<string, unknown>;
  const vocab = new Map<string, number>();
  const owner: (string | undefined)[] = [];
  for (const t in obj) {
    const id = obj[t] as number;
    check(Number.isInteger(id) && id >= 0 && id < MAX_ID, "BAD_FILE", () => `${what} vocab gives ${JSON.stringify(t)} the id ${JSON.stringify(id)}, not an integer in [0, ${MAX_ID})`);
    const other = owner[id];
    check(other === undefined, "BAD_FILE", () => `${what} vocab gives id ${id} to both ${JSON.stringify(other)} and ${JSON.stringify(t)}`);
    owner[id] = t;
    vocab.set(t, id);
  }
  return vocab;
}

function modelFromJSON(j: any, byteLevel: boolean): Model {
  check(j !== null && typeof j === "object", "BAD_FILE", "tokenizer.json has no model object");
  const type = j.type ?? (j.merges ? "BPE" : j.continuing_subword_prefix !== undefined ? "WordPiece" : Array.isArray(j.vocab) ? "Unigram" : undefined);
  switch (type) {
    case "BPE": {
      check(Array.isArray(j.merges), "BAD_FILE", "a BPE model needs a merges array");
      check(j.dropout == null || j.dropout === 0, "UNSUPPORTED", "BPE dropout is not supported (it makes encoding random)");
      const merges: [string, string][] = j.merges.map((m: unknown, i: number) => {
        if (typeof m === "string") {
          const at = m.indexOf(" ", 1);
          check(at > 0 && at < m.length - 1 && m.indexOf(" ", at + 1) < 0, "BAD_FILE", `BPE merge ${i} ${JSON.stringify(m)} is not two tokens separated by one space`);
          return [m.slice(0, at), m.slice(at + 1)];
        }
        check(Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string", "BAD_FILE", `BPE merge ${i} is neither "a b" nor ["a", "b"]`);
        return m as [string, string];
      });
      return BpeModel.fromVocabMerges(vocabMap(j.vocab, "BPE"), merges, {
        byteLevel, ignoreMerges: !!j.ignore_merges, unkToken: j.unk_token ?? null, fuseUnk: !!j.fuse_unk,
        byteFallback: !!j.byte_fallback, continuingSubwordPrefix: j.continuing_subword_prefix || null,
        endOfWordSuffix: j.end_of_word_suffix || null,
      });
    }
    case "WordPiece":
      return new WordPieceModel(vocabMap(j.vocab, "WordPiece"), j.unk_token ?? "[UNK]", j.continuing_subword_prefix ?? "##", j.max_input_chars_per_word ?? 100);
    case "Unigram":
      check(Array.isArray(j.vocab), "BAD_FILE", "a Unigram model needs vocab as [[piece, score], …]");
      return new UnigramModel(j.vocab, j.unk_id ?? null, !!j.byte_fallback);
    default:
      return unsupportedModel(type);
  }
}

/** Parses a tokenizer.json object or text into tokenizer parts. Throws BAD_FILE on truncated or inconsistent files. */
export function partsFromJSON(input: unknown): TokenizerParts {
  let j: any = input;
  if (typeof input === "string") {
    try {
      j = JSON.parse(input);
    } catch (e) {
      throw new TinyLMError("BAD_FILE", `tokenizer.json is not valid JSON (truncated?): ${(e as Error).message}`);
    }
  }
  check(j !== null && typeof j === "object" && !Array.isArray(j), "BAD_FILE", "tokenizer.json must be an object");
  check(j.model !== undefined, "BAD_FILE", "tokenizer.json has no model");
  const preTokenizer = j.pre_tokenizer ? preTokenizerFromJSON(j.pre_tokenizer) : null;
  const model = modelFromJSON(j.model, trailingByteLevel(preTokenizer) !== undefined);
  const addedTokens: AddedToken[] = [];
  check(j.added_tokens == null || Array.isArray(j.added_tokens), "BAD_FILE", "added_tokens must be an array");
  for (const [i, t] of (j.added_tokens ?? []).entries()) {
    check(t && Number.isInteger(t.id) && t.id >= 0 && t.id < MAX_ID && typeof t.content === "string" && t.content.length > 0, "BAD_FILE", `added_tokens[${i}] needs an integer id in [0, ${MAX_ID}) and non-empty content`);
    const inVocab = model.vocab.get(t.content);
    check(inVocab === undefined || inVocab === t.id, "BAD_FILE", `added token ${JSON.stringify(t.content)} has id ${t.id} but the vocabulary gives it ${inVocab}`);
    const holder = model.tokens[t.id];
    check(holder === undefined || holder === t.content, "BAD_FILE", `added token ${JSON.stringify(t.content)} has id ${t.id}, which the vocabulary gives to ${JSON.stringify(holder)}`);
    addedTokens.push({
      id: t.id, content: t.content, special: !!t.special, lstrip: !!t.lstrip, rstrip: !!t.rstrip,
      singleWord: !!t.single_word, normalized: t.normalized ?? !t.special,
    });
  }
  return {
    model,
    normalizer: j.normalizer ? normalizerFromJSON(j.normalizer) : null,
    preTokenizer,
    postProcessor: j.post_processor ? postProcessorFromJSON(j.post_processor) : null,
    decoder: j.decoder ? decoderFromJSON(j.decoder) : null,
    addedTokens,
  };
}
