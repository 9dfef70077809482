// Rotary position embedding, Hugging Face "rotate_half" layout: within each head of size hs, element i pairs with
// element i + hs/2 and the pair is rotated by the angle pos·θ_i, θ_i = base^(−2i/hs). The angle tables are built once
// on the TypeScript side (cos, sin: (maxT, hs/2)), so the kernel is two multiplies and an add per element.
// Backward is the same rotation by −angle (a rotation's transpose is its inverse), hence one kernel with `inverse`.
import { madd } from "./simd";

// x (rows, nh, hs) rotated in place; cos, sin (maxT, hs/2); pos (rows) i32 positions, or 0: row r sits at position
// pos0 + r % T. Packed sequences pass pos so that each one starts again at position 0.
export function rope(x: usize, cos: usize, sin: usize, pos: usize, rows: i32, T: i32, nh: i32, hs: i32, pos0: i32, inverse: bool): void {
  const half = hs >> 1;
  const halfBytes = <usize>half * 4;
  const sign = f32x4.splat(inverse ? -1 : 1);
  for (let r = 0; r < rows; r++) {
    const at = pos ? load<i32>(pos + (<usize>r << 2)) : pos0 + r % T;
    const c = cos + <usize>at * halfBytes;
    const s = sin + <usize>at * halfBytes;
    for (let h = 0; h < nh; h++) {
      const lo = x + (<usize>r * nh + h) * hs * 4;
      const hi = lo + halfBytes;
      let i = 0;
      for (; i + 4 <= half; i += 4) {
        const o = <usize>i * 4;
        const vc = v128.load(c + o), vs = f32x4.mul(v128.load(s + o), sign);
        const a = v128.load(lo + o), b = v128.load(hi + o);
        // (a, b) → (a·cos − b·sin, b·cos + a·sin)
        v128.store(lo + o, f32x4.sub(f32x4.mul(a, vc), f32x4.mul(b, vs)));
        v128.store(hi + o, madd(a, vs, f32x4.mul(b, vc)));
      }
      for (; i < half; i++) {
        const o = <usize>i * 4;
        const vc = load<f32>(c + o), vs = inverse ? -load<f32>(s + o) : load<f32>(s + o);
        const a = load<f32>(lo + o), b = load<f32>(hi + o);
        store<f32>(lo + o, a * vc - b * vs);
        store<f32>(hi + o, b * vc + a * vs);
      }
    }
  }
}
