// Decoders: token strings → text, with Hugging Face's semantics (tokenizers/src/decoders). Each step maps a list of
// strings to a list of strings; the tokenizer joins the last list.
import { TinyLMError, check } from "../errors.js";
import { CHAR_TO_BYTE, utf8, utf8Decoder, utf8Strict } from "./bytes.js";
import { escapeRegex, regexFromRust } from "./patterns.js";
import type { PrependScheme } from "./pretokenizers.js";

export interface Decoder {
  decodeChain(tokens: string[]): string[];
  toJSON(): Record<string, unknown>;
}

/** Bytes of a token under GPT-2's byte-level decoder: its alphabet undone, or its raw UTF-8 if a character is foreign. */
export function byteLevelTokenBytes(t: string): Uint8Array {
  const out: number[] = [];
  for (const ch of t) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return utf8(t);
    out.push(b);
  }
  return Uint8Array.from(out);
}

export class ByteLevelDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    const parts = tokens.map(byteLevelTokenBytes);
    const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let n = 0;
    for (const p of parts) {
      all.set(p, n);
      n += p.length;
    }
    return [utf8Decoder.decode(all)];
  }
  toJSON() {
    return { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true };
  }
}

export class MetaspaceDecoder implements Decoder {
  constructor(readonly replacement: string, readonly prependScheme: PrependScheme, readonly split: boolean) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t, i) => {
      let s = "";
      for (const c of t) s += c === this.replacement ? (i === 0 && this.prependScheme !== "never" ? "" : " ") : c;
      return s;
    });
  }
  toJSON() {
    return { type: "Metaspace", replacement: this.replacement, prepend_scheme: this.prependScheme, split: this.split };
  }
}

export class WordPieceDecoder implements Decoder {
  constructor(readonly prefix: string, readonly cleanup: boolean) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t, i) => {
      if (i !== 0) t = t.startsWith(this.prefix) ? t.slice(this.prefix.length) : " " + t;
      return this.cleanup ? cleanup(t) : t;
    });
  }
  toJSON() {
    return { type: "WordPiece", prefix: this.prefix, cleanup: this.cleanup };
  }
}

function cleanup(s: string): string {
  return s.replaceAll(" .", ".").replaceAll(" ?", "?").replaceAll(" !", "!").replaceAll(" ,", ",").replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(" do not", " don't").replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;
export class ByteFallbackDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    const out: string[] = [];
    let pending: number[] = [];
    const flush = () => {
      if (pending.length === 0) return;
      const s = utf8Strict(Uint8Array.from(pending));
      if (s !== undefined) out.push(s);
      else for (let i = 0; i < pending.length; i++) out.push("\uFFFD");
      pending = [];
    };
    for (const t of tokens) {
      if (t.length === 6 && BYTE_TOKEN.test(t)) {
        pending.push(parseInt(t.slice(3, 5), 16));
        continue;
      }
      flush();
      out.push(t);
    }
    flush();
    return out;
  }
  toJSON() {
    return { type: "ByteFallback" };
  }
}

export class FuseDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    return [tokens.join("")];
  }
  toJSON() {
    return { type: "Fuse" };
  }
}

export class StripDecoder implements Decoder {
  constructor(readonly content: string, readonly start: number, readonly stop: number) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t) => {
      const chars = [...t];
      let a = 0;
      while (a < this.start && a < chars.length && chars[a] === this.content) a++;
      let b = chars.length;
      while (chars.length - b < this.stop && b > a && chars[b - 1] === this.content) b--;
      return chars.slice(a, b).join("");
    });
  }
  toJSON() {
    return { type: "Strip", content: this.content, start: this.start, stop: this.stop };
  }
}

export class ReplaceDecoder implements Decoder {
  private readonly re: RegExp;
  constructor(readonly pattern: { String: string } | { Regex: string }, readonly content: string) {
    this.re = "Regex" in pattern ? regexFromRust(pattern.Regex) : new RegExp(escapeRegex(pattern.String), "gu");
  }
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t) => t.replace(this.re, () => this.content));
  }
  toJSON() {
    return { type: "Replace", pattern: this.pattern, content: this.content };
  }
}

export class SequenceDecoder implements Decoder {
  constructor(readonly steps: Decoder[]) {}
  decodeChain(tokens: string[]): string[] {
    for (const d of this.steps) tokens = d.decodeChain(tokens);
    return tokens;
  }
  toJSON() {
    return { type: "Sequence", decoders: this.steps.map((d) => d.toJSON()) };
  }
}

export function decoderFromJSON(j: any): Decoder {
  check(j !== null && typeof j === "object", "BAD_FILE", "a decoder must be an object");
  switch (j.type) {
    case "ByteLevel":
      return new ByteLevelDecoder();
    case "Metaspace":
      return new MetaspaceDecoder(j.replacement ?? "▁", j.prepend_scheme ?? (j.add_prefix_space === false ? "never" : "always"), j.split ?? true);
    case "WordPiece":
      return new WordPieceDecoder(j.prefix ?? "##", j.cleanup ?? true);
    case "ByteFallback":
      return new ByteFallbackDecoder();
    case "Fuse":
      return new FuseDecoder();
    case "Strip":
      return new StripDecoder(j.content ?? " ", j.start ?? 0, j.stop ?? 0);
    case "Replace":
      check(j.pattern && (typeof j.pattern.String === "string" || typeof j.pattern.Regex === "string") && typeof j.content === "string", "BAD_FILE", "a Replace decoder needs pattern {String|Regex} and content");
      return new ReplaceDecoder(j.pattern, j.content);
    case "Sequence":
      check(Array.isArray(j.decoders), "BAD_FILE", "a Sequence decoder needs a decoders array");
      return new SequenceDecoder(j.decoders.map(decoderFromJSON));
    default:
      throw new TinyLMError("UNSUPPORTED", `decoder type ${JSON.stringify(j.type)} is not supported`);
  }
}
