// Helpers shared by every kernel family. One source, two builds: ASC_FEATURE_RELAXED_SIMD is a compile-time
// constant, so the plain build gets mul+add and the relaxed build a fused multiply-add, with no runtime branch.

/** a·b + c, fused in the relaxed build. */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Sum of the four lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}

/** Largest of the four lanes (pmax is one instruction; f32x4.max lowers to ~8 because of its NaN rules). */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const s = f32x4.pmax(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.pmax(s, i32x4.shuffle(s, s, 1, 0, 3, 2)), 0);
}
