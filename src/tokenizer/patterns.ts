// Pre-tokenizer split patterns, and the translation of Rust/Oniguruma regex syntax into JavaScript's.
import { TinyLMError, check } from "../errors.js";

// tiktoken's and Hugging Face's patterns as published (Rust syntax). regexFromRust turns them into JS.
export const GPT2_PATTERN = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
export const CL100K_PATTERN = String.raw`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
export const O200K_PATTERN = [
  String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
  String.raw`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?`,
  String.raw`\p{N}{1,3}`,
  String.raw` ?[^\s\p{L}\p{N}]+[\r\n/]*`,
  String.raw`\s*[\r\n]+`,
  String.raw`\s+(?!\S)`,
  String.raw`\s+`,
].join("|");

// Rust's regex crate and Oniguruma mean Unicode White_Space by \s (no U+FEFF, but U+0085); JS's \s differs on
// both, which is why gpt-tokenizer encodes a BOM differently from tiktoken. \w and \d are Unicode-wide in Rust.
const CLASS_BODY: Record<string, string> = {
  s: String.raw`\p{White_Space}`,
  d: String.raw`\p{Nd}`,
  w: String.raw`\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}`,
};
// Characters JS's u-mode accepts after a backslash outside a class.
const SYNTAX = new Set("^$\\.*+?()[]{}|/".split(""));

/**
 * Translates a Rust-regex / Oniguruma pattern (as found in tokenizer.json and tiktoken) into a JS RegExp with the
 * "gu" flags: `(?i:…)` groups (which Node 20 rejects) become explicit case alternatives, and \s \S \d \w get their
 * Unicode meanings. Throws BAD_FILE naming the pattern when the result is not a valid JS regex.
 */
export function regexFromRust(pattern: string, flags = "gu"): RegExp {
  let out = "";
  let inClass = false;
  const ignoreCaseDepth: number[] = []; // paren depth at which each open (?i: group started
  let depth = 0;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    const fold = ignoreCaseDepth.length > 0;
    if (c === "\\") {
      const e = pattern[i + 1] ?? "";
      i++;
      const lower = e.toLowerCase();
      if (lower in CLASS_BODY) {
        const body = CLASS_BODY[lower];
        const negated = e !== lower;
        if (inClass) {
          // Inside a class only \s, \d, \w (positive) fold into the class body; \S etc. stay as JS has them.
          out += negated ? (lower === "s" ? String.raw`\P{White_Space}` : `\\${e}`) : body;
        } else {
          out += negated ? `[^${body}]` : `[${body}]`;
        }
      } else if (e === "p" || e === "P" || e === "x" || e === "u") {
        // \p{..}, \x{..} / \xHH, \u{..}: copy through, turning Rust's \x{HHHH} into \u{HHHH}.
        let j = i + 1;
        let arg = "";
        if (pattern[j] === "{") {
          const close = pattern.indexOf("}", j);
          check(close > 0, "BAD_FILE", `unterminated escape in regex ${JSON.stringify(pattern)}`);
          arg = pattern.slice(j, close + 1);
          j = close + 1;
        } else if (e === "x") {
          arg = pattern.slice(j, j + 2);
          j += 2;
        } else if (e === "p" || e === "P") {
          arg = `{${pattern[j]}}`; // \pL
          j += 1;
        }
        out += (e === "x" && arg.startsWith("{") ? "\\u" : `\\${e}`) + arg;
        i = j - 1;
      } else if (/[A-Za-z0-9]/.test(e) || inClass || SYNTAX.has(e)) {
        out += `\\${e}`;
      } else {
        out += e === "" ? "\\\\" : /[\u0021-\u007e]/.test(e) ? `\\x${e.charCodeAt(0).toString(16).padStart(2, "0")}` : e;
      }
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += fold && /[A-Za-z]/.test(c) ? c.toLowerCase() + c.toUpperCase() : c;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      if (pattern[i + 1] === "^") out += pattern[++i];
      if (pattern[i + 1] === "]") out += "\\" + pattern[++i]; // a leading ] is a literal
      continue;
    }
    if (c === "(") {
      depth++;
      if (pattern.startsWith("(?i:", i)) {
        ignoreCaseDepth.push(depth);
        out += "(?:";
        i += 3;
        continue;
      }
      out += c;
      continue;
    }
    if (c === ")") {
      if (ignoreCaseDepth[ignoreCaseDepth.length - 1] === depth) ignoreCaseDepth.pop();
      depth--;
      out += c;
      continue;
    }
    out += fold && /[A-Za-z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
  }
  try {
    return new RegExp(out, flags);
  } catch (e) {
    throw new TinyLMError("BAD_FILE", `the split pattern ${JSON.stringify(pattern)} is not a regex tinylm can run: ${(e as Error).message}`);
  }
}

/** Escapes `s` for use as a literal inside a JS RegExp. */
export function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&");
}
