// Independent references for the quantization tests, written from ggml's C source (ggml-quants.c
// quantize_row_{q8_0,q4_0,q4_1}_ref and dequantize_row_*; ggml-cpu/arch/x86/quants.c quantize_row_q8_0/q8_1 for the
// activations) in plain scalar JavaScript: every C float operation is one Math.fround, f16 rounding is done in float64
// arithmetic (not with src/util/f16.ts), and C's float → int8 cast behaves as x86's cvttss2si (truncation; NaN, ±inf
// and out-of-range give 0x80000000, whose low byte is 0).
const f = Math.fround;
const FLT_MAX = f(3.4028234663852886e38);

/** IEEE half bits of an f32 value, round to nearest even, subnormals kept. */
export function f16Bits(x: number): number {
  x = f(x);
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // 65520 is halfway between 65504 and 2^16, and ties go to the even (inf)
  if (a < 2 ** -14) return sign | roundEven(a / 2 ** -24); // subnormal; 1024 carries into the smallest normal
  let e = -14;
  while (a >= 2 ** (e + 1)) e++;
  const m = roundEven((a / 2 ** e - 1) * 1024); // exact in float64
  return m === 1024 ? sign | ((e + 16) << 10) : sign | ((e + 15) << 10) | m;
}

function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The value of f16 bits. */
export function f16Value(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

// (int8_t) of a float on x86: truncation; NaN, ±inf and values outside int32 give 0x80000000 (low byte 0).
function int8Cast(v: number): number {
  if (!Number.isFinite(v) || Math.abs(v) >= 2 ** 31) return 0;
  return (Math.trunc(v) << 24) >> 24;
}

function roundf(v: number): number {
  return Math.sign(v) * Math.floor(Math.abs(v) + 0.5); // exact in float64 for an f32 v
}

const BLOCK_BYTES = { Q8_0: 34, Q4_0: 18, Q4_1: 20 } as const;
export type RefType = keyof typeof BLOCK_BYTES;

/** quantize_row_<type>_ref over a whole row-major tensor (its length a multiple of 32). */
export function quantizeRef(type: RefType, x: Float32Array): Uint8Array {
  const nb = x.length / 32;
  const out = new Uint8Array(nb * BLOCK_BYTES[type]);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < nb; i++) {
    const b = x.subarray(i * 32, i * 32 + 32);
    const o = i * BLOCK_BYTES[type];
    if (type === "Q8_0") {
      let amax = 0;
      for (const v of b) amax = amax > Math.abs(v) ? amax : Math.abs(v);
      const d = f(amax / 127);
      const id = d ? f(1 / d) : 0;
      dv.setUint16(o, f16Bits(d), true);
      for (let j = 0; j < 32; j++) dv.setInt8(o + 2 + j, int8Cast(roundf(f(b[j] * id))));
    } else if (type === "Q4_0") {
      let amax = 0, max = 0;
      for (const v of b) {
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = f(max / -8);
      const id = d ? f(1 / d) : 0;
      dv.setUint16(o, f16Bits(d), true);
      for (let j = 0; j < 16; j++) {
        const q0 = Math.min(15, int8Cast(f(f(b[j] * id) + 8.5))) & 0xff;
        const q1 = Math.min(15, int8Cast(f(f(b[j + 16] * id) + 8.5))) & 0xff;
        out[o + 2 + j] = (q0 | (q1 << 4)) & 0xff;
      }
    } else {
      let min = FLT_MAX, max = -FLT_MAX;
      for (const v of b) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const d = f(f(max - min) / 15);
      const id = d ? f(1 / d) : 0;
      dv.setUint16(o, f16Bits(d), true);
      dv.setUint16(o + 2, f16Bits(min), true);
      for (let j = 0; j < 16; j++) {
        const q0 = Math.min(15, int8Cast(f(f(f(b[j] - min) * id) + 0.5))) & 0xff;
        const q1 = Math.min(15, int8Cast(f(f(f(b[j + 16] - min) * id) + 0.5))) & 0xff;
        out[o + 4 + j] = (q0 | (q1 << 4)) & 0xff;
      }
    }
  }
  return out;
}

/** One block decoded: its f16 scale d (and Q4_1's m) as values, and the 32 integers the value is made from. */
export interface RefBlock {
  d: number;
  m: number;
  /** Q8_0: q; Q4_0: q − 8; Q4_1: q (value = d·q + m). */
  q: number[];
}

export function decodeBlock(type: RefType, bytes: Uint8Array, block: number): RefBlock {
  const o = block * BLOCK_BYTES[type];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const d = f16Value(dv.getUint16(o, true));
  if (type === "Q8_0") return { d, m: 0, q: Array.from({ length: 32 }, (_, j) => dv.getInt8(o + 2 + j)) };
  const qs = o + (type === "Q4_1" ? 4 : 2);
  const off = type === "Q4_0" ? 8 : 0;
  const q = Array.from({ length: 32 }, (_, j) => (j < 16 ? bytes[qs + j] & 15 : bytes[qs + j - 16] >> 4) - off);
  return { d, m: type === "Q4_1" ? f16Value(dv.getUint16(o + 2, true)) : 0, q };
}

/** dequantize_row_<type>: f32 products as C computes them (d·q, then + m for Q4_1). */
export function dequantizeRef(type: RefType, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n / 32; i++) {
    const { d, m, q } = decodeBlock(type, bytes, i);
    for (let j = 0; j < 32; j++) out[i * 32 + j] = type === "Q4_1" ? f(f(q[j] * d) + m) : f(q[j] * d);
  }
  return out;
}

/** x86 quantize_row_q8_0 / q8_1 of one row: per block f16(d), the int8 values, and f16(d·Σq) (the q8_1 "s"). */
export function quantizeActivationsRef(x: Float32Array): { d: number[]; s: number[]; q: number[][] } {
  const d: number[] = [], s: number[] = [], q: number[][] = [];
  for (let i = 0; i < x.length / 32; i++) {
    const b = x.subarray(i * 32, i * 32 + 32);
    let amax = 0;
    for (const v of b) amax = Math.max(amax, Math.abs(v));
    const dd = f(amax / 127);
    const id = amax !== 0 ? f(127 / amax) : 0;
    const qs = Array.from(b, (v) => roundEven(f(v * id))); // _mm256_round_ps(_MM_ROUND_NEAREST)
    const sum = qs.reduce((a, c) => a + c, 0);
    d.push(f16Value(f16Bits(dd)));
    s.push(f16Value(f16Bits(f(dd * sum))));
    q.push(qs);
  }
  return { d, s, q };
}

/**
 * y (M, N) = x (M, K) · Wᵀ in float64 from the quantized weights and the quantized activations, so that it differs
 * from a correct kernel only by the kernel's f32 summation order. Also returns Σ|products| per output (the error scale).
 */
export function qmatmulRef(type: RefType, x: Float32Array, w: Uint8Array, M: number, N: number, K: number): { y: Float64Array; mag: Float64Array } {
  const y = new Float64Array(M * N), mag = new Float64Array(M * N);
  const nb = K / 32;
  const blocks = Array.from({ length: N * nb }, (_, i) => decodeBlock(type, w, i));
  for (let i = 0; i < M; i++) {
    const a = quantizeActivationsRef(x.subarray(i * K, (i + 1) * K));
    for (let n = 0; n < N; n++) {
      let acc = 0, abs = 0;
      for (let b = 0; b < nb; b++) {
        const wb = blocks[n * nb + b];
        let sumi = 0, sumAbs = 0;
        for (let j = 0; j < 32; j++) {
          sumi += wb.q[j] * a.q[b][j];
          sumAbs += Math.abs(wb.q[j] * a.q[b][j]);
        }
        acc += wb.d * a.d[b] * sumi + (type === "Q4_1" ? wb.m * a.s[b] : 0);
        // Partial sums in any order are bounded by the sum of the absolute products.
        abs += Math.abs(wb.d * a.d[b]) * sumAbs + Math.abs(wb.m * a.s[b]);
      }
      y[i * N + n] = acc;
      mag[i * N + n] = abs;
    }
  }
  return { y, mag };
}

/** n values in [lo, hi) from a seeded LCG (independent of the library's PRNG), rounded to f32. */
export function lcg(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = lo + ((hi - lo) * s) / 2 ** 32;
  }
  return out;
}

/**
 * Blocks chosen to sit on every rounding edge: exact ties for each format's rounding, zeros (both signs), constant
 * blocks, all-negative blocks, the largest magnitude appearing with both signs, huge values (f16 scale overflow, a
 * max − min that overflows f32), scales that are f16 subnormals, and f32-subnormal blocks whose 1/d overflows.
 */
export function adversarialBlocks(): Float32Array {
  const blocks: number[][] = [];
  const fill = (g: (j: number) => number) => blocks.push(Array.from({ length: 32 }, (_, j) => g(j)));
  // Q8_0 ties: amax = 127 gives d = 1, id = 1, so k + 0.5 must round away from zero.
  fill((j) => (j === 0 ? 127 : (j % 2 ? -1 : 1) * (j + 0.5)));
  fill((j) => (j === 0 ? -127 : (j - 16) + 0.5));
  // Q4_0 ties: the largest magnitude −8 gives d = 1, so x + 8.5 lands on integers (trunc edges), 7.5 clamps to 15.
  fill((j) => (j === 0 ? -8 : (j % 16) - 8 + 0.5));
  fill((j) => (j === 5 ? 8 : -7.5 + (j % 16)));
  // Q4_1 ties: min 0, max 15 gives d = 1, so x + 0.5 lands on integers.
  fill((j) => (j === 0 ? 0 : j === 1 ? 15 : (j % 15) + 0.5));
  fill(() => 0);
  fill((j) => (j % 2 ? -0 : 0));
  fill((j) => (j % 3 ? 0 : -0));
  fill(() => 0.3);
  fill(() => -2.5);
  fill((j) => -1 - j * 0.37);
  fill((j) => -100 - j);
  fill((j) => (j === 3 ? -4 : j === 9 ? 4 : j / 10)); // |max| tie, negative first
  fill((j) => (j === 3 ? 4 : j === 9 ? -4 : -j / 10)); // |max| tie, positive first
  fill((j) => (j % 2 ? 1e7 : -3e6)); // Q8_0 d = 78740 overflows f16
  fill((j) => (j === 0 ? 3e38 : j === 1 ? -3e38 : j * 1e36)); // Q4_1 max − min overflows f32
  fill((j) => (j === 0 ? 65504 * 8 : j)); // Q4_0 d at the f16 maximum
  fill((j) => (j - 16) * 1e-6); // scales are f16 subnormals
  fill((j) => (j - 16) * 3e-9); // scales round to tiny subnormals or zero
  fill((j) => (j - 16) * 1e-40); // f32 subnormals: 1/d overflows to inf
  fill((j) => (j === 7 ? 1e-44 : 0));
  fill((j) => (j === 7 ? -2e-39 : 1e-39));
  fill((j) => Math.fround(1 / 3) * (j - 15.5));
  return Float32Array.from(blocks.flat());
}
