import { TinyLMError, check } from "../errors.js";
import { Tokenizer } from "../tokenizer/tokenizer.js";

// Chat templates: how a conversation becomes one token sequence, and which of its tokens the model is trained to
// produce. The template is a string saved with the model (tokenizer_config.json's `chat_template`, as transformers
// does) so generation renders prompts exactly as training did.
//
// We accept the one Jinja shape that role-marker templates use, and nothing else:
//
//     {% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}
//
// i.e. a per-message body in which {{ message['role'] }} and {{ message['content'] }} may appear, then the generation
// prompt. transformers' apply_chat_template renders this string to the same text; a full Jinja engine is not needed
// for that.

export type Role = "system" | "user" | "assistant";
export const ROLES: readonly Role[] = ["system", "user", "assistant"];

export interface ChatMessage {
  role: Role;
  content: string;
}

/** One conversation; in training, the assistant messages are what the model learns to write. */
export interface ChatExample {
  messages: ChatMessage[];
  /** 1-based line of the JSONL file it came from, for error messages. */
  line?: number;
}

/** The special tokens of the default template: one marker per role and an end-of-turn marker. */
export const CHAT_TOKENS = ["<|system|>", "<|user|>", "<|assistant|>", "<|end|>"] as const;
export const END_OF_TURN = "<|end|>";

export const DEFAULT_CHAT_TEMPLATE =
  "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}" +
  "{% if add_generation_prompt %}<|assistant|>{% endif %}";

const ROLE_VAR = /\{\{\s*message\[['"]role['"]\]\s*\}\}/g;
const CONTENT_VAR = /\{\{\s*message\[['"]content['"]\]\s*\}\}/;
const SHAPE = /^\{%-?\s*for message in messages\s*-?%\}([\s\S]*?)\{%-?\s*endfor\s*-?%\}(?:\{%-?\s*if add_generation_prompt\s*-?%\}([\s\S]*?)\{%-?\s*endif\s*-?%\})?$/;

/** A parsed chat template: per role, the text before and after the content; and the generation prompt. */
export class ChatTemplate {
  readonly source: string;
  private readonly before: string;
  private readonly after: string;
  private readonly generation: string;

  constructor(source: string = DEFAULT_CHAT_TEMPLATE) {
    check(typeof source === "string", "BAD_ARGUMENT", "ChatTemplate: the template must be a string");
    const m = SHAPE.exec(source.trim());
    check(m !== null, "UNSUPPORTED",
      "ChatTemplate: only templates of the form {% for message in messages %}…{{ message['content'] }}…{% endfor %}{% if add_generation_prompt %}…{% endif %} are supported");
    const body = m[1];
    const parts = body.split(CONTENT_VAR);
    check(parts.length === 2, "UNSUPPORTED", "ChatTemplate: the message body must contain {{ message['content'] }} exactly once");
    check(!/\{[{%]/.test(parts.join("").replace(ROLE_VAR, "")) && !/\{[{%]/.test(m[2] ?? ""), "UNSUPPORTED",
      "ChatTemplate: only {{ message['role'] }} and {{ message['content'] }} may appear inside the loop");
    this.source = source;
    [this.before, this.after] = parts;
    this.generation = m[2] ?? "";
  }

  /** The text a message renders to, split around its content. */
  markers(role: Role): { before: string; after: string } {
    return { before: this.before.replace(ROLE_VAR, role), after: this.after.replace(ROLE_VAR, role) };
  }

  /** The whole conversation as text (what transformers' apply_chat_template returns). */
  render(messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    let text = "";
    for (const m of messages) {
      const { before, after } = this.markers(m.role);
      text += before + m.content + after;
    }
    return text + (options.addGenerationPrompt ? this.generation : "");
  }

  /**
   * Token ids of a conversation and, per id, whether training predicts it: the content of assistant messages and the
   * marker closing them (so the model learns to stop), never the prompt or the markers around it. Markers are
   * encoded with special tokens allowed, contents as plain text, so a user cannot inject a marker.
   */
  encode(tok: Tokenizer, messages: readonly ChatMessage[], options: { addGenerationPrompt?: boolean } = {}): { ids: number[]; train: boolean[] } {
    const ids: number[] = [], train: boolean[] = [];
    const push = (part: number[], learn: boolean) => {
      for (const id of part) {
        ids.push(id);
        train.push(learn);
      }
    };
    const markers = (s: string) => (s === "" ? [] : tok.encode(s, { allowedSpecial: "all", addSpecialTokens: false }));
    for (const m of messages) {
      const { before, after } = this.markers(m.role);
      const learn = m.role === "assistant";
      push(markers(before), false);
      push(tok.encodeOrdinary(m.content), learn);
      push(markers(after), learn);
    }
    if (options.addGenerationPrompt) push(markers(this.generation), false);
    return { ids, train };
  }

  /** The special tokens (strings of the form <|…|>) the template's markers use, in order of first appearance. */
  specialTokens(): string[] {
    const text = ROLES.map((r) => this.render([{ role: r, content: "" }])).join("") + this.generation;
    return [...new Set(text.match(/<\|[^|<>]+\|>/g) ?? [])];
  }
}

/**
 * The tokenizer with `tokens` added as special tokens (ids after the current vocabulary, in order); tokens it already
 * has are kept as they are. Returns the new tokenizer and how many ids were added (the model's vocabulary must grow
 * by as many rows: see resizeVocab).
 */
export function addSpecialTokens(tok: Tokenizer, tokens: readonly string[]): { tokenizer: Tokenizer; added: number } {
  const json = tok.toJSON() as { added_tokens: Record<string, unknown>[] };
  let next = tok.vocabSize, added = 0;
  for (const content of tokens) {
    check(typeof content === "string" && content.length > 0, "BAD_ARGUMENT", "addSpecialTokens: a token must be a non-empty string");
    if (tok.tokenToId(content) !== undefined) continue;
    json.added_tokens.push({ id: next++, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    added++;
  }
  return { tokenizer: added === 0 ? tok : Tokenizer.fromJSON(json), added };
}

/** Checks a parsed messages list; `where` prefixes the error (e.g. "line 3"). */
export function checkMessages(messages: unknown, where: string): ChatMessage[] {
  check(Array.isArray(messages) && messages.length > 0, "BAD_FILE", `${where}: "messages" must be a non-empty array`);
  return messages.map((m, i) => {
    if (m === null || typeof m !== "object") throw new TinyLMError("BAD_FILE", `${where}: messages[${i}] is not an object`);
    const { role, content } = m as Record<string, unknown>;
    check(typeof role === "string" && (ROLES as readonly string[]).includes(role), "BAD_FILE",
      `${where}: messages[${i}].role must be one of ${ROLES.join(", ")}, got ${JSON.stringify(role)}`);
    check(typeof content === "string", "BAD_FILE", `${where}: messages[${i}].content must be a string`);
    check(role !== "assistant" || content.trim() !== "", "BAD_FILE", `${where}: messages[${i}] is an empty assistant response`);
    return { role: role as Role, content };
  });
}
