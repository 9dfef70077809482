import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import {
  bf16ArrayToF32, bf16ToF32, f16ArrayToF32, f16BitsToF32Bits, f16ToF32, f32ArrayToBf16, f32ArrayToF16, f32BitsToBf16,
  f32BitsToF16, f32ToBf16, f32ToF16,
} from "../../src/util/f16.js";

// ---- Independent float64 reference: decode by formula, encode by searching the sorted list of halves. ----

function refHalfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25));
}

// Non-negative halves by magnitude; index = bit pattern. Index 0x7c00 stands for +inf at the value 2^16, where the
// next binade would start: rounding to it (from 65520 on, ties going to the even pattern 0x7c00) means overflow.
const halves = new Float64Array(0x7c01);
for (let h = 0; h < 0x7c00; h++) halves[h] = refHalfValue(h);
halves[0x7c00] = 65536;

function refF32ToF16(x: number): number {
  if (Number.isNaN(x)) return -1;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0;
  let hi = 0x7c00; // invariant: halves[lo] <= a < halves[hi]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (halves[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - halves[lo];
  const dHi = halves[hi] - a;
  if (dLo < dHi) return sign | lo;
  if (dHi < dLo) return sign | hi;
  return sign | (lo % 2 === 0 ? lo : hi);
}

function refF32BitsToBf16(bits: number): number {
  const lo = (bits & 0xffff0000) >>> 0;
  const x = bitsToF32(bits);
  const a = Math.abs(x);
  const vLo = Math.abs(bitsToF32(lo));
  const loMag = (lo & 0x7fff0000) >>> 0;
  // The next bf16 up in magnitude; above the largest finite one, the virtual value 2^128 stands for inf.
  const vHi = loMag === 0x7f7f0000 ? 2 ** 128 : Math.abs(bitsToF32(lo + 0x10000));
  if (a - vLo < vHi - a) return lo >>> 16;
  if (vHi - a < a - vLo) return (lo + 0x10000) >>> 16;
  return ((lo >>> 16) & 1) === 0 ? lo >>> 16 : (lo + 0x10000) >>> 16;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsToF32(b: number): number {
  u32[0] = b;
  return f32[0];
}
function f32ToBits(x: number): number {
  f32[0] = x;
  return u32[0];
}

function isF16NaN(h: number): boolean {
  return (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
}

// A deterministic stream of 32-bit patterns for the random sweeps (test-local, so the test depends on nothing else).
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

describe("f16 (against a float64 nearest-half reference)", () => {
  it("decodes all 65,536 patterns like the float64 formula, and each round-trips through f32", () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16ToF32(h);
      const ref = refHalfValue(h);
      if (isF16NaN(h)) {
        expect(Number.isNaN(v)).toBe(true);
        // Bit-level round trip: NaN stays NaN with its sign; a quiet NaN (bit 9 set) keeps its whole payload.
        const back = f32BitsToF16(f16BitsToF32Bits(h));
        expect(isF16NaN(back)).toBe(true);
        expect(back & 0x8000).toBe(h & 0x8000);
        if (h & 0x200) expect(back).toBe(h);
      } else {
        if (!Object.is(v, ref)) throw new Error(`f16 0x${h.toString(16)} decodes to ${v}, reference ${ref}`);
        const back = f32ToF16(v);
        if (back !== h) throw new Error(`f16 0x${h.toString(16)} → ${v} → 0x${back.toString(16)}`);
      }
    }
  });

  it("encodes the boundary values", () => {
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65519.99609375)).toBe(0x7bff); // the f32 just below the halfway point to 65536
    expect(f32ToF16(65520)).toBe(0x7c00); // halfway, ties to the even pattern 0x7c00 = inf
    expect(f32ToF16(-65520)).toBe(0xfc00);
    expect(f32ToF16(1e10)).toBe(0x7c00);
    expect(f32ToF16(Infinity)).toBe(0x7c00);
    expect(f32ToF16(-Infinity)).toBe(0xfc00);
    expect(isF16NaN(f32ToF16(NaN))).toBe(true);
    expect(f32ToF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // half of it: ties to even (zero)
    expect(f32ToF16(bitsToF32(f32ToBits(2 ** -25) + 1))).toBe(0x0001); // just above half: rounds up
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // 1.5 units: ties to even (2)
    expect(f32ToF16(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16(2 ** -14 - 2 ** -25)).toBe(0x0400); // halfway from the largest subnormal: even is 0x400
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // halfway between 1 and 1+2^-10: ties to even (1)
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02); // halfway between 1+2^-10 and 1+2^-9: even is 0x3c02
    expect(f32ToF16(-0)).toBe(0x8000);
    expect(f32ToF16(1e-30)).toBe(0);
    expect(f32ToF16(-1e-30)).toBe(0x8000);
  });

  it("encodes every halfway point between halves, and its f32 neighbours, like the reference", () => {
    let checked = 0;
    for (let h = 0; h < 0x7c00; h++) {
      const mid = h === 0x7bff ? 65520 : (refHalfValue(h) + refHalfValue(h + 1)) / 2; // exact in f32 (12 significant bits)
      const b = f32ToBits(mid);
      for (const bits of [b - 1, b, b + 1, f32ToBits(refHalfValue(h))]) {
        for (const s of [0, 0x80000000]) {
          const x = bitsToF32((bits | s) >>> 0);
          const got = f32BitsToF16((bits | s) >>> 0);
          const want = refF32ToF16(x);
          if (got !== want) throw new Error(`f32 ${x} (0x${((bits | s) >>> 0).toString(16)}): got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
          checked++;
        }
      }
    }
    expect(checked).toBe(0x7c00 * 8);
  });

  it("encodes 1,000,000 random f32 patterns like the reference", () => {
    const next = lcg(12345);
    for (let i = 0; i < 1_000_000; i++) {
      let bits = next();
      // Half of them with an exponent in or near the f16 range (2^-27 .. 2^17), where all the rounding happens.
      if (i % 2 === 0) bits = ((bits & 0x807fffff) | ((100 + (next() % 45)) << 23)) >>> 0;
      const x = bitsToF32(bits);
      const got = f32BitsToF16(bits);
      if (Number.isNaN(x)) {
        expect(isF16NaN(got)).toBe(true);
        continue;
      }
      const want = refF32ToF16(x);
      if (got !== want) throw new Error(`f32 ${x} (0x${bits.toString(16)}): got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
    }
  });

  it("batch converters agree with the scalar ones, also on views with an offset", () => {
    const next = lcg(7);
    const buf = new Float32Array(1003);
    for (let i = 0; i < buf.length; i++) buf[i] = bitsToF32(((next() & 0x8fffffff) | 0x30000000) >>> 0);
    const view = buf.subarray(3);
    const h = f32ArrayToF16(view);
    for (let i = 0; i < view.length; i++) expect(h[i]).toBe(f32ToF16(view[i]));
    const back = f16ArrayToF32(h);
    for (let i = 0; i < view.length; i++) expect(back[i]).toBe(f16ToF32(h[i]));
    const b = f32ArrayToBf16(view);
    for (let i = 0; i < view.length; i++) expect(b[i]).toBe(f32ToBf16(view[i]));
    const bb = bf16ArrayToF32(b, new Float32Array(view.length));
    for (let i = 0; i < view.length; i++) expect(bb[i]).toBe(bf16ToF32(b[i]));
    expect(() => f32ArrayToF16(view, new Uint16Array(3))).toThrow(TinyLMError);
    expect(() => f16ArrayToF32(h, new Float32Array(3))).toThrow(TinyLMError);
  });
});

describe("bf16 (against a float64 nearest-bf16 reference)", () => {
  it("encodes boundary values", () => {
    expect(f32ToBf16(1)).toBe(0x3f80);
    expect(f32ToBf16(bitsToF32(0x3f808000))).toBe(0x3f80); // halfway, even stays
    expect(f32ToBf16(bitsToF32(0x3f818000))).toBe(0x3f82); // halfway, odd rounds up to even
    expect(f32ToBf16(bitsToF32(0x3f808001))).toBe(0x3f81);
    expect(f32ToBf16(bitsToF32(0x7f7fffff))).toBe(0x7f80); // f32 max rounds to inf
    expect(f32ToBf16(bitsToF32(0x7f7f7fff))).toBe(0x7f7f);
    expect(f32ToBf16(Infinity)).toBe(0x7f80);
    expect(f32ToBf16(-Infinity)).toBe(0xff80);
    expect(f32ToBf16(-0)).toBe(0x8000);
    expect(f32ToBf16(bitsToF32(0x00000001))).toBe(0x0000); // subnormals round like everything else
    expect(f32ToBf16(bitsToF32(0x00008001))).toBe(0x0001);
    // Every NaN stays NaN, including those whose payload sits only in the low 16 bits.
    for (const nan of [0x7f800001, 0x7fc00000, 0xff800001, 0x7fffffff, 0xffff0000]) {
      const b = f32BitsToBf16(nan);
      expect((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0).toBe(true);
      expect(b & 0x8000).toBe((nan >>> 16) & 0x8000);
    }
  });

  it("encodes 1,000,000 random f32 patterns like the reference, and decodes all 65,536 patterns", () => {
    const next = lcg(99);
    for (let i = 0; i < 1_000_000; i++) {
      let bits = next();
      if (i % 4 === 0) bits = ((bits & 0xffff0000) | 0x8000) >>> 0; // exact ties
      if (Number.isNaN(bitsToF32(bits))) continue;
      const got = f32BitsToBf16(bits);
      const want = refF32BitsToBf16(bits);
      if (got !== want) throw new Error(`f32 0x${bits.toString(16)}: got 0x${got.toString(16)}, want 0x${want.toString(16)}`);
    }
    for (let b = 0; b < 65536; b++) {
      const v = bf16ToF32(b);
      const isNaN = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
      expect(Number.isNaN(v)).toBe(isNaN);
      if (!isNaN) expect(f32ToBf16(v)).toBe(b);
    }
  });
});
