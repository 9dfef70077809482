// Block quantization in llama.cpp's formats, and matrix products that read the quantized weights directly.
//
// Formats (ggml type ids as `type`; a block is 32 consecutive values of a row; bytes little-endian):
//   Q8_0 = 8: 34 bytes  f16 d, i8 q[32]                     x = d·q
//   Q4_0 = 2: 18 bytes  f16 d, u8 qs[16]                    x = d·(q − 8)
//   Q4_1 = 3: 20 bytes  f16 d, f16 m, u8 qs[16]             x = d·q + m
//   Q4 nibbles: byte j holds q[j] in its low and q[j + 16] in its high nibble (not adjacent pairs).
//
// quantize_rows reproduces ggml's quantize_row_{q8_0,q4_0,q4_1}_ref bit for bit: the scale and its inverse are f32
// (the inverse from the f32 scale, before the scale is rounded to f16), Q8_0 rounds half away from zero, Q4_0 takes
// trunc(x·id + 8.5) clamped to 15 with the signed largest-magnitude value (the first on ties) as d·−8, Q4_1 takes
// trunc((x − min)·id + 0.5) clamped to 15; every product and sum is rounded on its own (no fused multiply-add), and
// f16 rounding is ggml_compute_fp32_to_fp16's (nearest even, subnormals kept).
//
// qmatmul computes y (M,N) = x (M,K) · Wᵀ with W (N,K) in one of the formats, as llama.cpp's CPU backend does on x86:
// each row of x is quantized to 8-bit blocks first (quantize_row_q8_0 / q8_1 of ggml-cpu/arch/x86/quants.c:
// d = amax/127 stored as f16, q = round-half-even(x·127/amax), for Q4_1 weights also s = f16(d·Σq)), then every block
// pair is an exact integer dot product, scaled by f16(dw)·f16(dx) (exact in f32) and accumulated in f32. Only the f32
// accumulation order differs from llama.cpp.
//
// Performance notes (4096×4096 matrix-vector product, bench/quant.ts; each step measured in one process against the
// previous one, ns per 32 weights per row):
// - Weights are repacked once at load time (quant_pack): per group of 4 blocks, their scales as f32, then their quants
//   unchanged. Gathering 4 f16 scales from the file layout and converting them took a quarter of the time; a separate
//   scale array made two streams per row and ran slower on cold weights than one interleaved stream.
// - The weight format is a type parameter (qmatmulT<i8 | u8 | u16>), not an i32 argument: Binaryen did not fold an
//   i32 format through the inlined helpers, and the leftover per-block branches cost a third of the speed.
// - M = 1 walks rows n and n + N/2 together: two far-apart streams keep two prefetchers busy (adjacent rows look like
//   one strided stream and defeat them). Four blocks' integer sums are reduced across lanes into one i32x4 and scaled
//   by one f32x4 of f16(dw)·f16(dx), so scaling costs one convert and one multiply-add per 4 blocks.
// - Plain SIMD widens quants to i16 and uses i32x4.dot_i16x8_s. Q4 nibbles are split inside 16-bit lanes with shifts
//   and masks (no shuffles: 1.93 → 1.63), so the Q4 activations are stored de-interleaved (even, odd elements) to match;
//   Q4_0's −8·Σx is subtracted once per 4 blocks (→ 1.50).
// - Relaxed SIMD uses i16x8.relaxed_dot_i8x16_i7x16_s, whose second operand must be 0..127. Q4 nibbles are; for Q8_0
//   the activations are stored as |q| plus a sign mask that moves onto the weights (xor, sub): 1.61 → 1.27, where
//   the same trick lost before the format was a type parameter. i16 lanes are widened with i32x4.dot_i16x8_s against
//   ones (cheaper than extadd_pairwise here). Not i32x4.relaxed_dot_i8x16_i7x16_add_s: Node 20 returns twice the
//   right value until its optimizing tier runs. A −128 weight quant cannot be negated in i8, so quant_pack counts them
//   (llama.cpp never writes one) and the TypeScript side refuses such a file in the relaxed build.
// - Tried and dropped: v128.load8x8_s for Q8_0 (slower than load + extend), sharing explicitly loaded activation
//   vectors between the two rows (no change), sign-extending Q8_0 with shifts instead of extends (slower).
// - M > 1 takes 4 rows of x per weight row, so each weight block is unpacked once for 4 dot products, over a panel
//   of weight rows small enough to stay in L2 while every group of 4 rows of x passes over it.
// - Rounding uses the 1.5·2^23 magic constant, never i32x4.trunc_sat_f32x4_s (~5 instructions in V8), and block
//   extrema use pmin/pmax (one instruction) rather than f32x4.min/max (~8).
import { madd, hmax } from "./simd";

const Q4_0: i32 = 2;
const Q4_1: i32 = 3;
const Q8_0: i32 = 8;
const QK: i32 = 32;

const MAGIC: f32 = 12582912.0; // 1.5·2^23: adding it rounds an f32 below 2^22 to an integer, nearest even
const MAGIC_BITS: i32 = 0x4b400000;

/** Bytes of one block of `type` (0 for an unknown type). */
// @ts-ignore: decorator
@inline function blockBytes(type: i32): i32 {
  return type == Q8_0 ? 34 : type == Q4_0 ? 18 : type == Q4_1 ? 20 : 0;
}

// @ts-ignore: decorator
@inline function qsOffset(type: i32): usize {
  return type == Q4_1 ? 4 : 2;
}

// f32 → f16 bits: ggml_compute_fp32_to_fp16 (ggml-impl.h), the FP16 library's branch-light rounding to nearest even.
// @ts-ignore: decorator
@inline function toF16(f: f32): u32 {
  let base = (abs<f32>(f) * reinterpret<f32>(0x77800000)) * reinterpret<f32>(0x08800000);
  const w = reinterpret<u32>(f);
  const shl1 = w + w;
  const sign = w & 0x80000000;
  let bias = shl1 & 0xff000000;
  if (bias < 0x71000000) bias = 0x71000000;
  base = reinterpret<f32>((bias >> 1) + 0x07800000) + base;
  const bits = reinterpret<u32>(base);
  const nonsign = ((bits >> 13) & 0x7c00) + (bits & 0x0fff);
  return (sign >> 16) | (shl1 > 0xff000000 ? 0x7e00 : nonsign);
}

// f16 bits → f32, exact: the magnitude bits shifted into f32 position and multiplied by 2^112 give every normal and
// subnormal f16; exponent 31 (inf/NaN) is patched to 255.
// @ts-ignore: decorator
@inline function fromF16(h: u32): f32 {
  const em = (h & 0x7fff) << 13;
  let bits = reinterpret<u32>(reinterpret<f32>(em) * reinterpret<f32>(0x77800000));
  if (em >= 0x0f800000) bits |= 0x7f800000;
  return reinterpret<f32>(bits | ((h & 0x8000) << 16));
}

// f16(x) as an f32: the scale value the kernels multiply with.
// @ts-ignore: decorator
@inline function roundF16(f: f32): f32 {
  return fromF16(toF16(f));
}

// An integer-valued f32x4 (|v| < 2^22) as i32x4.
// @ts-ignore: decorator
@inline function toInt(v: v128): v128 {
  return i32x4.sub(f32x4.add(v, f32x4.splat(MAGIC)), i32x4.splat(MAGIC_BITS));
}

// roundf: to nearest, halves away from zero (exact: the fraction v − trunc(v) is computed without rounding).
// @ts-ignore: decorator
@inline function roundAway(v: v128): v128 {
  const t = f32x4.trunc(v);
  const half = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const one = v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(1));
  return f32x4.add(t, v128.and(half, one));
}

// Lanes that are ±inf or NaN (x − x is NaN exactly for those).
// @ts-ignore: decorator
@inline function nonFinite(v: v128): v128 {
  const z = f32x4.sub(v, v);
  return f32x4.ne(z, z);
}

// ---------------------------------------------------------------------------------------------------------------
// Quantize and dequantize

// dst (rows, cols/32 blocks of `type`) ← src (rows, cols) f32. Returns 1 if src holds a NaN or an infinity (the bytes
// written for such a block are unspecified), else 0. cols must be a multiple of 32.
export function quantize_rows(dst: usize, src: usize, type: i32, rows: i32, cols: i32): i32 {
  const n = <usize>rows * <usize>(cols / QK);
  let bad = i32x4.splat(0);
  for (let b: usize = 0; b < n; b++) {
    const x = src + b * 128;
    for (let j: usize = 0; j < 8; j++) bad = v128.or(bad, nonFinite(v128.load(x + j * 16)));
    if (type == Q8_0) quantizeQ8_0(dst + b * 34, x);
    else if (type == Q4_0) quantizeQ4_0(dst + b * 18, x);
    else quantizeQ4_1(dst + b * 20, x);
  }
  return v128.any_true(bad) ? 1 : 0;
}

function quantizeQ8_0(y: usize, x: usize): void {
  let m = f32x4.abs(v128.load(x));
  for (let j: usize = 1; j < 8; j++) m = f32x4.pmax(m, f32x4.abs(v128.load(x + j * 16)));
  const d = hmax(m) / 127;
  const id: f32 = d != 0 ? 1 / d : 0;
  store<u16>(y, <u16>toF16(d));
  // 1/d overflows only for blocks below ~2^-121; C's float → int8 conversion then yields 0 for every element.
  if (!isFinite(id)) {
    memory.fill(y + 2, 0, 32);
    return;
  }
  const vid = f32x4.splat(id);
  for (let h: usize = 0; h < 2; h++) {
    const p = x + h * 64;
    const a = i16x8.narrow_i32x4_s(toInt(roundAway(f32x4.mul(v128.load(p), vid))), toInt(roundAway(f32x4.mul(v128.load(p, 16), vid))));
    const b = i16x8.narrow_i32x4_s(toInt(roundAway(f32x4.mul(v128.load(p, 32), vid))), toInt(roundAway(f32x4.mul(v128.load(p, 48), vid))));
    v128.store(y + 2 + h * 16, i8x16.narrow_i16x8_s(a, b));
  }
}

// 16 quantized 4-bit values of x[0..15] (lo) and x[16..31] (hi), given q(v) for an f32x4, packed as llama.cpp does.
// @ts-ignore: decorator
@inline function packNibbles(y: usize, x: usize, vid: v128, vmin: v128, bias: f32): void {
  const vb = f32x4.splat(bias);
  const q0 = i16x8.narrow_i32x4_s(nib(x, 0, vid, vmin, vb), nib(x, 16, vid, vmin, vb));
  const q1 = i16x8.narrow_i32x4_s(nib(x, 32, vid, vmin, vb), nib(x, 48, vid, vmin, vb));
  const q2 = i16x8.narrow_i32x4_s(nib(x, 64, vid, vmin, vb), nib(x, 80, vid, vmin, vb));
  const q3 = i16x8.narrow_i32x4_s(nib(x, 96, vid, vmin, vb), nib(x, 112, vid, vmin, vb));
  const fifteen = i8x16.splat(15);
  const lo = i8x16.min_u(i8x16.narrow_i16x8_u(q0, q1), fifteen);
  const hi = i8x16.min_u(i8x16.narrow_i16x8_u(q2, q3), fifteen);
  v128.store(y, v128.or(lo, i16x8.shl(hi, 4))); // hi ≤ 15, so the 16-bit shift never crosses a byte
}

// trunc((x − min)·id + bias) for 4 values at x + o, as i32x4 (C's (int8_t) cast of a value in 0..16.5).
// @ts-ignore: decorator
@inline function nib(x: usize, o: usize, vid: v128, vmin: v128, vb: v128): v128 {
  return toInt(f32x4.trunc(f32x4.add(f32x4.mul(f32x4.sub(v128.load(x + o), vmin), vid), vb)));
}

function quantizeQ4_0(y: usize, x: usize): void {
  let hi = v128.load(x), lo = hi;
  for (let j: usize = 1; j < 8; j++) {
    const v = v128.load(x + j * 16);
    hi = f32x4.pmax(hi, v);
    lo = f32x4.pmin(lo, v);
  }
  const mx = hmax(hi), mn = -hmax(f32x4.neg(lo));
  // The signed value of largest magnitude, the first one on ties; +0 for a block of zeros (C starts from max = 0).
  let m: f32 = 0;
  if (mx > -mn) m = mx;
  else if (-mn > mx) m = mn;
  else if (mx != 0) {
    for (let j: usize = 0; j < 32; j++) {
      const v = load<f32>(x + j * 4);
      if (abs<f32>(v) == mx) {
        m = v;
        break;
      }
    }
  }
  const d = m / -8;
  const id: f32 = d != 0 ? 1 / d : 0;
  store<u16>(y, <u16>toF16(d));
  if (!isFinite(id)) {
    memory.fill(y + 2, 0, 16);
    return;
  }
  packNibbles(y + 2, x, f32x4.splat(id), f32x4.splat(0), 8.5);
}

function quantizeQ4_1(y: usize, x: usize): void {
  let hi = v128.load(x), lo = hi;
  for (let j: usize = 1; j < 8; j++) {
    const v = v128.load(x + j * 16);
    hi = f32x4.pmax(hi, v);
    lo = f32x4.pmin(lo, v);
  }
  let mx = hmax(hi), mn = -hmax(f32x4.neg(lo));
  // C keeps the first of equal extremes; only the sign of a zero can tell them apart, and it reaches the bytes (d, m).
  if (mx == 0 || mn == 0) {
    mn = F32.MAX_VALUE;
    mx = -F32.MAX_VALUE;
    for (let j: usize = 0; j < 32; j++) {
      const v = load<f32>(x + j * 4);
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
  }
  const d = (mx - mn) / 15;
  const id: f32 = d != 0 ? 1 / d : 0;
  store<u16>(y, <u16>toF16(d));
  store<u16>(y, <u16>toF16(mn), 2);
  // An infinite 1/d (range below ~2^-124) or an infinite range (max − min overflows): C's casts yield 0 everywhere.
  if (!isFinite(id) || !isFinite(d)) {
    memory.fill(y + 4, 0, 16);
    return;
  }
  packNibbles(y + 4, x, f32x4.splat(id), f32x4.splat(mn), 0.5);
}

// dst (rows, cols) f32 ← src (rows, cols/32 blocks of `type`). cols must be a multiple of 32.
export function dequantize_rows(dst: usize, src: usize, type: i32, rows: i32, cols: i32): void {
  const n = <usize>rows * <usize>(cols / QK);
  const bb = <usize>blockBytes(type);
  for (let b: usize = 0; b < n; b++) {
    const blk = src + b * bb;
    const y = dst + b * 128;
    const d = f32x4.splat(fromF16(load<u16>(blk)));
    if (type == Q8_0) {
      for (let h: usize = 0; h < 2; h++) {
        const q = v128.load(blk + 2 + h * 16);
        const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
        const o = y + h * 64;
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), d));
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), d), 16);
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), d), 32);
        v128.store(o, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), d), 48);
      }
    } else {
      const q = v128.load(blk + qsOffset(type));
      const mask = i8x16.splat(0x0f);
      // Q4_0 subtracts 8 from the nibble (exact, in integers); Q4_1 adds m after the product, rounded on its own.
      const off = i8x16.splat(type == Q4_0 ? 8 : 0);
      const m = f32x4.splat(type == Q4_1 ? fromF16(load<u16>(blk, 2)) : 0);
      for (let h: usize = 0; h < 2; h++) {
        const nib = i8x16.sub(v128.and(h == 0 ? q : i16x8.shr_u(q, 4), mask), off);
        const lo = i16x8.extend_low_i8x16_s(nib), hi = i16x8.extend_high_i8x16_s(nib);
        const o = y + h * 64;
        v128.store(o, dq4(i32x4.extend_low_i16x8_s(lo), d, m, type));
        v128.store(o, dq4(i32x4.extend_high_i16x8_s(lo), d, m, type), 16);
        v128.store(o, dq4(i32x4.extend_low_i16x8_s(hi), d, m, type), 32);
        v128.store(o, dq4(i32x4.extend_high_i16x8_s(hi), d, m, type), 48);
      }
    }
  }
}

// @ts-ignore: decorator
@inline function dq4(q: v128, d: v128, m: v128, type: i32): v128 {
  const p = f32x4.mul(f32x4.convert_i32x4_s(q), d);
  return type == Q4_1 ? f32x4.add(p, m) : p;
}

// ---------------------------------------------------------------------------------------------------------------
// Activations quantized to 8 bits per block, laid out for the dot products of one weight type.
//
// One row of x (K values, nb = K/32 blocks, nb4 = nb rounded up to a multiple of 4) becomes:
//   qs      nb · actBytes(type)   the 32 int8 values in the layout the dot product wants (see actBytes)
//   scales  nb4 f32               f16(d) as f32; 0 past nb
//   sums    nb4 × 4 bytes         Q4_0: 8·Σq as i32 (Σ (q_w − 8)·q_x = Σ q_w·q_x − 8·Σq_x)
//                                 Q4_1: f16(d·Σq) as f32, the ggml Q8_1 "s" term; 0 past nb

// The qs of a block: plain SIMD, 32 i16 (Q8_0 in element order; Q4 as x[0,2..14], x[16,18..30], x[1,3..15],
// x[17,19..31], the order the nibbles come out of 16-bit lanes). Relaxed, Q8_0: 32 bytes |q| then 32 bytes of sign
// masks. Relaxed, Q4: 32 int8 in element order.
// @ts-ignore: decorator
@inline function actBytes(type: i32): i32 {
  return ASC_FEATURE_RELAXED_SIMD && type != Q8_0 ? 32 : 64;
}

// @ts-ignore: decorator
@inline function actRowBytes(type: i32, K: i32): i32 {
  const nb = K / QK;
  return nb * actBytes(type) + 8 * ((nb + 3) & ~3);
}

/** Bytes of workspace qmatmul needs for M rows of K values against weights of `type`. */
export function qmatmul_work_bytes(type: i32, M: i32, K: i32): i32 {
  return M * actRowBytes(type, K);
}

// dst (one row of activations in the layout above) ← x (K) f32, quantized for weights of `type`.
function quantizeActivations(dst: usize, x: usize, type: i32, K: i32): void {
  const nb = K / QK;
  const nb4 = (nb + 3) & ~3;
  const ab = <usize>actBytes(type);
  const scales = dst + <usize>nb * ab;
  const sums = scales + <usize>nb4 * 4;
  for (let b = 0; b < nb; b++) {
    const p = x + <usize>b * 128;
    let m = f32x4.abs(v128.load(p));
    let bad = nonFinite(v128.load(p));
    for (let j: usize = 1; j < 8; j++) {
      const v = v128.load(p + j * 16);
      m = f32x4.pmax(m, f32x4.abs(v));
      bad = v128.or(bad, nonFinite(v));
    }
    const amax = hmax(m);
    const d = amax / 127;
    let id: f32 = amax != 0 ? 127 / amax : 0;
    // x86's quantize_row_q8_0 turns an infinite 127/amax into garbage quants, but f16(d) is then 0, so they count 0;
    // use 0. A NaN or infinity in the block makes its scale NaN, so the output shows it (as f32 weights would).
    if (!isFinite(id)) id = 0;
    store<f32>(scales + <usize>b * 4, v128.any_true(bad) ? NaN : roundF16(d));
    const vid = f32x4.splat(id);
    // q = round-half-even(x·id), _mm256_round_ps(_MM_ROUND_NEAREST): the magic constant does exactly that.
    const q0 = toInt(f32x4.mul(v128.load(p), vid)), q1 = toInt(f32x4.mul(v128.load(p, 16), vid));
    const q2 = toInt(f32x4.mul(v128.load(p, 32), vid)), q3 = toInt(f32x4.mul(v128.load(p, 48), vid));
    const q4 = toInt(f32x4.mul(v128.load(p, 64), vid)), q5 = toInt(f32x4.mul(v128.load(p, 80), vid));
    const q6 = toInt(f32x4.mul(v128.load(p, 96), vid)), q7 = toInt(f32x4.mul(v128.load(p, 112), vid));
    const s4 = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
    const sum = i32x4.extract_lane(s4, 0) + i32x4.extract_lane(s4, 1) + i32x4.extract_lane(s4, 2) + i32x4.extract_lane(s4, 3);
    if (type == Q4_0) store<i32>(sums + <usize>b * 4, 8 * sum);
    else if (type == Q4_1) store<f32>(sums + <usize>b * 4, roundF16(d * <f32>sum));
    const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
    const h2 = i16x8.narrow_i32x4_s(q4, q5), h3 = i16x8.narrow_i32x4_s(q6, q7);
    const o = dst + <usize>b * ab;
    if (ASC_FEATURE_RELAXED_SIMD) {
      const lo = i8x16.narrow_i16x8_s(h0, h1), hi = i8x16.narrow_i16x8_s(h2, h3);
      if (type == Q8_0) {
        v128.store(o, i8x16.abs(lo));
        v128.store(o, i8x16.abs(hi), 16);
        v128.store(o, i8x16.lt_s(lo, i8x16.splat(0)), 32);
        v128.store(o, i8x16.lt_s(hi, i8x16.splat(0)), 48);
      } else {
        v128.store(o, lo);
        v128.store(o, hi, 16);
      }
    } else if (type == Q8_0) {
      v128.store(o, h0);
      v128.store(o, h1, 16);
      v128.store(o, h2, 32);
      v128.store(o, h3, 48);
    } else {
      v128.store(o, i16x8.shuffle(h0, h1, 0, 2, 4, 6, 8, 10, 12, 14));
      v128.store(o, i16x8.shuffle(h2, h3, 0, 2, 4, 6, 8, 10, 12, 14), 16);
      v128.store(o, i16x8.shuffle(h0, h1, 1, 3, 5, 7, 9, 11, 13, 15), 32);
      v128.store(o, i16x8.shuffle(h2, h3, 1, 3, 5, 7, 9, 11, 13, 15), 48);
    }
  }
  for (let b = nb; b < nb4; b++) {
    store<f32>(scales + <usize>b * 4, 0);
    store<i32>(sums + <usize>b * 4, 0);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The packed layout qmatmul reads. Gathering and converting the f16 scales of 4 blocks cost a quarter of the time of a
// matrix-vector product, so a matrix is repacked once when it is loaded. Each row becomes groups of 4 blocks:
//   scales  4 f32            f16(d) of each block as f32 (0 for the missing blocks of a last, partial group)
//   mins    4 f32            Q4_1 only: f16(m) as f32
//   qs      up to 4 blocks   their quants as they are in the file (32 int8, or 16 bytes of nibbles)
// Every field is 16-byte aligned, and a row is read front to back as one stream (a separate scale array would be a
// second stream per row, which measured slower on cold weights). quant_unpack restores the file's blocks bit for bit.

// @ts-ignore: decorator
@inline function qsBytes(type: i32): i32 {
  return type == Q8_0 ? 32 : 16;
}

// Bytes of a group header (scales, and Q4_1's mins).
// @ts-ignore: decorator
@inline function headBytes(type: i32): i32 {
  return type == Q4_1 ? 32 : 16;
}

// @ts-ignore: decorator
@inline function groupBytes(type: i32): i32 {
  return headBytes(type) + 4 * qsBytes(type);
}

/** Bytes of one packed row of `cols` values of `type`. */
export function packed_row_bytes(type: i32, cols: i32): i32 {
  const nb = cols / QK;
  return (nb >> 2) * groupBytes(type) + ((nb & 3) != 0 ? headBytes(type) + (nb & 3) * qsBytes(type) : 0);
}

// Byte offset of block b's scale in a packed row (its min is 16 further, its quants at quantsAt).
// @ts-ignore: decorator
@inline function scaleAt(type: i32, b: i32): usize {
  return <usize>((b >> 2) * groupBytes(type) + (b & 3) * 4);
}

// @ts-ignore: decorator
@inline function quantsAt(type: i32, b: i32): usize {
  return <usize>((b >> 2) * groupBytes(type) + headBytes(type) + (b & 3) * qsBytes(type));
}

// dst (rows, packed_row_bytes) ← src (rows, cols/32 blocks of `type`) in the file layout. Returns the number of Q8_0
// blocks holding a −128 quant (llama.cpp's quantizers never write one; the relaxed-SIMD product cannot negate it).
export function quant_pack(dst: usize, src: usize, type: i32, rows: i32, cols: i32): i32 {
  const nb = cols / QK;
  const bb = <usize>blockBytes(type), qb = <usize>qsBytes(type), rb = <usize>packed_row_bytes(type, cols);
  memory.fill(dst, 0, <usize>rows * rb); // the scales of a partial group's missing blocks are 0
  let minus128 = 0;
  for (let r = 0; r < rows; r++) {
    const row = dst + <usize>r * rb;
    for (let b = 0; b < nb; b++) {
      const blk = src + (<usize>r * nb + b) * bb;
      store<f32>(row + scaleAt(type, b), fromF16(load<u16>(blk)));
      if (type == Q4_1) store<f32>(row + scaleAt(type, b) + 16, fromF16(load<u16>(blk, 2)));
      memory.copy(row + quantsAt(type, b), blk + qsOffset(type), qb);
      if (type == Q8_0) {
        const lowest = i8x16.splat(-128);
        if (v128.any_true(v128.or(i8x16.eq(v128.load(blk, 2), lowest), i8x16.eq(v128.load(blk, 18), lowest)))) minus128++;
      }
    }
  }
  return minus128;
}

// f16 bits of an f32 that came from an f16: exact, and NaN payloads survive.
// @ts-ignore: decorator
@inline function backToF16(f: f32): u16 {
  const bits = reinterpret<u32>(f);
  if ((bits & 0x7f800000) == 0x7f800000) return <u16>(((bits >> 16) & 0x8000) | 0x7c00 | ((bits >> 13) & 0x3ff));
  return <u16>toF16(f);
}

// dst (rows, cols/32 blocks of `type`) in the file layout ← src packed by quant_pack.
export function quant_unpack(dst: usize, src: usize, type: i32, rows: i32, cols: i32): void {
  const nb = cols / QK;
  const bb = <usize>blockBytes(type), qb = <usize>qsBytes(type), rb = <usize>packed_row_bytes(type, cols);
  for (let r = 0; r < rows; r++) {
    const row = src + <usize>r * rb;
    for (let b = 0; b < nb; b++) {
      const blk = dst + (<usize>r * nb + b) * bb;
      store<u16>(blk, backToF16(load<f32>(row + scaleAt(type, b))));
      if (type == Q4_1) store<u16>(blk, backToF16(load<f32>(row + scaleAt(type, b) + 16)), 2);
      memory.copy(blk + qsOffset(type), row + quantsAt(type, b), qb);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Block dot products, compiled once per weight format: the format is a type parameter (i8 = Q8_0, u8 = Q4_0,
// u16 = Q4_1), so every branch on it is decided at compile time. (An i32 format passed through the inlined helpers
// was not constant-folded by the optimizer, and the per-block branches cost a third of the speed.)

// @ts-ignore: decorator
@inline function fmt<T>(): i32 {
  return isSigned<T>() ? Q8_0 : sizeof<T>() == 1 ? Q4_0 : Q4_1;
}

// The quants of the weight block at q unpacked into up to four vectors u0..u3, which dot() combines with one activation
// block laid out to match (see actBytes):
//   plain Q8_0:   u0..u3 = q[0..7], q[8..15], q[16..23], q[24..31] as i16
//   plain Q4:     16-bit lane l of the nibble bytes holds q[2l] | q[2l+16] << 4 | q[2l+1] << 8 | q[2l+17] << 12, so
//                 masks and shifts give u0..u3 = q[0,2..14], q[16,18..30], q[1,3..15], q[17,19..31] as i16
//   relaxed Q8_0: u0, u1 = the raw bytes q[0..15], q[16..31] (dot() moves the sign of x onto them)
//   relaxed Q4:   u0, u1 = q[0..15], q[16..31] as bytes
// @ts-ignore: decorator
@inline function u0<T>(q: usize): v128 {
  if (fmt<T>() == Q8_0) {
    if (ASC_FEATURE_RELAXED_SIMD) return v128.load(q);
    return i16x8.extend_low_i8x16_s(v128.load(q));
  }
  if (ASC_FEATURE_RELAXED_SIMD) return v128.and(v128.load(q), i8x16.splat(0x0f));
  return v128.and(v128.load(q), i16x8.splat(0x0f));
}
// @ts-ignore: decorator
@inline function u1<T>(q: usize): v128 {
  if (fmt<T>() == Q8_0) {
    if (ASC_FEATURE_RELAXED_SIMD) return v128.load(q, 16);
    return i16x8.extend_high_i8x16_s(v128.load(q));
  }
  if (ASC_FEATURE_RELAXED_SIMD) return v128.and(i16x8.shr_u(v128.load(q), 4), i8x16.splat(0x0f));
  return v128.and(i16x8.shr_u(v128.load(q), 4), i16x8.splat(0x0f));
}
// @ts-ignore: decorator
@inline function u2<T>(q: usize): v128 {
  if (fmt<T>() == Q8_0) {
    if (ASC_FEATURE_RELAXED_SIMD) return i32x4.splat(0);
    return i16x8.extend_low_i8x16_s(v128.load(q, 16));
  }
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.splat(0);
  return v128.and(i16x8.shr_u(v128.load(q), 8), i16x8.splat(0x0f));
}
// @ts-ignore: decorator
@inline function u3<T>(q: usize): v128 {
  if (fmt<T>() == Q8_0) {
    if (ASC_FEATURE_RELAXED_SIMD) return i32x4.splat(0);
    return i16x8.extend_high_i8x16_s(v128.load(q, 16));
  }
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.splat(0);
  return i16x8.shr_u(v128.load(q), 12);
}

// i32x4 partial sums adding up to Σ q_w·q_x over one block (activation block a; Q4 nibbles taken as 0..15).
// @ts-ignore: decorator
@inline function dot<T>(a0: v128, a1: v128, a2: v128, a3: v128, a: usize): v128 {
  let p: v128;
  if (ASC_FEATURE_RELAXED_SIMD && fmt<T>() == Q8_0) {
    // relaxed_dot needs its second operand in 0..127: the activations are stored as |q| and a sign mask, and the
    // sign moves onto the weights. Each i16 lane ≤ 2·127·127, so the halves are widened before they are added.
    const m0 = v128.load(a, 32), m1 = v128.load(a, 48);
    const ones = i16x8.splat(1);
    p = i32x4.add(
      i32x4.dot_i16x8_s(ones, i16x8.relaxed_dot_i8x16_i7x16_s(i8x16.sub(v128.xor(a0, m0), m0), v128.load(a))),
      i32x4.dot_i16x8_s(ones, i16x8.relaxed_dot_i8x16_i7x16_s(i8x16.sub(v128.xor(a1, m1), m1), v128.load(a, 16))));
  } else if (ASC_FEATURE_RELAXED_SIMD && fmt<T>() != Q8_0) {
    // Each i16 lane ≤ 2·127·15: both halves fit one i16 sum. dot with ones widens pairs (cheaper than extadd here).
    p = i32x4.dot_i16x8_s(i16x8.splat(1), i16x8.add(
      i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a), a0), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(a, 16), a1)));
  } else {
    p = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(a0, v128.load(a)), i32x4.dot_i16x8_s(a1, v128.load(a, 16))),
      i32x4.add(i32x4.dot_i16x8_s(a2, v128.load(a, 32)), i32x4.dot_i16x8_s(a3, v128.load(a, 48))));
  }
  return p;
}

// @ts-ignore: decorator
@inline function blockSums<T>(q: usize, a: usize): v128 {
  return dot<T>(u0<T>(q), u1<T>(q), u2<T>(q), u3<T>(q), a);
}

// Lanes 0,1 ← p's lanes folded in half, lanes 2,3 ← q's: two blocks' partial sums halfway reduced.
// @ts-ignore: decorator
@inline function halves(p: v128, q: v128): v128 {
  return i32x4.add(i32x4.shuffle(p, q, 0, 1, 4, 5), i32x4.shuffle(p, q, 2, 3, 6, 7));
}

// The four block totals from halves(p0, p1) and halves(p2, p3): lane l = Σ of block l's partial sums.
// @ts-ignore: decorator
@inline function lanes(t: v128, u: v128): v128 {
  return i32x4.add(i32x4.shuffle(t, u, 0, 2, 4, 6), i32x4.shuffle(t, u, 1, 3, 5, 7));
}

// y0 = x·w0, y1 = x·w1 for one activation row xa and two packed weight rows (nb blocks each).
// @ts-ignore: decorator
@inline function rowPair<T>(y0: usize, y1: usize, xa: usize, w0: usize, w1: usize, nb: i32): void {
  const type = fmt<T>();
  const qb = <usize>qsBytes(type), ab = <usize>actBytes(type), hb = <usize>headBytes(type), gb = <usize>groupBytes(type);
  const scales = xa + <usize>nb * ab, sumv = scales + <usize>((nb + 3) & ~3) * 4;
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  // Four blocks at a time: their integer sums are reduced across lanes into one i32x4 (lane l = block l) and scaled
  // by one vector of four f16(dw)·f16(dx) products (exact in f32).
  let b = 0;
  for (; b + 4 <= nb; b += 4) {
    const g0 = w0 + <usize>(b >> 2) * gb, g1 = w1 + <usize>(b >> 2) * gb;
    const dx = v128.load(scales + <usize>b * 4);
    const qa = g0 + hb, qc = g1 + hb, a = xa + <usize>b * ab, u = sumv + <usize>b * 4;
    if (type == Q4_1) {
      const sx = v128.load(u);
      acc0 = madd(v128.load(g0, 16), sx, acc0);
      acc1 = madd(v128.load(g1, 16), sx, acc1);
    }
    const a0 = blockSums<T>(qa, a), c0 = blockSums<T>(qc, a);
    const a1 = blockSums<T>(qa + qb, a + ab), c1 = blockSums<T>(qc + qb, a + ab);
    const ta = halves(a0, a1), tc = halves(c0, c1);
    const a2 = blockSums<T>(qa + 2 * qb, a + 2 * ab), c2 = blockSums<T>(qc + 2 * qb, a + 2 * ab);
    const a3 = blockSums<T>(qa + 3 * qb, a + 3 * ab), c3 = blockSums<T>(qc + 3 * qb, a + 3 * ab);
    let ha = lanes(ta, halves(a2, a3)), hc = lanes(tc, halves(c2, c3));
    if (type == Q4_0) {
      const fix = v128.load(u);
      ha = i32x4.sub(ha, fix);
      hc = i32x4.sub(hc, fix);
    }
    acc0 = madd(f32x4.convert_i32x4_s(ha), f32x4.mul(v128.load(g0), dx), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(hc), f32x4.mul(v128.load(g1), dx), acc1);
  }
  // The blocks of a last, partial group, one at a time.
  for (; b < nb; b++) {
    const dx = v128.load32_splat(scales + <usize>b * 4);
    const a = xa + <usize>b * ab, u = sumv + <usize>b * 4;
    const s0 = w0 + scaleAt(type, b), s1 = w1 + scaleAt(type, b);
    if (type == Q4_1) {
      const sx = v128.load32_zero(u);
      acc0 = madd(v128.load32_splat(s0, 16), sx, acc0);
      acc1 = madd(v128.load32_splat(s1, 16), sx, acc1);
    }
    let pa = blockSums<T>(w0 + quantsAt(type, b), a), pc = blockSums<T>(w1 + quantsAt(type, b), a);
    if (type == Q4_0) {
      const fix = v128.load32_zero(u);
      pa = i32x4.sub(pa, fix);
      pc = i32x4.sub(pc, fix);
    }
    acc0 = madd(f32x4.convert_i32x4_s(pa), f32x4.mul(v128.load32_splat(s0), dx), acc0);
    acc1 = madd(f32x4.convert_i32x4_s(pc), f32x4.mul(v128.load32_splat(s1), dx), acc1);
  }
  // Both old values are read before either store: y0 and y1 are the same address for an odd N's last row.
  const old0: f32 = accumulating ? load<f32>(y0) : 0, old1: f32 = accumulating ? load<f32>(y1) : 0;
  store<f32>(y0, hsum4(acc0) + old0);
  store<f32>(y1, hsum4(acc1) + old1);
}

// One block of one activation row in rowsQuad's block-at-a-time loop: acc + Σ q_w·q_x · f16(dw)·f16(dx), plus Q4_1's m·s.
// @ts-ignore: decorator
@inline function quadTerm<T>(x: usize, k: usize, ab: usize, so: usize, uo: usize, dw: v128, m: v128,
  a0: v128, a1: v128, a2: v128, a3: v128, acc: v128): v128 {
  const u = x + uo + k * 4;
  if (fmt<T>() == Q4_1) acc = madd(m, v128.load32_zero(u), acc);
  const scale = f32x4.mul(dw, v128.load32_splat(x + so + k * 4));
  const p = dot<T>(a0, a1, a2, a3, x + k * ab);
  return madd(f32x4.convert_i32x4_s(fmt<T>() == Q4_0 ? i32x4.sub(p, v128.load32_zero(u)) : p), scale, acc);
}

// Integer partial sums of the weight block unpacked in w0..w3 against block k of the activation row x.
// @ts-ignore: decorator
@inline function rowSums<T>(x: usize, k: usize, ab: usize, w0: v128, w1: v128, w2: v128, w3: v128): v128 {
  return dot<T>(w0, w1, w2, w3, x + k * ab);
}

// acc + Σ over a group of 4 blocks of (Σ q_w·q_x)·f16(dw)·f16(dx) for activation row x, from halves(p0, p1) in t and
// the last two blocks' partial sums p2, p3 (Q4_1's m·s is added separately).
// @ts-ignore: decorator
@inline function groupTerm<T>(x: usize, k: usize, so: usize, uo: usize, dw: v128, t: v128, p2: v128, p3: v128, acc: v128): v128 {
  let h = lanes(t, halves(p2, p3));
  if (fmt<T>() == Q4_0) h = i32x4.sub(h, v128.load(x + uo + k * 4));
  return madd(f32x4.convert_i32x4_s(h), f32x4.mul(dw, v128.load(x + so + k * 4)), acc);
}

// y[r·ldy] = x_r·w for the four activation rows xa + r·xs and one packed weight row w: each weight block is unpacked
// once for the four rows.
// @ts-ignore: decorator
@inline function rowsQuad<T>(y: usize, ldy: usize, xa: usize, xs: usize, w: usize, nb: i32): void {
  const type = fmt<T>();
  const ab = <usize>actBytes(type), qb = <usize>qsBytes(type), hb = <usize>headBytes(type), gb = <usize>groupBytes(type);
  const so = <usize>nb * ab; // activation scales, relative to the start of a row of activations
  const uo = so + <usize>((nb + 3) & ~3) * 4; // activation sums
  const x0 = xa, x1 = xa + xs, x2 = xa + 2 * xs, x3 = xa + 3 * xs;
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0), acc2 = f32x4.splat(0), acc3 = f32x4.splat(0);
  let b = 0;
  // Grouping pays where an unpacked block is 2 vectors (relaxed Q4: 1.20 → 0.92 ns per row and block); with 4
  // (plain SIMD) or the sign masks (relaxed Q8_0) the 4 rows' partial sums spill and it ran 10–25% slower.
  for (; ASC_FEATURE_RELAXED_SIMD && type != Q8_0 && b + 4 <= nb; b += 4) {
    const k = <usize>b;
    const g = w + <usize>(b >> 2) * gb, q = g + hb;
    if (type == Q4_1) {
      const m = v128.load(g, 16);
      acc0 = madd(m, v128.load(x0 + uo + k * 4), acc0);
      acc1 = madd(m, v128.load(x1 + uo + k * 4), acc1);
      acc2 = madd(m, v128.load(x2 + uo + k * 4), acc2);
      acc3 = madd(m, v128.load(x3 + uo + k * 4), acc3);
    }
    let v0 = u0<T>(q), v1 = u1<T>(q), v2 = u2<T>(q), v3 = u3<T>(q);
    const p00 = rowSums<T>(x0, k, ab, v0, v1, v2, v3), p10 = rowSums<T>(x1, k, ab, v0, v1, v2, v3);
    const p20 = rowSums<T>(x2, k, ab, v0, v1, v2, v3), p30 = rowSums<T>(x3, k, ab, v0, v1, v2, v3);
    v0 = u0<T>(q + qb); v1 = u1<T>(q + qb); v2 = u2<T>(q + qb); v3 = u3<T>(q + qb);
    const t0 = halves(p00, rowSums<T>(x0, k + 1, ab, v0, v1, v2, v3)), t1 = halves(p10, rowSums<T>(x1, k + 1, ab, v0, v1, v2, v3));
    const t2 = halves(p20, rowSums<T>(x2, k + 1, ab, v0, v1, v2, v3)), t3 = halves(p30, rowSums<T>(x3, k + 1, ab, v0, v1, v2, v3));
    v0 = u0<T>(q + 2 * qb); v1 = u1<T>(q + 2 * qb); v2 = u2<T>(q + 2 * qb); v3 = u3<T>(q + 2 * qb);
    const p02 = rowSums<T>(x0, k + 2, ab, v0, v1, v2, v3), p12 = rowSums<T>(x1, k + 2, ab, v0, v1, v2, v3);
    const p22 = rowSums<T>(x2, k + 2, ab, v0, v1, v2, v3), p32 = rowSums<T>(x3, k + 2, ab, v0, v1, v2, v3);
    v0 = u0<T>(q + 3 * qb); v1 = u1<T>(q + 3 * qb); v2 = u2<T>(q + 3 * qb); v3 = u3<T>(q + 3 * qb);
    const dw = v128.load(g);
    acc0 = groupTerm<T>(x0, k, so, uo, dw, t0, p02, rowSums<T>(x0, k + 3, ab, v0, v1, v2, v3), acc0);
    acc1 = groupTerm<T>(x1, k, so, uo, dw, t1, p12, rowSums<T>(x1, k + 3, ab, v0, v1, v2, v3), acc1);
    acc2 = groupTerm<T>(x2, k, so, uo, dw, t2, p22, rowSums<T>(x2, k + 3, ab, v0, v1, v2, v3), acc2);
    acc3 = groupTerm<T>(x3, k, so, uo, dw, t3, p32, rowSums<T>(x3, k + 3, ab, v0, v1, v2, v3), acc3);
  }
  // One block at a time: the blocks of a last, partial group, or all of them.
  for (; b < nb; b++) {
    const k = <usize>b;
    const q = w + quantsAt(type, b), sc = w + scaleAt(type, b);
    const dw = v128.load32_splat(sc);
    const m = type == Q4_1 ? v128.load32_splat(sc, 16) : dw;
    const v0 = u0<T>(q), v1 = u1<T>(q), v2 = u2<T>(q), v3 = u3<T>(q);
    acc0 = quadTerm<T>(x0, k, ab, so, uo, dw, m, v0, v1, v2, v3, acc0);
    acc1 = quadTerm<T>(x1, k, ab, so, uo, dw, m, v0, v1, v2, v3, acc1);
    acc2 = quadTerm<T>(x2, k, ab, so, uo, dw, m, v0, v1, v2, v3, acc2);
    acc3 = quadTerm<T>(x3, k, ab, so, uo, dw, m, v0, v1, v2, v3, acc3);
  }
  store<f32>(y, hsum4(acc0) + (accumulating ? load<f32>(y) : 0));
  store<f32>(y + ldy, hsum4(acc1) + (accumulating ? load<f32>(y + ldy) : 0));
  store<f32>(y + 2 * ldy, hsum4(acc2) + (accumulating ? load<f32>(y + 2 * ldy) : 0));
  store<f32>(y + 3 * ldy, hsum4(acc3) + (accumulating ? load<f32>(y + 3 * ldy) : 0));
}

// @ts-ignore: decorator
@inline function hsum4(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}

// Weight rows per panel for M > 1: about 256 KB of weights, which stay in L2 while all rows of x pass over them.
const PANEL_BYTES: i32 = 256 * 1024;

// y (M,N) = x (M,K) · Wᵀ, W (N,K) packed by quant_pack; with accumulate, y += … (a residual add with no temporary).
// work holds qmatmul_work_bytes(type, M, K) bytes.
export function qmatmul(y: usize, x: usize, w: usize, type: i32, M: i32, N: i32, K: i32, work: usize, accumulate: bool): void {
  accumulating = accumulate;
  if (type == Q8_0) qmatmulT<i8>(y, x, w, M, N, K, work);
  else if (type == Q4_0) qmatmulT<u8>(y, x, w, M, N, K, work);
  else qmatmulT<u16>(y, x, w, M, N, K, work);
}

// qmatmul's accumulate flag, read by the row kernels only at their stores. A global rather than one more argument:
// as a local it stayed live across the block loop and V8 spilled the plain-SIMD Q8_0 kernel (2.3× → 1.4× f32).
let accumulating = false;

function qmatmulT<T>(y: usize, x: usize, w: usize, M: i32, N: i32, K: i32, work: usize): void {
  const type = fmt<T>();
  const nb = K / QK;
  const xs = <usize>actRowBytes(type, K);
  const ws = <usize>packed_row_bytes(type, K);
  for (let i = 0; i < M; i++) quantizeActivations(work + <usize>i * xs, x + <usize>i * K * 4, type, K);
  const M4 = M & ~3;
  if (M4 > 0) {
    const panel = max(1, PANEL_BYTES / <i32>ws);
    for (let n0 = 0; n0 < N; n0 += panel) {
      const n1 = min(N, n0 + panel);
      for (let i = 0; i < M4; i += 4) {
        for (let n = n0; n < n1; n++) {
          rowsQuad<T>(y + (<usize>i * N + n) * 4, <usize>N * 4, work + <usize>i * xs, xs, w + <usize>n * ws, nb);
        }
      }
    }
  }
  // Single rows (all of M = 1, the last M mod 4 otherwise): rows n and n + N/2 together.
  const half = N >> 1;
  for (let i = M4; i < M; i++) {
    const yi = y + <usize>i * N * 4, xa = work + <usize>i * xs;
    for (let n = 0; n < half; n++) {
      rowPair<T>(yi + <usize>n * 4, yi + <usize>(n + half) * 4, xa, w + <usize>n * ws, w + <usize>(n + half) * ws, nb);
    }
    if (N & 1) {
      const last = w + <usize>(N - 1) * ws;
      rowPair<T>(yi + <usize>(N - 1) * 4, yi + <usize>(N - 1) * 4, xa, last, last, nb);
    }
  }
}
