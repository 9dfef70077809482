// Optimizer kernels. Parameters, gradients and moments each live in one contiguous slab, so a step over the whole
// model is one call.
import { loadN, storeN } from "./elementwise";
import { madd } from "./simd";

// params, grads, m, v are (n,): one AdamW step (PyTorch semantics) at 1-based `step`, m and v updated in place:
//   p ← p − lr·wd·p (decoupled weight decay);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
//   p ← p − (lr / (1 − β1^step)) · m / (√v / √(1 − β2^step) + eps)
// The bias corrections are computed once in f64; the per-element work is one pass of 4-lane arithmetic.
export function adamw_step(params: usize, grads: usize, m: usize, v: usize, n: i32, lr: f32, beta1: f32, beta2: f32,
  eps: f32, weight_decay: f32, step: i32): void {
  const stepSize = f32x4.splat(<f32>(<f64>lr / (1 - Math.pow(<f64>beta1, <f64>step))));
  const invSqrtBc2 = f32x4.splat(<f32>(1 / Math.sqrt(1 - Math.pow(<f64>beta2, <f64>step))));
  const decay = f32x4.splat(<f32>(1 - <f64>lr * <f64>weight_decay));
  const b1 = f32x4.splat(beta1);
  const b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(1 - beta1);
  const c2 = f32x4.splat(1 - beta2);
  const ve = f32x4.splat(eps);
  for (let i = 0; i < n; i += 4) {
    const o = <usize>i << 2;
    const k = min(4, n - i);
    const g = loadN(grads + o, k);
    const mt = madd(b1, loadN(m + o, k), f32x4.mul(c1, g));
    const vt = madd(b2, loadN(v + o, k), f32x4.mul(c2, f32x4.mul(g, g)));
    const denom = madd(f32x4.sqrt(vt), invSqrtBc2, ve);
    const p = f32x4.mul(loadN(params + o, k), decay);
    storeN(params + o, f32x4.sub(p, f32x4.div(f32x4.mul(stepSize, mt), denom)), k);
    storeN(m + o, mt, k);
    storeN(v + o, vt, k);
  }
}
