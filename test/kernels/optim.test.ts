import { beforeAll, describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import type { Kernels } from "../../src/kernels/module.js";
import { adamw } from "../../src/kernels/optim.js";
import { add, axpy, scale } from "../../src/kernels/elementwise.js";
import { adamwRef, torchAdamWRef } from "./reference.js";
import { SIZES, expectClose, uniform, expectCode } from "./helpers.js";

describe.each([
  ["simd", 1],
  ["relaxed", 2],
] as const)("optimizer and elementwise kernels (%s build) vs float64 reference", (flavor, loose) => {
  let k: Kernels;
  beforeAll(async () => {
    k = await loadKernelsFromFiles(flavor);
  });

  // A few f32 roundings per element on O(1) values; the update itself is lr-sized, so absolute 1e-6 suffices.
  it.each(SIZES)("adamw, n = %i, three steps (tolerance 1e-6 abs + 1e-5 rel), matching PyTorch's arrangement too", (n) => {
    const opts = { lr: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
    const p0 = uniform(n, n, -1, 1);
    const params = k.f32(p0);
    const m = k.f32(n);
    const v = k.f32(n);
    let P: Float64Array = Float64Array.from(p0);
    let M: Float64Array = new Float64Array(n);
    let V: Float64Array = new Float64Array(n);
    const tp = Array.from(p0), tm = new Array<number>(n).fill(0), tv = new Array<number>(n).fill(0);
    for (let step = 1; step <= 3; step++) {
      const g = uniform(n, n * 10 + step, -0.5, 0.5);
      // feed the reference the kernel's own f32 state, so each step is checked on its own
      const ref = adamwRef(params.toArray(), g, m.toArray(), v.toArray(), { ...opts, step });
      adamw(k, params, k.f32(g), m, v, { ...opts, step });
      expectClose(params.view, ref.p, 1e-6 * loose, 1e-5 * loose, `adamw params step ${step}`);
      expectClose(m.view, ref.m, 1e-7 * loose, 1e-5 * loose, `adamw m step ${step}`);
      expectClose(v.view, ref.v, 1e-9 * loose, 1e-5 * loose, `adamw v step ${step}`);
      ({ p: P, m: M, v: V } = adamwRef(P, g, M, V, { ...opts, step }));
      torchAdamWRef(tp, g, tm, tv, opts.lr, opts.beta1, opts.beta2, opts.eps, opts.weightDecay, step);
    }
    // the two float64 formulas agree, and three f32 steps stay near the float64 trajectory
    expectClose(P, tp, 1e-12, 1e-12, "adamwRef vs PyTorch's arrangement");
    expectClose(params.view, P, 3e-6 * loose, 1e-5 * loose, "adamw after three steps vs float64 trajectory");
  });

  it("adamw: the first step moves each parameter by about lr against its gradient's sign (Adam's signature)", () => {
    const params = k.f32([1, 1, 1, 1]);
    adamw(k, params, k.f32([3, -0.001, 1e-4, 0]), k.f32(4), k.f32(4), { lr: 0.1, weightDecay: 0, step: 1 });
    const p = params.view;
    expect(p[0]).toBeCloseTo(0.9, 6);
    expect(p[1]).toBeCloseTo(1.1, 5);
    expect(p[2]).toBeCloseTo(0.9, 3); // |g| ≈ 1e-4 is still ≫ eps
    expect(p[3]).toBe(1); // zero gradient: m = v = 0, no 0/0
  });

  it("adamw rejects bad options and arrays", () => {
    const a = k.f32(5), b = k.f32(5), c = k.f32(5), d = k.f32(5);
    const ok = { lr: 1e-3, step: 1 };
    expectCode(() => adamw(k, a, b, c, k.f32(4), ok), "BAD_SHAPE");
    expectCode(() => adamw(k, a, b, c, c, ok), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, a, c, d, ok), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { lr: 1e-3, step: 0 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { lr: 1e-3, step: 1.5 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { lr: -1, step: 1 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { lr: NaN, step: 1 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { ...ok, beta1: 1 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { ...ok, beta2: -0.1 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { ...ok, eps: 0 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, { ...ok, weightDecay: -0.01 }), "BAD_ARGUMENT");
    expectCode(() => adamw(k, a, b, c, d, undefined as never), "BAD_ARGUMENT");
  });

  it.each(SIZES)("add, scale, axpy, n = %i (exact or one rounding)", (n) => {
    const x = uniform(n, n + 1, -10, 10);
    const y = uniform(n, n + 2, -10, 10);
    const a = k.f32(x);
    const b = k.f32(y);
    const out = k.f32(n);
    add(k, out, a, b);
    expectClose(out.view, Array.from(x, (v, i) => Math.fround(v + y[i])), 0, 0, "add");
    add(k, a, a, b); // in place
    expectClose(a.view, out.view, 0, 0, "add in place");
    scale(k, out, -0.375);
    expectClose(out.view, Array.from(x, (v, i) => Math.fround(Math.fround(v + y[i]) * -0.375)), 0, 0, "scale");
    const yy = k.f32(y);
    axpy(k, yy, 0.3, k.f32(x));
    expectClose(yy.view, Array.from(y, (v, i) => v + 0.3 * x[i]), 1e-6, 2e-7 * loose, "axpy");
  });

  it("elementwise wrappers reject wrong lengths, overlap and non-finite alpha", () => {
    const a = k.f32(6);
    expectCode(() => add(k, a, a, k.f32(5)), "BAD_SHAPE");
    expectCode(() => add(k, k.f32(7), a, a), "BAD_SHAPE");
    expectCode(() => axpy(k, a, 1, k.f32(5)), "BAD_SHAPE");
    expectCode(() => axpy(k, a, Infinity, k.f32(6)), "BAD_ARGUMENT");
    expectCode(() => scale(k, a, NaN), "BAD_ARGUMENT");
    const slab = k.f32(10);
    expectCode(() => axpy(k, slab.subarray(0, 6), 1, slab.subarray(2, 6)), "BAD_ARGUMENT");
  });
});
