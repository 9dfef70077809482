// tokenizer.json layouts for well-known tokenizer families, built from a bare vocabulary.
import { check } from "../errors.js";

export interface BertOptions {
  /** bert-base-uncased lowercases and strips accents; cased models do neither. Default true. */
  lowercase?: boolean;
}

/**
 * The tokenizer.json of a BERT WordPiece tokenizer (the layout Hugging Face's BertWordPieceTokenizer writes) from a
 * vocabulary in id order, with `##` marking continuation pieces and [UNK] [CLS] [SEP] [PAD] [MASK] present.
 */
export function bertTokenizerJSON(vocab: string[], options: BertOptions = {}): Record<string, unknown> {
  check(Array.isArray(vocab) && vocab.every((t) => typeof t === "string" && t.length > 0), "BAD_ARGUMENT", "a BERT vocabulary is a list of non-empty strings in id order");
  const ids = new Map<string, number>();
  vocab.forEach((t, i) => {
    check(!ids.has(t), "BAD_FILE", `the BERT vocabulary lists ${JSON.stringify(t)} twice (ids ${ids.get(t)} and ${i})`);
    ids.set(t, i);
  });
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
  for (const s of specials) check(ids.has(s), "BAD_FILE", `the BERT vocabulary has no ${s}`);
  const lowercase = options.lowercase ?? true;
  const special = (name: string) => ({ id: name, ids: [ids.get(name)!], tokens: [name] });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((s) => ({ id: ids.get(s)!, content: s, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })).sort((a, b) => a.id - b.id),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "[SEP]", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } }, { SpecialToken: { id: "[SEP]", type_id: 1 } },
      ],
      special_tokens: { "[CLS]": special("[CLS]"), "[SEP]": special("[SEP]") },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##", max_input_chars_per_word: 100, vocab: Object.fromEntries(ids) },
  };
}
