// Elementwise f32 kernels over n floats, and the partial-vector helpers every family uses for ragged lengths.
// The kernels here are one operation per element, so their ragged tails are plain scalar loops. Kernels with more
// arithmetic (exp, AdamW, the row kernels) walk ceil(n/4) vectors with loadN/storeN, which build the last 1–3 lanes
// from scalar loads and store them back lane by lane: one vector body, no scalar copy of it, and no access past the
// end of an array.
import { madd } from "./simd";

/** Lanes [0, rem) loaded from p (rem in 1..3); the other lanes hold `fill`. */
// @ts-ignore: decorator
@inline function loadTail(p: usize, rem: i32, fill: f32): v128 {
  let v = f32x4.replace_lane(f32x4.splat(fill), 0, load<f32>(p));
  if (rem > 1) v = f32x4.replace_lane(v, 1, load<f32>(p, 4));
  if (rem > 2) v = f32x4.replace_lane(v, 2, load<f32>(p, 8));
  return v;
}

/** Lanes [0, m) loaded from p, `fill` elsewhere (m in 1..4): one loop over ceil(n/4) vectors handles every length. */
// @ts-ignore: decorator
@inline export function loadN(p: usize, m: i32, fill: f32 = 0): v128 {
  return m == 4 ? v128.load(p) : loadTail(p, m, fill);
}

/** Stores lanes [0, m) of v at p (m in 1..4). */
// @ts-ignore: decorator
@inline export function storeN(p: usize, v: v128, m: i32): void {
  if (m == 4) v128.store(p, v);
  else storeTail(p, v, m);
}

/** Stores lanes [0, rem) of v at p (rem in 1..3). */
// @ts-ignore: decorator
@inline function storeTail(p: usize, v: v128, rem: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (rem > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (rem > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

// These loops are memory-bound; four vectors per iteration keep the loop overhead (V8 adds a stack check to every
// iteration) off the critical path: vec_scale over 32K floats in L1 runs at 22 G/s instead of 8, which makes softmax,
// whose last pass it is, ~4% faster.

// out, a, b are (n,): out = a + b. out may be a or b.
export function vec_add(out: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
    v128.store(out + o, f32x4.add(v128.load(a + o, 16), v128.load(b + o, 16)), 16);
    v128.store(out + o, f32x4.add(v128.load(a + o, 32), v128.load(b + o, 32)), 32);
    v128.store(out + o, f32x4.add(v128.load(a + o, 48), v128.load(b + o, 48)), 48);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

// x is (n,): x *= alpha.
export function vec_scale(x: usize, alpha: f32, n: i32): void {
  const va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = x + (<usize>i << 2);
    v128.store(p, f32x4.mul(v128.load(p), va));
    v128.store(p, f32x4.mul(v128.load(p, 16), va), 16);
    v128.store(p, f32x4.mul(v128.load(p, 32), va), 32);
    v128.store(p, f32x4.mul(v128.load(p, 48), va), 48);
  }
  for (; i < n; i++) {
    const p = x + (<usize>i << 2);
    store<f32>(p, load<f32>(p) * alpha);
  }
}

// y, x are (n,): y += alpha·x (fused in the relaxed build).
export function vec_axpy(y: usize, alpha: f32, x: usize, n: i32): void {
  const va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    v128.store(y + o, madd(v128.load(x + o), va, v128.load(y + o)));
    v128.store(y + o, madd(v128.load(x + o, 16), va, v128.load(y + o, 16)), 16);
    v128.store(y + o, madd(v128.load(x + o, 32), va, v128.load(y + o, 32)), 32);
    v128.store(y + o, madd(v128.load(x + o, 48), va, v128.load(y + o, 48)), 48);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}
