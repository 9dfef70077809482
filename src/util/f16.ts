import { check } from "../errors.js";

/**
 * IEEE 754 half precision (f16) and bfloat16 (bf16) conversions, bit-exact with what x86's F16C instructions and
 * PyTorch do: round to nearest, ties to even; f16 subnormals kept (not flushed); overflow to ±inf; NaN stays NaN
 * (quieted, sign and top payload bits kept). Values are handled as bit patterns in plain numbers (0..0xffff), the
 * form in which they sit in safetensors and GGUF files.
 *
 * f16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Largest finite 65504; smallest normal 2^-14;
 * smallest subnormal 2^-24. bf16: the top 16 bits of an f32 (8 exponent bits, 7 mantissa bits).
 */

// One scratch word for reinterpreting an f32 as its bits and back.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The f16 bit pattern nearest to `x` after rounding x to f32 (ties to even). */
export function f32ToF16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToF16(scratchU32[0]);
}

/** The value of an f16 bit pattern (exact: every f16 is an f32 and a double). */
export function f16ToF32(h: number): number {
  scratchU32[0] = f16BitsToF32Bits(h);
  return scratchF32[0];
}

/** The bf16 bit pattern nearest to `x` after rounding x to f32 (ties to even). */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  return f32BitsToBf16(scratchU32[0]);
}

/** The value of a bf16 bit pattern. */
export function bf16ToF32(b: number): number {
  scratchU32[0] = (b & 0xffff) << 16;
  return scratchF32[0];
}

/** f32 bits → f16 bits. Works on bits so that NaN payloads survive (a JS number may canonicalize NaN). */
export function f32BitsToF16(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  const e = exp - 127 + 15; // the f16 biased exponent, before rounding
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // f16 subnormal: in units of 2^-24 the value is m · 2^(e - 14), m the 24-bit significand, i.e. m >> (14 - e) plus
    // a remainder to round. Below half a unit (shift > 24) it rounds to zero; exactly half a unit ties to zero (even).
    const shift = 14 - e;
    if (shift > 24) return sign;
    const m = mant | 0x800000;
    const q = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    // A carry out of the subnormal range lands on 0x400, which is exactly the smallest normal: the encoding is continuous.
    return sign | (rem > halfway || (rem === halfway && (q & 1) === 1) ? q + 1 : q);
  }
  const h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa increments the exponent, and out of the top exponent gives 0x7c00 = inf: both correct.
  return rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1) ? h + 1 : h;
}

/** f16 bits → f32 bits. */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 127 - 15) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal f16: shift the leading 1 up to the implicit-bit position; every f16 subnormal is a normal f32.
  let e = 127 - 15 + 1;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** f32 bits → bf16 bits. */
export function f32BitsToBf16(bits: number): number {
  bits >>>= 0;
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // NaN: set the quiet bit so it stays NaN
  // Adding 0x7fff (+1 when the kept part is odd) rounds to nearest even; the sum stays below 2^32 for non-NaN input.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

// f16 → f32 bits for all 65,536 patterns, built on first use (256 KiB): decoding a model is then one load per weight.
let f16Table: Uint32Array | undefined;
function table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** out[i] = f16(inp[i]). Returns out (a new Uint16Array when omitted). */
export function f32ArrayToF16(inp: Float32Array, out: Uint16Array = new Uint16Array(inp.length)): Uint16Array {
  check(out.length === inp.length, "BAD_SHAPE", `f32ArrayToF16: output has ${out.length} elements, input ${inp.length}`);
  const bits = new Uint32Array(inp.buffer, inp.byteOffset, inp.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16(bits[i]);
  return out;
}

/** out[i] = value of the f16 pattern inp[i]. Returns out (a new Float32Array when omitted). */
export function f16ArrayToF32(inp: Uint16Array, out: Float32Array = new Float32Array(inp.length)): Float32Array {
  check(out.length === inp.length, "BAD_SHAPE", `f16ArrayToF32: output has ${out.length} elements, input ${inp.length}`);
  const t = table();
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < inp.length; i++) bits[i] = t[inp[i]];
  return out;
}

/** out[i] = bf16(inp[i]). Returns out (a new Uint16Array when omitted). */
export function f32ArrayToBf16(inp: Float32Array, out: Uint16Array = new Uint16Array(inp.length)): Uint16Array {
  check(out.length === inp.length, "BAD_SHAPE", `f32ArrayToBf16: output has ${out.length} elements, input ${inp.length}`);
  const bits = new Uint32Array(inp.buffer, inp.byteOffset, inp.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBf16(bits[i]);
  return out;
}

/** out[i] = value of the bf16 pattern inp[i]. Returns out (a new Float32Array when omitted). */
export function bf16ArrayToF32(inp: Uint16Array, out: Float32Array = new Float32Array(inp.length)): Float32Array {
  check(out.length === inp.length, "BAD_SHAPE", `bf16ArrayToF32: output has ${out.length} elements, input ${inp.length}`);
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < inp.length; i++) bits[i] = inp[i] << 16;
  return out;
}
