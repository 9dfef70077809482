import { beforeAll, describe, expect, it } from "vitest";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import type { Kernels } from "../../src/kernels/module.js";
import { TinyLMError } from "../../src/errors.js";
import {
  crossEntropy, exp, logSoftmax, rmsnorm, rmsnormBackward, sigmoid, sigmoidBackward, silu, siluBackward, softmax,
  softmaxBackward, swiglu, swigluBackward,
} from "../../src/kernels/activations.js";
import {
  crossEntropyGradRef, crossEntropyRef, finiteDiff, logSoftmaxRef, rmsnormBackwardRef, rmsnormRef, sigmoidBackwardRef,
  sigmoidRef, siluGradRef, siluRef, softmaxBackwardRef, softmaxRef,
} from "./reference.js";
import { SIZES, expectClose, ulpDistance, uniform } from "./helpers.js";

function nextUp(v: number): number {
  const f = new Float32Array([v]);
  new Int32Array(f.buffer)[0]++;
  return f[0];
}

function expectCode(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TinyLMError);
    expect((e as TinyLMError).code).toBe(code);
    return;
  }
  expect.fail(`expected a TinyLMError ${code}`);
}

// The plain-SIMD build is the default for correctness; the relaxed build (fused multiply-add, possibly different
// rounding) runs the same tests with tolerances `loose` times wider.
describe.each([
  ["simd", 1],
  ["relaxed", 2],
] as const)("activation kernels (%s build) vs float64 reference", (flavor, loose) => {
  let k: Kernels;
  beforeAll(async () => {
    k = await loadKernelsFromFiles(flavor);
  });

  it("exp is within 2 ulp of Math.exp (rounded to f32) over a dense sweep of [−87, 88] and all of (88, 88.72]", () => {
    const n = 1 << 20;
    const xs = new Float32Array(n);
    for (let i = 0; i < n; i++) xs[i] = -87 + (175 * i) / (n - 1);
    const inp = k.f32(xs);
    const out = k.f32(n);
    exp(k, out, inp);
    const y = out.view;
    let worst = 0;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const d = ulpDistance(y[i], Math.fround(Math.exp(xs[i])));
      if (d > worst) [worst, at] = [d, xs[i]];
    }
    expect(worst, `worst ${worst} ulp at x = ${at}`).toBeLessThanOrEqual(2);
    // every float from 88 up to the overflow threshold, where n = 128 needs the doubled scale
    const top: number[] = [];
    for (let v = Math.fround(88); v <= 88.72283; v = nextUp(v)) top.push(v);
    const tin = k.f32(top);
    const tout = k.f32(top.length);
    exp(k, tout, tin);
    const ty = tout.view;
    for (let i = 0; i < top.length; i++) {
      const d = ulpDistance(ty[i], Math.fround(Math.exp(top[i])));
      if (d > 2) expect.fail(`exp(${top[i]}) = ${ty[i]} is ${d} ulp from ${Math.fround(Math.exp(top[i]))}`);
    }
    for (const a of [inp, out, tin, tout]) a.free();
  });

  it("exp edge values: ±inf, NaN, ±0, overflow to inf, underflow to 0 or a denormal", () => {
    const xs = Float32Array.from([-Infinity, Infinity, NaN, 0, -0, 88.7, 88.8, 100, 1e30, -87.3, -87.33, 1e-30, -1e-30]);
    const inp = k.f32(xs);
    const out = k.f32(xs.length);
    exp(k, out, inp);
    const y = out.view;
    expect(y[0]).toBe(0);
    expect(y[1]).toBe(Infinity);
    expect(y[2]).toBeNaN();
    expect(y[3]).toBe(1);
    expect(y[4]).toBe(1);
    for (let i = 5; i < xs.length; i++) {
      const want = Math.fround(Math.exp(xs[i]));
      expect(ulpDistance(y[i], want), `exp(${xs[i]}) = ${y[i]}, want ${want}`).toBeLessThanOrEqual(2);
    }
    // below 2^−126 the result is a denormal close to e^x (x > −87.68) or 0, never more than e^x's next normal
    const low = Float32Array.from([-87.4, -87.6, -87.7, -88, -90, -100, -103.9, -104.5, -1e30]);
    const lin = k.f32(low);
    const lout = k.f32(low.length);
    exp(k, lout, lin);
    const ly = lout.view;
    for (let i = 0; i < low.length; i++) {
      const want = Math.exp(low[i]);
      expect(ly[i] >= 0 && ly[i] <= 2 ** -126, `exp(${low[i]}) = ${ly[i]}`).toBe(true);
      if (low[i] > -87.6) expect(Math.abs(ly[i] - want), `exp(${low[i]}) = ${ly[i]}, want ${want}`).toBeLessThanOrEqual(2 * 2 ** -149);
    }
  });

  it.each(SIZES)("sigmoid forward and backward, n = %i (tolerance 2e-7 abs + 1e-6 rel)", (n) => {
    const x = uniform(n, n, -12, 12);
    const inp = k.f32(x);
    const out = k.f32(n);
    sigmoid(k, out, inp);
    const s = out.toArray();
    expectClose(s, sigmoidRef(x), 2e-7 * loose, 1e-6 * loose, "sigmoid");

    const dout = uniform(n, n + 1);
    const dinp0 = uniform(n, n + 2);
    const dinp = k.f32(dinp0);
    sigmoidBackward(k, dinp, out, k.f32(dout));
    const want = sigmoidBackwardRef(s, dout).map((v, i) => v + dinp0[i]);
    expectClose(dinp.view, want, 1e-7 * loose, 1e-6 * loose, "sigmoidBackward");
  });

  it("sigmoid is stable at ±100, ±inf and keeps NaN; in place works", () => {
    const x = Float32Array.from([100, -100, Infinity, -Infinity, NaN, 0, -30, 30, 1e30, -1e30]);
    const a = k.f32(x);
    sigmoid(k, a, a);
    const y = a.view;
    expect(Array.from(y.subarray(0, 4))).toEqual([1, 0, 1, 0]);
    expect(y[4]).toBeNaN();
    expect(y[5]).toBe(0.5);
    expect(Math.abs(y[6] - 1 / (1 + Math.exp(30))) / (1 / (1 + Math.exp(30)))).toBeLessThan(1e-6);
    expect(y[7]).toBe(1);
    expect([y[8], y[9]]).toEqual([1, 0]);
  });

  it("sigmoid rejects wrong lengths, foreign and overlapping arrays", () => {
    const a = k.f32(8);
    expectCode(() => sigmoid(k, k.f32(7), a), "BAD_SHAPE");
    expectCode(() => sigmoidBackward(k, k.f32(8), a, k.f32(9)), "BAD_SHAPE");
    expectCode(() => sigmoid(k, new Float32Array(8) as never, a), "BAD_ARGUMENT");
    expectCode(() => sigmoid(k, k.i32(8) as never, a), "BAD_ARGUMENT");
    const slab = k.f32(16);
    expectCode(() => sigmoid(k, slab.subarray(1, 8), slab.subarray(0, 8)), "BAD_ARGUMENT");
    sigmoid(k, slab.subarray(8, 8), slab.subarray(0, 8)); // disjoint parts of one slab are fine
    a.free();
    expectCode(() => sigmoid(k, a, a), "FREED");
  });
});

describe("kernel arrays from another Kernels instance", () => {
  it("are rejected", async () => {
    const k1 = await loadKernelsFromFiles("simd");
    const k2 = await loadKernelsFromFiles("simd");
    expectCode(() => sigmoid(k1, k1.f32(4), k2.f32(4)), "BAD_ARGUMENT");
  });
});
