import { TinyLMError, check } from "../errors.js";
import type { Tokenizer } from "../tokenizer/tokenizer.js";

// tokenizer_config.json, the file of a Hugging Face checkpoint that carries the chat template (`chat_template`) and
// names the special tokens, so that transformers' apply_chat_template and tinylm's generation render prompts the way
// fine-tuning did. Written next to config.json / tokenizer.json by modelToHfFiles' callers.

export interface TokenizerConfigOptions {
  chatTemplate?: string;
  /** The token that ends a turn or a document (generation stops on it). */
  eosToken?: string;
  bosToken?: string;
  /** The model's context length. */
  modelMaxLength?: number;
}

/** tokenizer_config.json as bytes: the chat template, the named special tokens and every added token. */
export function tokenizerConfigFile(tok: Tokenizer, options: TokenizerConfigOptions = {}): Uint8Array {
  for (const t of [options.eosToken, options.bosToken]) {
    check(t === undefined || tok.tokenToId(t) !== undefined, "BAD_ARGUMENT", `tokenizer_config: the tokenizer has no token ${JSON.stringify(t)}`);
  }
  const decoder: Record<string, unknown> = {};
  for (const a of [...tok.addedTokens].sort((x, y) => x.id - y.id)) {
    decoder[String(a.id)] = { content: a.content, lstrip: a.lstrip, normalized: a.normalized, rstrip: a.rstrip, single_word: a.singleWord, special: a.special };
  }
  const json = {
    added_tokens_decoder: decoder,
    ...(options.bosToken === undefined ? {} : { bos_token: options.bosToken }),
    ...(options.eosToken === undefined ? {} : { eos_token: options.eosToken }),
    ...(options.chatTemplate === undefined ? {} : { chat_template: options.chatTemplate }),
    clean_up_tokenization_spaces: false,
    ...(options.modelMaxLength === undefined ? {} : { model_max_length: options.modelMaxLength }),
    tokenizer_class: "PreTrainedTokenizerFast",
  };
  return new TextEncoder().encode(JSON.stringify(json, null, 2) + "\n");
}

/** The `chat_template` string of a tokenizer_config.json (undefined when it has none). */
export function chatTemplateFromTokenizerConfig(bytes: Uint8Array | string): string | undefined {
  let json: unknown;
  try {
    json = JSON.parse(typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes));
  } catch {
    throw new TinyLMError("BAD_FILE", "tokenizer_config.json is not valid JSON");
  }
  check(json !== null && typeof json === "object" && !Array.isArray(json), "BAD_FILE", "tokenizer_config.json must hold a JSON object");
  const t = (json as Record<string, unknown>).chat_template;
  if (t === undefined || t === null) return undefined;
  // transformers also allows a list of named templates; the one named "default" is what apply_chat_template uses.
  if (Array.isArray(t)) {
    const named = t.find((x) => x && typeof x === "object" && x.name === "default");
    check(named !== undefined && typeof named.template === "string", "BAD_FILE", "tokenizer_config.json: chat_template is a list without a \"default\" template");
    return named.template;
  }
  check(typeof t === "string", "BAD_FILE", "tokenizer_config.json: chat_template must be a string");
  return t;
}
