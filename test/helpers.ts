// Helpers shared by test suites of different stages (kernel-level ones are in test/kernels/helpers.ts).
import { TinyLMError } from "../src/errors.js";

/** max |got − want| over max |want|, with the first few pairs for a failure message. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): { rel: number; head: string } {
  let diff = 0, scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  const head = Array.from({ length: Math.min(4, want.length) }, (_, i) => `${got[i].toFixed(6)}/${want[i].toFixed(6)}`).join(" ");
  return { rel: diff / Math.max(scale, 1e-12), head };
}

/** The TinyLMError `f` throws (anything else is rethrown; no throw fails the test). */
export function errorOf(f: () => unknown): TinyLMError {
  try {
    f();
  } catch (e) {
    if (e instanceof TinyLMError) return e;
    throw e;
  }
  throw new Error("expected a TinyLMError, none was thrown");
}
