// Activation kernels: exp, sigmoid, softmax / log-softmax, SiLU / SwiGLU, RMSNorm, fused cross-entropy.
// Matrices are row-major (rows, cols) f32; pointers are byte offsets; backward kernels accumulate (+=) into dX.
// They are memory-bound single passes (or two/three passes over one row that stays in L1/L2), allocate nothing and
// keep no mutable static data, so they are safe to run from several threads on disjoint rows.
import { hmax, hsum, madd } from "./simd";
import { loadTail, storeTail } from "./elementwise";

// ---- exp ------------------------------------------------------------------------------------------------------------
// e^x = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln2, |r| ≤ ln2/2 (plus rounding slack).
// - n is rounded with the 1.5·2^23 magic number (no trunc_sat, which lowers to ~5 instructions); the integer n is then
//   just the difference of the bit patterns of (x·log2e + magic) and magic.
// - Cody–Waite: ln2 = LN2_HI + LN2_LO with LN2_HI having 9 significant bits, so n·LN2_HI is exact for |n| < 2^15 and
//   x − n·LN2_HI loses nothing; LN2_LO restores the rest.
// - e^r is Cephes' expf minimax polynomial (degree 5 for (e^r − 1 − r)/r², then 1 + r + r²·p).
// - 2^n is built from exponent bits, as two factors 2^(n>>1) and 2^(n − (n>>1)): one factor alone cannot span
//   n ∈ [−150, 128], and two give correct denormal results and overflow without any select.
// - x is first clamped to [−110, 89] with pmax/pmin (one instruction each; they keep a NaN that is in x): −inf and
//   everything below −104 give exactly 0, +inf and everything above 88.73 give +inf, NaN stays NaN.
// Measured error against Math.exp rounded to f32 (test/kernels/activations.test.ts, a dense sweep of [−87, 88] and
// edge values): at most 1 ulp in both builds (plain mul+add and relaxed fused madd); denormal results are within one
// step of the denormal grid.
const LOG2E: f32 = 1.44269504088896341;
const MAGIC: f32 = 12582912.0; // 1.5·2^23: adding it rounds to an integer, kept in the low mantissa bits
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const P0: f32 = 1.9875691500e-4;
const P1: f32 = 1.3981999507e-3;
const P2: f32 = 8.3334519073e-3;
const P3: f32 = 4.1665795894e-2;
const P4: f32 = 1.6666665459e-1;
const P5: f32 = 5.0000001201e-1;

/** e^x in each lane (see the error bound above). */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-110)), f32x4.splat(89));
  const t = madd(x, f32x4.splat(LOG2E), f32x4.splat(MAGIC));
  const nf = f32x4.sub(t, f32x4.splat(MAGIC));
  const n = i32x4.sub(t, i32x4.splat(0x4b400000)); // bits of MAGIC
  let r = madd(nf, f32x4.splat(-LN2_HI), x);
  r = madd(nf, f32x4.splat(-LN2_LO), r);
  let p = madd(f32x4.splat(P0), r, f32x4.splat(P1));
  p = madd(p, r, f32x4.splat(P2));
  p = madd(p, r, f32x4.splat(P3));
  p = madd(p, r, f32x4.splat(P4));
  p = madd(p, r, f32x4.splat(P5));
  const y = f32x4.add(madd(p, f32x4.mul(r, r), r), f32x4.splat(1));
  const n1 = i32x4.shr_s(n, 1);
  // y ∈ [0.7, 1.5] times 2^n1 stays normal, so adding n1 to its exponent field is exact; the second factor rounds once.
  const y1 = i32x4.add(y, i32x4.shl(n1, 23));
  return f32x4.mul(y1, i32x4.shl(i32x4.add(i32x4.sub(n, n1), i32x4.splat(127)), 23));
}

// out, inp are (n,): out = e^inp. The same exp4 that softmax, sigmoid, SiLU and cross-entropy use.
export function vec_exp(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, exp4(v128.load(inp + o)));
  }
  if (i < n) storeTail(out + (<usize>i << 2), exp4(loadTail(inp + (<usize>i << 2), n - i, 0)), n - i);
}

// ---- sigmoid --------------------------------------------------------------------------------------------------------
// σ(x) = 1 / (1 + e^−x). Stable at both ends without a branch: x → −inf gives 1/(1 + inf) = 0, x → +inf gives
// 1/(1 + 0) = 1, and for very negative x the result keeps its relative accuracy (e^−x is large, not 1 − tiny).
// @ts-ignore: decorator
@inline function sigmoid4(x: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.neg(x))));
}

// out, inp are (n,): out = σ(inp). out may be inp.
export function sigmoid_forward(out: usize, inp: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, sigmoid4(v128.load(inp + o)));
  }
  if (i < n) storeTail(out + (<usize>i << 2), sigmoid4(loadTail(inp + (<usize>i << 2), n - i, 0)), n - i);
}

// dinp, out, dout are (n,): dinp += dout·s·(1 − s), from the saved output s = σ(inp).
export function sigmoid_backward(dinp: usize, out: usize, dout: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const s = v128.load(out + o);
    const g = f32x4.mul(v128.load(dout + o), f32x4.mul(s, f32x4.sub(one, s)));
    v128.store(dinp + o, f32x4.add(v128.load(dinp + o), g));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const s = load<f32>(out + o);
    store<f32>(dinp + o, load<f32>(dinp + o) + load<f32>(dout + o) * (s * (1 - s)));
  }
}
