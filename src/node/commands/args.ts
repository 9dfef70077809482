import { check } from "../../errors.js";

/** A command-line flag's value as a positive number (an integer unless `integer` is false), or a TinyLMError naming the flag. */
export function positive(flag: string, v: string | undefined, integer = true): number {
  const x = Number(v);
  check(v !== undefined && Number.isFinite(x) && x > 0 && (!integer || Number.isInteger(x)), "BAD_ARGUMENT",
    `${flag} needs a positive ${integer ? "integer" : "number"}, got ${v ?? "nothing"}`);
  return x;
}
