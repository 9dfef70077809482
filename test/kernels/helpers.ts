// Test helpers for the kernel parity tests: seeded inputs and a tolerance check that names the worst element.
import { expect } from "vitest";
import { TinyLMError } from "../../src/errors.js";

/** n uniform values in [lo, hi) from a seeded LCG (reproducible, independent of the library's own PRNG). */
export function uniform(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return out;
}

/**
 * Expects |got − want| ≤ atol + rtol·|want| everywhere; NaN must meet NaN and ±inf the same infinity.
 * On failure the message shows the worst element, its neighbours' values and the largest error.
 */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number, label = ""): void {
  expect(got.length, `${label}: length`).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  let maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    let excess: number;
    if (Number.isNaN(w) || !Number.isFinite(w)) excess = Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)) ? 0 : Infinity;
    else {
      const err = Math.abs(g - w);
      maxErr = Math.max(maxErr, Number.isNaN(err) ? Infinity : err);
      excess = Number.isNaN(err) ? Infinity : err - (atol + rtol * Math.abs(w));
    }
    if (excess > 0 && excess > worstExcess) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    const first = Array.from({ length: Math.min(4, want.length) }, (_, i) => `${got[i]} vs ${want[i]}`).join(", ");
    expect.fail(`${label}: element ${worst} is ${got[worst]}, want ${want[worst]} (atol ${atol}, rtol ${rtol}); ` +
      `max |error| ${maxErr}; first elements ${first}`);
  }
}

/** Distance in units in the last place between two f32 values (bit patterns ordered as integers). */
export function ulpDistance(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  const f = new Float32Array([a, b]);
  const i = new Int32Array(f.buffer);
  const ordered = (v: number) => (v < 0 ? -2147483648 - v : v); // negative floats count down from −0
  return Math.abs(ordered(i[0]) - ordered(i[1]));
}

export const SIZES = [1, 3, 7, 17, 33, 100, 257];

/** Expects `fn` to throw a TinyLMError with `code`. */
export function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TinyLMError);
    expect((e as TinyLMError).code).toBe(code);
    return;
  }
  expect.fail(`expected a TinyLMError ${code}`);
}
