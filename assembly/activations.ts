// Activation kernels: exp, sigmoid, softmax / log-softmax, SiLU / SwiGLU, RMSNorm, fused cross-entropy.
// Matrices are row-major (rows, cols) f32; pointers are byte offsets; backward kernels accumulate (+=) into dX.
// They are memory-bound single passes (or two/three passes over one row that stays in L1/L2), allocate nothing and
// keep no mutable static data, so they are safe to run from several threads on disjoint rows.
import { hmax, hsum, madd } from "./simd";
import { loadN, storeN, vec_scale } from "./elementwise";

// ---- exp ------------------------------------------------------------------------------------------------------------
// e^x = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln2, |r| ≤ ln2/2 (plus rounding slack).
// - n is rounded by adding MAGIC = 1.5·2^23 + 127 (no trunc_sat, which lowers to ~5 instructions): the sum t then
//   holds n + 127 in its low mantissa bits, so i32x4.shl(t, 23) is the bit pattern of 2^n (the 1.5·2^23 part is
//   shifted out): one instruction for the scale.
// - Cody–Waite: ln2 = LN2_HI + LN2_LO with LN2_HI having 9 significant bits, so n·LN2_HI is exact and x − n·LN2_HI
//   loses nothing; LN2_LO restores the rest.
// - e^r ≈ 1 + r·p(r), p of degree 4: a minimax fit of the relative error on [−0.354, 0.354] (a linear program over
//   Chebyshev nodes, max relative error 9.7e-8 before rounding the coefficients to f32), evaluated as s + (r·s)·p so
//   the scale folds into the last multiply-add. A degree-4 p instead of Cephes' 1 + r + r²·(degree 5) costs 1 ulp
//   and makes exp ~25% faster (softmax 0.9 → 1.1 G elements/s in the plain build).
// - Range without selects: x is clamped below at −88 (pmax keeps a NaN in x) so n ≥ −127, and n + 127 = 0 makes the
//   scale 0: −inf → 0 exactly; results under 2^−126 are denormal for x > −87.68 and 0 below. NaN stays NaN (its
//   shifted bits give a scale of 0, and NaN·0 + 0 is NaN).
// - The top of the range costs instructions that most callers do not need, so `mode` (a constant at every call site)
//   picks what is paid for:
//   NONPOS: the caller guarantees x ≤ 0 or NaN (softmax, log-softmax, cross-entropy: x − max). Nothing more.
//   ANY:    any x. n is clamped at 127 (pmin on t) so the exponent field never wraps; past x = 88.03 r then grows
//           beyond ln2/2 and the error reaches ~1e-4 relative, and +inf or x > 88.73 overflow to +inf. σ and SiLU use
//           this: where e^−x is that large they only need 1/(1 + e^−x) ≈ 0. (Dropping this pmin where it is not
//           needed makes softmax ~10% faster.)
//   FULL:   any x, accurate up to the overflow: x is clamped at 89, r uses the unclamped n, and the result is doubled
//           where n = 128 was clamped to 127. vec_exp uses this.
// Error against Math.exp rounded to f32 in FULL mode (vec_exp): ≤ 2 ulp for every result ≥ 2^−126, in both builds
// (plain mul+add and relaxed fused madd); measured on every 7th float of [−87.33, 88.02] and every float of
// (88.02, 88.7228]; test/kernels/activations.test.ts checks a dense sweep of [−87, 88] and the edges.
const LOG2E: f32 = 1.44269504088896341;
const MAGIC: f32 = 12583039.0; // 1.5·2^23 + 127
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
const C1: f32 = 0.9999995827674866;
const C2: f32 = 0.4999904930591583;
const C3: f32 = 0.166678324341774;
const C4: f32 = 0.0419100783765316;
const C5: f32 = 0.008284298703074455;

const NONPOS = 0;
const ANY = 1;
const FULL = 2;

/** e^x in each lane (modes and error bound above). */
// @ts-ignore: decorator
@inline export function exp4(x: v128, mode: i32): v128 {
  x = f32x4.pmax(x, f32x4.splat(-88));
  if (mode == FULL) x = f32x4.pmin(x, f32x4.splat(89));
  const t = madd(x, f32x4.splat(LOG2E), f32x4.splat(MAGIC));
  const tc = mode == NONPOS ? t : f32x4.pmin(t, f32x4.splat(MAGIC + 127));
  const nf = f32x4.sub(mode == FULL ? t : tc, f32x4.splat(MAGIC));
  let r = madd(nf, f32x4.splat(-LN2_HI), x);
  r = madd(nf, f32x4.splat(-LN2_LO), r);
  let p = madd(f32x4.splat(C5), r, f32x4.splat(C4));
  p = madd(p, r, f32x4.splat(C3));
  p = madd(p, r, f32x4.splat(C2));
  p = madd(p, r, f32x4.splat(C1));
  const s = i32x4.shl(tc, 23);
  const y = madd(f32x4.mul(r, s), p, s);
  return mode == FULL ? f32x4.mul(y, f32x4.add(f32x4.splat(1), f32x4.sub(t, tc))) : y;
}

// σ(x) = 1 / (1 + e^−x). Stable at both ends without a branch: x → −inf gives 1/(1 + inf) = 0, x → +inf gives
// 1/(1 + 0) = 1, and for very negative x the result keeps its relative accuracy (e^−x is large, not 1 − tiny).
// −x is 0 − x: f32x4.neg costs three instructions in V8 (it builds the sign mask every time).
// @ts-ignore: decorator
@inline function sigmoid4(x: v128): v128 {
  const one = f32x4.splat(1);
  return f32x4.div(one, f32x4.add(one, exp4(f32x4.sub(f32x4.splat(0), x), ANY)));
}

// x·σ(x). x is clamped below at −200 (where σ is exactly 0) so that −inf gives −0 rather than −inf·0 = NaN.
// @ts-ignore: decorator
@inline function silu4(x: v128): v128 {
  return f32x4.mul(f32x4.pmax(x, f32x4.splat(-200)), sigmoid4(x));
}

// silu'(x) = σ(x)·(1 + x·(1 − σ(x))) given s = σ(x), with x clamped to ±200 so ±inf give the limits 0 and 1, not inf·0.
// @ts-ignore: decorator
@inline function siluGrad4(x: v128, s: v128): v128 {
  const one = f32x4.splat(1);
  const xc = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-200)), f32x4.splat(200));
  return f32x4.mul(s, madd(xc, f32x4.sub(one, s), one));
}

const EXP = 0;
const SIGMOID = 1;
const SILU = 2;
const SWIGLU = 3;

// @ts-ignore: decorator
@inline function apply4(op: i32, x: v128, y: v128): v128 {
  if (op == EXP) return exp4(x, FULL);
  if (op == SIGMOID) return sigmoid4(x);
  if (op == SILU) return silu4(x);
  return f32x4.mul(silu4(x), y); // SWIGLU: x is the gate, y the up projection
}

// out = op(inp[, other]) over n floats (other is read only by SWIGLU); op is a constant after inlining, so each
// export gets its own straight loop. Performance: four independent vectors per iteration let the long exp dependency
// chains overlap (sigmoid over 1M floats with the first exp of this file: 0.99 G/s with one vector per iteration,
// 1.21 with two, 1.38 with four; SwiGLU 0.93 → 1.5 G/s by moving it from a one-vector loop to this one).
// @ts-ignore: decorator
@inline function map(op: i32, out: usize, inp: usize, other: usize, n: i32): void {
  const two = op == SWIGLU;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    const a = apply4(op, v128.load(inp + o), two ? v128.load(other + o) : f32x4.splat(0));
    const b = apply4(op, v128.load(inp + o, 16), two ? v128.load(other + o, 16) : f32x4.splat(0));
    const c = apply4(op, v128.load(inp + o, 32), two ? v128.load(other + o, 32) : f32x4.splat(0));
    const d = apply4(op, v128.load(inp + o, 48), two ? v128.load(other + o, 48) : f32x4.splat(0));
    v128.store(out + o, a);
    v128.store(out + o, b, 16);
    v128.store(out + o, c, 32);
    v128.store(out + o, d, 48);
  }
  for (; i < n; i += 4) {
    const o = <usize>i << 2;
    const m = min(4, n - i);
    storeN(out + o, apply4(op, loadN(inp + o, m), two ? loadN(other + o, m) : f32x4.splat(0)), m);
  }
}

// out, inp are (n,): out = e^inp (out may be inp). The exp every other kernel here uses, exported for tests and benches.
export function vec_exp(out: usize, inp: usize, n: i32): void {
  map(EXP, out, inp, 0, n);
}

// ---- sigmoid --------------------------------------------------------------------------------------------------------

// out, inp are (n,): out = σ(inp) (out may be inp).
export function sigmoid_forward(out: usize, inp: usize, n: i32): void {
  map(SIGMOID, out, inp, 0, n);
}

// dinp, out, dout are (n,): dinp += dout·s·(1 − s), from the saved output s = σ(inp).
export function sigmoid_backward(dinp: usize, out: usize, dout: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const m = min(4, n - i);
    const s = loadN(out + o, m);
    storeN(dinp + o, madd(loadN(dout + o, m), f32x4.mul(s, f32x4.sub(f32x4.splat(1), s)), loadN(dinp + o, m)), m);
  }
}

// ---- SiLU and SwiGLU ------------------------------------------------------------------------------------------------

// out, inp are (n,): out = inp·σ(inp) (out may be inp).
export function silu_forward(out: usize, inp: usize, n: i32): void {
  map(SILU, out, inp, 0, n);
}

// dinp, dout, inp are (n,): dinp += dout·silu'(inp).
export function silu_backward(dinp: usize, dout: usize, inp: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const m = min(4, n - i);
    const x = loadN(inp + o, m);
    storeN(dinp + o, madd(loadN(dout + o, m), siluGrad4(x, sigmoid4(x)), loadN(dinp + o, m)), m);
  }
}

// out, gate, up are (n,): out = silu(gate)·up, the gated unit of a Llama MLP (out may be gate or up).
export function swiglu_forward(out: usize, gate: usize, up: usize, n: i32): void {
  map(SWIGLU, out, gate, up, n);
}

// dgate, dup, dout, gate, up are (n,): dgate += dout·up·silu'(gate), dup += dout·silu(gate).
export function swiglu_backward(dgate: usize, dup: usize, dout: usize, gate: usize, up: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const m = min(4, n - i);
    const g = loadN(gate + o, m);
    const d = loadN(dout + o, m);
    const s = sigmoid4(g);
    const silu = f32x4.mul(f32x4.pmax(g, f32x4.splat(-200)), s);
    storeN(dgate + o, madd(f32x4.mul(d, loadN(up + o, m)), siluGrad4(g, s), loadN(dgate + o, m)), m);
    storeN(dup + o, madd(d, silu, loadN(dup + o, m)), m);
  }
}

// ---- softmax, log-softmax, cross-entropy ----------------------------------------------------------------------------
// Numerically stable: the row max m is subtracted before exp, so every exponent is ≤ 0 (no overflow) and the largest
// term is exactly 1 (the sum is ≥ 1, no division by 0). Rows whose max is not finite take a scalar path with these
// rules (the float64 reference in test/kernels/reference.ts states the same):
// - every visible entry −inf (a fully masked row): softmax gives zeros — no probability anywhere, as for masked
//   columns — and log-softmax gives −inf;
// - some entries +inf: they share the probability equally (the limit), the rest get 0 (log: −inf);
// - any NaN in the row makes the whole row NaN (pmax may skip a NaN, so that path rescans for it; on the fast path
//   a NaN reaches the sum and spreads to every output by itself).

/** max over x[0..n) (−inf for n = 0); a NaN may or may not be reported. */
function rowMax(x: usize, n: i32): f32 {
  // four accumulators: pmax has a latency of a few cycles and a throughput of two per cycle
  let m0 = f32x4.splat(-Infinity);
  let m1 = m0;
  let m2 = m0;
  let m3 = m0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    m0 = f32x4.pmax(m0, v128.load(x + o));
    m1 = f32x4.pmax(m1, v128.load(x + o, 16));
    m2 = f32x4.pmax(m2, v128.load(x + o, 32));
    m3 = f32x4.pmax(m3, v128.load(x + o, 48));
  }
  for (; i < n; i += 4) m0 = f32x4.pmax(m0, loadN(x + (<usize>i << 2), min(4, n - i), -Infinity));
  return hmax(f32x4.pmax(f32x4.pmax(m0, m1), f32x4.pmax(m2, m3)));
}

// @ts-ignore: decorator
@inline function shift(x: v128, m: v128, s: v128, scaled: bool): v128 { // (x − m)·s; scaled is a constant
  const d = f32x4.sub(x, m);
  return scaled ? f32x4.mul(d, s) : d;
}

/** Σ e^((x − m)·scale) over x[0..n); with `keep`, the terms are also written to y. One sum accumulator fed by an
 *  add tree: V8 gives wasm 15 vector registers, the exp constants take ten of them, and a second accumulator makes
 *  the loop spill (plain-build softmax of a 32000-float row in cache: 1.54 G/s with two accumulators, 1.76 with one;
 *  256 × 256 rows: 1.37 → 1.55). */
// @ts-ignore: decorator
@inline function expSum(y: usize, x: usize, n: i32, m: f32, scale: f32, scaled: bool, keep: bool): f32 {
  const vm = f32x4.splat(m);
  const vs = f32x4.splat(scale);
  let s = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    const a = exp4(shift(v128.load(x + o), vm, vs, scaled), NONPOS);
    const b = exp4(shift(v128.load(x + o, 16), vm, vs, scaled), NONPOS);
    const c = exp4(shift(v128.load(x + o, 32), vm, vs, scaled), NONPOS);
    const d = exp4(shift(v128.load(x + o, 48), vm, vs, scaled), NONPOS);
    if (keep) {
      v128.store(y + o, a);
      v128.store(y + o, b, 16);
      v128.store(y + o, c, 32);
      v128.store(y + o, d, 48);
    }
    s = f32x4.add(s, f32x4.add(f32x4.add(a, b), f32x4.add(c, d)));
  }
  for (; i < n; i += 4) {
    const o = <usize>i << 2;
    const k = min(4, n - i);
    // padding lanes are −inf, whose exp is exactly 0
    const e = exp4(shift(loadN(x + o, k, -Infinity), vm, vs, scaled), NONPOS);
    if (keep) storeN(y + o, e, k);
    s = f32x4.add(s, e);
  }
  return hsum(s);
}

/** The scalar path for a row whose max is ±inf (rules above): probabilities, or their logs with `log`. */
function nonFiniteRow(y: usize, x: usize, n: i32, log: bool): void {
  let nan = false;
  let inf = 0;
  for (let j = 0; j < n; j++) {
    const v = load<f32>(x + (<usize>j << 2));
    if (isNaN(v)) nan = true;
    else if (v == Infinity) inf++;
  }
  const share: f32 = log ? <f32>-Math.log(<f64>inf) : 1 / <f32>inf;
  const none: f32 = log ? -Infinity : 0;
  for (let j = 0; j < n; j++) {
    const p = y + (<usize>j << 2);
    store<f32>(p, nan ? NaN : load<f32>(x + (<usize>j << 2)) == Infinity ? share : none);
  }
}

// out, inp are (rows, cols): out = softmax(scale·inp) per row (scale > 0, attention's 1/√hs). With causal, row r sees
// columns up to r + pastLength (a query at position pastLength + r over keys 0..); first (rows) i32, when not 0, moves
// the start of row r's visible columns to first[r] (block-diagonal attention of packed sequences: a query sees only
// its own sequence's keys). Masked outputs are exactly 0. out may be inp.
export function softmax_forward(out: usize, inp: usize, first: usize, rows: i32, cols: i32, scale: f32, causal: bool, pastLength: i32): void {
  for (let r = 0; r < rows; r++) {
    const f = first ? load<i32>(first + (<usize>r << 2)) : 0;
    const x = inp + (<usize>(r * cols + f) << 2);
    const y = out + (<usize>(r * cols + f) << 2);
    const n = (causal ? <i32>min<i64>(cols, <i64>r + pastLength + 1) : cols) - f;
    const m = rowMax(x, n);
    if (m == Infinity || m == -Infinity) nonFiniteRow(y, x, n, false);
    else {
      // the common scale = 1 gets its own loop without the multiply
      const sum = scale == 1 ? expSum(y, x, n, m, 1, false, true) : expSum(y, x, n, m, scale, true, true);
      vec_scale(y, 1 / sum, n);
    }
    if (f > 0) memory.fill(out + (<usize>r * cols << 2), 0, <usize>f << 2);
    if (f + n < cols) memory.fill(y + (<usize>n << 2), 0, <usize>(cols - f - n) << 2);
  }
}

// dinp, out, dout are (rows, cols): dinp += scale·out ⊙ (dout − Σ dout·out) per row, the backward of
// softmax(scale·inp) from its saved output (masked entries have out = 0 and get no gradient).
export function softmax_backward(dinp: usize, out: usize, dout: usize, rows: i32, cols: i32, scale: f32): void {
  const vs = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * cols << 2;
    let acc = f32x4.splat(0);
    for (let i = 0; i < cols; i += 4) {
      const o = row + (<usize>i << 2);
      const k = min(4, cols - i);
      acc = madd(loadN(out + o, k), loadN(dout + o, k), acc);
    }
    const dot = f32x4.splat(hsum(acc));
    for (let i = 0; i < cols; i += 4) {
      const o = row + (<usize>i << 2);
      const k = min(4, cols - i);
      const g = f32x4.mul(loadN(out + o, k), f32x4.sub(loadN(dout + o, k), dot));
      storeN(dinp + o, madd(g, vs, loadN(dinp + o, k)), k);
    }
  }
}

// out, inp are (rows, cols): out = inp − max − log Σ e^(inp − max) per row (out may be inp).
export function log_softmax_forward(out: usize, inp: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const x = inp + (<usize>r * cols << 2);
    const y = out + (<usize>r * cols << 2);
    const m = rowMax(x, cols);
    if (m == Infinity || m == -Infinity) {
      nonFiniteRow(y, x, cols, true);
      continue;
    }
    const vm = f32x4.splat(m);
    const vl = f32x4.splat(<f32>Math.log(<f64>expSum(0, x, cols, m, 1, false, false)));
    for (let i = 0; i < cols; i += 4) {
      const o = <usize>i << 2;
      const k = min(4, cols - i);
      storeN(y + o, f32x4.sub(f32x4.sub(loadN(x + o, k), vm), vl), k);
    }
  }
}

// losses is (rows,), logits is (rows, V), targets is (rows,) i32: losses[r] = −log softmax(logits[r])[targets[r]].
// If dlogits (rows, V) is not 0: dlogits += (softmax − onehot(target))·dloss_scale (dloss_scale = 1/rows for a
// mean loss). A row whose target is ignore_index gets loss 0 and no gradient (the prompt tokens of SFT). Other
// targets must be in [0, V): the wrapper checks them. Non-finite logits give a NaN or inf loss, which the trainer's
// NaN check reports. Fused: the probabilities are recomputed in the gradient pass instead of being stored.
export function crossentropy_forward(losses: usize, dlogits: usize, logits: usize, targets: usize, rows: i32, V: i32,
  dloss_scale: f32, ignore_index: i32): void {
  for (let r = 0; r < rows; r++) {
    const t = load<i32>(targets + (<usize>r << 2));
    if (t == ignore_index) {
      store<f32>(losses + (<usize>r << 2), 0);
      continue;
    }
    const x = logits + (<usize>r * V << 2);
    const m = rowMax(x, V);
    const sum = expSum(0, x, V, m, 1, false, false);
    const xt = load<f32>(x + (<usize>t << 2));
    store<f32>(losses + (<usize>r << 2), <f32>(<f64>m - <f64>xt + Math.log(<f64>sum)));
    if (dlogits == 0) continue;
    const d = dlogits + (<usize>r * V << 2);
    const vm = f32x4.splat(m);
    const vk = f32x4.splat(dloss_scale / sum);
    // four exps in flight per iteration, as in expSum (fwd+bwd over 8 × 32000, plain build: 0.82 → 0.96 G/s)
    let i = 0;
    for (; i + 16 <= V; i += 16) {
      const o = <usize>i << 2;
      const a = exp4(f32x4.sub(v128.load(x + o), vm), NONPOS);
      const b = exp4(f32x4.sub(v128.load(x + o, 16), vm), NONPOS);
      const c = exp4(f32x4.sub(v128.load(x + o, 32), vm), NONPOS);
      const e = exp4(f32x4.sub(v128.load(x + o, 48), vm), NONPOS);
      v128.store(d + o, madd(a, vk, v128.load(d + o)));
      v128.store(d + o, madd(b, vk, v128.load(d + o, 16)), 16);
      v128.store(d + o, madd(c, vk, v128.load(d + o, 32)), 32);
      v128.store(d + o, madd(e, vk, v128.load(d + o, 48)), 48);
    }
    for (; i < V; i += 4) {
      const o = <usize>i << 2;
      const k = min(4, V - i);
      storeN(d + o, madd(exp4(f32x4.sub(loadN(x + o, k), vm), NONPOS), vk, loadN(d + o, k)), k);
    }
    const pt = d + (<usize>t << 2);
    store<f32>(pt, load<f32>(pt) - dloss_scale);
  }
}

// ---- RMSNorm --------------------------------------------------------------------------------------------------------

// out, inp are (rows, cols), weight is (cols,), rstd is (rows,): out = inp / √(mean(inp²) + eps) ⊙ weight, and
// rstd[r] = 1 / √(mean(inp[r]²) + eps) saved for the backward pass. out may be inp.
export function rmsnorm_forward(out: usize, rstd: usize, inp: usize, weight: usize, rows: i32, cols: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const x = inp + (<usize>r * cols << 2);
    const y = out + (<usize>r * cols << 2);
    let a0 = f32x4.splat(0);
    let a1 = a0;
    let i = 0;
    for (; i + 8 <= cols; i += 8) {
      const o = <usize>i << 2;
      const u = v128.load(x + o);
      const v = v128.load(x + o, 16);
      a0 = madd(u, u, a0);
      a1 = madd(v, v, a1);
    }
    for (; i < cols; i += 4) {
      const u = loadN(x + (<usize>i << 2), min(4, cols - i));
      a0 = madd(u, u, a0);
    }
    const rs = <f32>(1 / Math.sqrt(<f64>hsum(f32x4.add(a0, a1)) / cols + eps));
    store<f32>(rstd + (<usize>r << 2), rs);
    const vr = f32x4.splat(rs);
    for (let j = 0; j < cols; j += 4) {
      const o = <usize>j << 2;
      const k = min(4, cols - j);
      storeN(y + o, f32x4.mul(f32x4.mul(loadN(x + o, k), vr), loadN(weight + o, k)), k);
    }
  }
}

// dinp, dout, inp are (rows, cols), dweight, weight are (cols,), rstd is (rows,) from the forward pass:
// with g = dout ⊙ weight, dinp += rstd·g − inp·rstd³·(g·inp)/cols, and dweight += dout ⊙ inp·rstd.
export function rmsnorm_backward(dinp: usize, dweight: usize, dout: usize, inp: usize, weight: usize, rstd: usize,
  rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * cols << 2;
    const rs = load<f32>(rstd + (<usize>r << 2));
    let acc = f32x4.splat(0);
    for (let i = 0; i < cols; i += 4) {
      const o = <usize>i << 2;
      const k = min(4, cols - i);
      acc = madd(f32x4.mul(loadN(dout + row + o, k), loadN(weight + o, k)), loadN(inp + row + o, k), acc);
    }
    const vr = f32x4.splat(rs);
    const vc = f32x4.splat(<f32>(-(<f64>rs * rs * rs * hsum(acc)) / cols));
    for (let i = 0; i < cols; i += 4) {
      const o = <usize>i << 2;
      const k = min(4, cols - i);
      const d = loadN(dout + row + o, k);
      const x = loadN(inp + row + o, k);
      const g = f32x4.mul(d, loadN(weight + o, k));
      storeN(dinp + row + o, madd(g, vr, madd(x, vc, loadN(dinp + row + o, k))), k);
      storeN(dweight + o, madd(f32x4.mul(d, x), vr, loadN(dweight + o, k)), k);
    }
  }
}
