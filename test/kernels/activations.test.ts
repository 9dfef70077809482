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
import { SIZES, expectClose, ulpDistance, uniform, expectCode } from "./helpers.js";

function nextUp(v: number): number {
  const f = new Float32Array([v]);
  new Int32Array(f.buffer)[0]++;
  return f[0];
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
  // Probabilities: exp's 2 ulp plus the f32 row sum (four lanes, two accumulators) and one rounding per division.
  it.each(SIZES)("softmax, softmaxBackward and logSoftmax, rows = %i, every cols size (tolerance 1e-7 abs + 3e-6 rel)", (rows) => {
    for (const cols of SIZES) {
      const n = rows * cols;
      const x = uniform(n, rows * 1000 + cols, -8, 8);
      const inp = k.f32(x);
      const out = k.f32(n);
      for (const opts of [{}, { scale: 0.125 }, { causal: true }, { causal: true, pastLength: 2, scale: 0.3 }]) {
        softmax(k, out, inp, { rows, cols, ...opts });
        expectClose(out.view, softmaxRef(x, rows, cols, opts), 1e-7 * loose, 3e-6 * loose, `softmax ${rows}x${cols} ${JSON.stringify(opts)}`);
      }
      const y = out.toArray();
      const dout = uniform(n, n + 5);
      const dinp0 = uniform(n, n + 6);
      const dinp = k.f32(dinp0);
      softmaxBackward(k, dinp, out, k.f32(dout), { rows, cols, scale: 0.3 });
      const want = softmaxBackwardRef(y, dout, rows, cols, 0.3).map((v, i) => v + dinp0[i]);
      expectClose(dinp.view, want, 1e-6 * loose, 1e-5 * loose, `softmaxBackward ${rows}x${cols}`);
      logSoftmax(k, out, inp, { rows, cols });
      expectClose(out.view, logSoftmaxRef(x, rows, cols), 2e-6 * loose, 1e-6 * loose, `logSoftmax ${rows}x${cols}`);
      dinp.free();
      inp.free();
      out.free();
    }
  });

  it("softmax: the causal mask gives exact zeros and rows that sum to 1 over what they see", () => {
    const rows = 5, cols = 9, pastLength = 3;
    const x = uniform(rows * cols, 77, -4, 4);
    const out = k.f32(rows * cols);
    softmax(k, out, k.f32(x), { rows, cols, causal: true, pastLength });
    const y = out.view;
    for (let r = 0; r < rows; r++) {
      const seen = Math.min(cols, r + pastLength + 1);
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        if (j < seen) sum += y[r * cols + j];
        else expect(y[r * cols + j], `row ${r} column ${j} is masked`).toBe(0);
      }
      expect(Math.abs(sum - 1)).toBeLessThan(1e-6);
    }
  });

  it("softmax and logSoftmax on huge, tiny, −inf, +inf and NaN inputs (rules stated in assembly/activations.ts)", () => {
    const cols = 6;
    const rows = [
      [1e30, -1e30, 0, 1e30, 5, -5], // huge: the two maxima share the mass, the rest underflow to 0
      [1e-30, -1e-30, 0, 1e-38, -1e-45, 1e-45], // tiny: uniform to within rounding
      [-Infinity, 1, 2, -Infinity, 3, -Infinity], // −inf entries get exactly 0
      [-Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity], // fully masked: zeros, not NaN
      [Infinity, 1, Infinity, 0, -Infinity, 2], // +inf: the limit, shared
      [1, NaN, 2, 3, 4, 5], // NaN spreads to the row
      [-Infinity, NaN, -Infinity, -Infinity, -Infinity, -Infinity], // NaN is not hidden by the −inf path
      [3.4e38, 3.4e38, -3.4e38, 0, 1, 2], // differences overflow to −inf: still finite probabilities
    ];
    const x = Float32Array.from(rows.flat());
    const inp = k.f32(x);
    const out = k.f32(x.length);
    softmax(k, out, inp, { rows: rows.length, cols });
    const want = softmaxRef(x, rows.length, cols);
    expectClose(out.view, want, 1e-7, 1e-6, "softmax special values");
    expect(Array.from(out.view.subarray(3 * cols, 4 * cols))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(out.view[2 * cols]).toBe(0);
    expect(Number.isNaN(out.view[5 * cols]) && Number.isNaN(out.view[6 * cols])).toBe(true);
    logSoftmax(k, out, inp, { rows: rows.length, cols });
    // rounded to f32: −3.4e38 − 3.4e38 is −inf in f32
    expectClose(out.view, logSoftmaxRef(x, rows.length, cols).map(Math.fround), 2e-6, 1e-6, "logSoftmax special values");
    expect(out.view[3 * cols]).toBe(-Infinity);
    // a fully masked causal row cannot happen (row r always sees column 0), but −inf logits under the mask behave
    const masked = k.f32(Float32Array.from([-Infinity, 5, 1, -Infinity, -Infinity, 2]));
    const mo = k.f32(6);
    softmax(k, mo, masked, { rows: 2, cols: 3, causal: true });
    expect(Array.from(mo.view)).toEqual([0, 0, 0, 0, 0, 0]); // row 0 sees [−inf], row 1 sees [−inf, −inf]
  });

  it.each(SIZES)("silu, siluBackward, swiglu, swigluBackward, n = %i (tolerance 1e-6 abs + 1e-5 rel)", (n) => {
    const x = uniform(n, n + 11, -12, 12);
    const up = uniform(n, n + 12, -2, 2);
    const dout = uniform(n, n + 13);
    const inp = k.f32(x);
    const out = k.f32(n);
    silu(k, out, inp);
    expectClose(out.view, siluRef(x), 1e-6 * loose, 1e-6 * loose, "silu");
    const d0 = uniform(n, n + 14);
    const dinp = k.f32(d0);
    siluBackward(k, dinp, k.f32(dout), inp);
    const g = siluGradRef(x);
    expectClose(dinp.view, d0.map((v, i) => v + dout[i] * g[i]), 1e-6 * loose, 1e-5 * loose, "siluBackward");
    const upA = k.f32(up);
    swiglu(k, out, inp, upA);
    const s = siluRef(x);
    expectClose(out.view, s.map((v, i) => v * up[i]), 1e-6 * loose, 1e-5 * loose, "swiglu");
    const dg0 = uniform(n, n + 15);
    const du0 = uniform(n, n + 16);
    const dgate = k.f32(dg0);
    const dup = k.f32(du0);
    swigluBackward(k, dgate, dup, k.f32(dout), inp, upA);
    expectClose(dgate.view, dg0.map((v, i) => v + dout[i] * up[i] * g[i]), 1e-6 * loose, 1e-5 * loose, "swigluBackward dgate");
    expectClose(dup.view, du0.map((v, i) => v + dout[i] * s[i]), 1e-6 * loose, 1e-5 * loose, "swigluBackward dup");
  });

  it("silu and its gradient at ±inf, ±100 and NaN", () => {
    const x = Float32Array.from([Infinity, -Infinity, 100, -100, NaN, 0]);
    const inp = k.f32(x);
    const out = k.f32(x.length);
    silu(k, out, inp);
    const y = out.view;
    expect(y[0]).toBe(Infinity);
    expect(Math.abs(y[1])).toBe(0);
    expect(y[2]).toBe(100);
    expect(y[3] <= 0 && y[3] > -1e-40).toBe(true); // −100·σ(−100) ≈ −3.7e-42

    expect(out.view[4]).toBeNaN();
    expect(out.view[5]).toBe(0);
    const dinp = k.f32(x.length);
    siluBackward(k, dinp, k.f32(new Float32Array(x.length).fill(1)), inp);
    expect(Array.from(dinp.view.subarray(0, 4)).map((v) => Math.abs(v))).toEqual([1, 0, 1, 0]);
    expect(dinp.view[4]).toBeNaN();
    expect(dinp.view[5]).toBe(0.5);
  });

  // rstd: one f32 sum of squares over cols terms; out adds two roundings.
  it.each(SIZES)("rmsnorm and rmsnormBackward, rows = %i, every cols size (tolerance 1e-6 abs + 1e-5 rel)", (rows) => {
    for (const cols of SIZES) {
      const n = rows * cols;
      const x = uniform(n, rows * 31 + cols, -3, 3);
      const w = uniform(cols, cols + 3, 0.5, 1.5);
      const inp = k.f32(x);
      const weight = k.f32(w);
      const out = k.f32(n);
      const rstd = k.f32(rows);
      rmsnorm(k, out, rstd, inp, weight, { rows, cols, eps: 1e-5 });
      const ref = rmsnormRef(x, w, rows, cols, 1e-5);
      expectClose(out.view, ref.out, 1e-6 * loose, 1e-5 * loose, `rmsnorm ${rows}x${cols}`);
      expectClose(rstd.view, ref.rstd, 0, 2e-6 * loose, `rmsnorm rstd ${rows}x${cols}`);
      const dout = uniform(n, n + 21);
      const di0 = uniform(n, n + 22);
      const dw0 = uniform(cols, n + 23);
      const dinp = k.f32(di0);
      const dweight = k.f32(dw0);
      rmsnormBackward(k, dinp, dweight, k.f32(dout), inp, weight, rstd, { rows, cols });
      const g = rmsnormBackwardRef(dout, x, w, rows, cols, 1e-5);
      expectClose(dinp.view, g.dinp.map((v, i) => v + di0[i]), 1e-5 * loose, 1e-5 * loose, `rmsnormBackward dinp ${rows}x${cols}`);
      expectClose(dweight.view, g.dweight.map((v, i) => v + dw0[i]), 1e-5 * loose, 1e-5 * loose, `rmsnormBackward dweight ${rows}x${cols}`);
    }
  });

  // Loss: log of an f32 sum plus m − x_t in f64. Gradient: probabilities (see softmax) times dlossScale.
  it.each(SIZES)("crossEntropy losses and dlogits, rows = %i, every vocab size, with ignored rows (tolerance 1e-5)", (rows) => {
    for (const vocab of SIZES) {
      const x = uniform(rows * vocab, rows * 7 + vocab, -6, 6);
      const t = Int32Array.from({ length: rows }, (_, r) => (r % 5 === 3 ? -1 : (r * 7919) % vocab));
      const logits = k.f32(x);
      const losses = k.f32(rows);
      const d0 = uniform(rows * vocab, vocab + 1, -0.1, 0.1);
      const dlogits = k.f32(d0);
      const mean = crossEntropy(k, losses, logits, k.i32(t), { rows, vocab, dlogits });
      const want = crossEntropyRef(x, t, rows, vocab);
      expectClose(losses.view, want, 1e-5 * loose, 1e-6 * loose, `crossEntropy losses ${rows}x${vocab}`);
      const counted = Array.from(t).filter((v) => v !== -1).length;
      const wantMean = want.reduce((a, b) => a + b, 0) / counted;
      expect(Math.abs(mean - wantMean), `mean ${mean} vs ${wantMean}`).toBeLessThan(1e-5);
      const grad = crossEntropyGradRef(x, t, rows, vocab, 1 / counted);
      expectClose(dlogits.view, grad.map((v, i) => v + d0[i]), 1e-7 * loose, 1e-5 * loose, `crossEntropy dlogits ${rows}x${vocab}`);
      for (let r = 0; r < rows; r++) {
        if (t[r] !== -1) continue;
        expect(losses.view[r]).toBe(0);
        for (let j = 0; j < vocab; j++) expect(dlogits.view[r * vocab + j]).toBe(d0[r * vocab + j]);
      }
    }
  });

  it("crossEntropy: the float64 gradient reference agrees with finite differences, and so does the kernel", () => {
    const rows = 3, vocab = 7;
    const x = uniform(rows * vocab, 5, -3, 3);
    const t = Int32Array.from([2, -1, 6]);
    const scale = 0.5;
    const loss = (z: Float64Array) => crossEntropyRef(z, t, rows, vocab).reduce((a, b) => a + b, 0) * scale;
    const fd = finiteDiff(loss, x);
    const ref = crossEntropyGradRef(x, t, rows, vocab, scale);
    expectClose(ref, fd, 1e-8, 1e-6, "crossEntropyGradRef vs finite differences");
    const dlogits = k.f32(rows * vocab);
    crossEntropy(k, k.f32(rows), k.f32(x), k.i32(t), { rows, vocab, dlogits, dlossScale: scale });
    expectClose(dlogits.view, fd, 1e-7 * loose, 1e-5 * loose, "crossEntropy dlogits vs finite differences");
  });

  it("rmsnorm: the float64 backward reference agrees with finite differences", () => {
    const rows = 2, cols = 5;
    const x = uniform(rows * cols, 8, -2, 2);
    const w = uniform(cols, 9, 0.5, 1.5);
    const dout = uniform(rows * cols, 10);
    const f = (z: Float64Array) => rmsnormRef(z, w, rows, cols, 1e-5).out.reduce((a, v, i) => a + v * dout[i], 0);
    const fw = (z: Float64Array) => rmsnormRef(x, z, rows, cols, 1e-5).out.reduce((a, v, i) => a + v * dout[i], 0);
    const g = rmsnormBackwardRef(dout, x, w, rows, cols, 1e-5);
    expectClose(g.dinp, finiteDiff(f, x), 1e-8, 1e-6, "rmsnormBackwardRef dinp vs finite differences");
    expectClose(g.dweight, finiteDiff(fw, w), 1e-8, 1e-6, "rmsnormBackwardRef dweight vs finite differences");
  });

  it("crossEntropy on huge and −inf logits: finite where the math is, inf when the target is impossible", () => {
    const vocab = 4;
    const x = Float32Array.from([
      1e30, 0, -1e30, 5, // target 0 holds all the mass: loss 0
      -Infinity, 2, 1, -Infinity, // −inf non-targets get probability 0 and gradient 0
      -Infinity, 2, 1, 0, // the target is −inf: loss +inf
    ]);
    const t = Int32Array.from([0, 1, 0]);
    const losses = k.f32(3);
    const dlogits = k.f32(12);
    crossEntropy(k, losses, k.f32(x), k.i32(t), { rows: 3, vocab, dlogits, dlossScale: 1 });
    const l = losses.view;
    expect(l[0]).toBe(0);
    expect(Math.abs(l[1] - crossEntropyRef(x.subarray(4, 8), [1], 1, vocab)[0])).toBeLessThan(1e-6);
    expect(l[2]).toBe(Infinity);
    const d = dlogits.view;
    expect(Array.from(d.subarray(0, 4))).toEqual([0, 0, 0, 0]);
    expect(d[4]).toBe(0);
    expect(d[7]).toBe(0);
    expectClose(d.subarray(4, 8), crossEntropyGradRef(x.subarray(4, 8), [1], 1, vocab, 1), 1e-7, 1e-6, "gradient with −inf logits");
  });

  it("crossEntropy rejects out-of-range targets before computing, naming the row and value", () => {
    const logits = k.f32(uniform(12, 1));
    const losses = k.f32(3).set([7, 7, 7]);
    for (const [bad, row] of [[[0, 4, 1], 1], [[0, 1, -2], 2]] as const) {
      const targets = k.i32(bad);
      try {
        crossEntropy(k, losses, logits, targets, { rows: 3, vocab: 4 });
        expect.fail("no error");
      } catch (e) {
        expect(e).toBeInstanceOf(TinyLMError);
        expect((e as TinyLMError).code).toBe("OUT_OF_RANGE");
        expect((e as Error).message).toContain(`row ${row}`);
        expect((e as Error).message).toContain(`target ${bad[row]}`);
      }
      expect(Array.from(losses.view)).toEqual([7, 7, 7]);
    }
    // a different ignoreIndex makes −1 an ordinary (out-of-range) target
    expectCode(() => crossEntropy(k, losses, logits, k.i32([-1, 0, 0]), { rows: 3, vocab: 4, ignoreIndex: -100 }), "OUT_OF_RANGE");
    expect(crossEntropy(k, losses, logits, k.i32([-100, -100, -100]), { rows: 3, vocab: 4, ignoreIndex: -100 })).toBe(0);
  });

  it("wrappers reject wrong lengths (BAD_SHAPE) and bad options (BAD_ARGUMENT)", () => {
    const a = k.f32(12);
    const b = k.f32(12);
    expectCode(() => softmax(k, b, k.f32(11), { rows: 3, cols: 4 }), "BAD_SHAPE");
    expectCode(() => softmax(k, k.f32(13), a, { rows: 3, cols: 4 }), "BAD_SHAPE");
    expectCode(() => softmax(k, b, a, { rows: 3, cols: 4.5 }), "BAD_SHAPE");
    expectCode(() => softmax(k, b, a, { rows: -3, cols: 4 }), "BAD_SHAPE");
    expectCode(() => softmax(k, b, a, { rows: 3, cols: 4, scale: 0 }), "BAD_ARGUMENT");
    expectCode(() => softmax(k, b, a, { rows: 3, cols: 4, scale: NaN }), "BAD_ARGUMENT");
    expectCode(() => softmax(k, b, a, { rows: 3, cols: 4, causal: true, pastLength: -1 }), "BAD_SHAPE");
    expectCode(() => softmax(k, b, a, undefined as never), "BAD_SHAPE");
    expectCode(() => softmaxBackward(k, b, a, k.f32(3), { rows: 3, cols: 4 }), "BAD_SHAPE");
    expectCode(() => logSoftmax(k, b, a, { rows: 4, cols: 4 }), "BAD_SHAPE");
    expectCode(() => silu(k, k.f32(3), a), "BAD_SHAPE");
    expectCode(() => siluBackward(k, b, k.f32(3), a), "BAD_SHAPE");
    expectCode(() => swiglu(k, b, a, k.f32(11)), "BAD_SHAPE");
    expectCode(() => swigluBackward(k, b, b, a, a, a), "BAD_ARGUMENT");
    expectCode(() => exp(k, k.f32(2), a), "BAD_SHAPE");
    expectCode(() => rmsnorm(k, b, k.f32(3), a, k.f32(5), { rows: 3, cols: 4 }), "BAD_SHAPE");
    expectCode(() => rmsnorm(k, b, k.f32(2), a, k.f32(4), { rows: 3, cols: 4 }), "BAD_SHAPE");
    expectCode(() => rmsnorm(k, b, k.f32(3), a, k.f32(4), { rows: 3, cols: 4, eps: 0 }), "BAD_ARGUMENT");
    expectCode(() => rmsnormBackward(k, b, k.f32(4), a, a, k.f32(4), k.f32(2), { rows: 3, cols: 4 }), "BAD_SHAPE");
    expectCode(() => crossEntropy(k, k.f32(3), a, k.i32(3), { rows: 3, vocab: 5 }), "BAD_SHAPE");
    expectCode(() => crossEntropy(k, k.f32(3), a, k.f32(3) as never, { rows: 3, vocab: 4 }), "BAD_ARGUMENT");
    expectCode(() => crossEntropy(k, k.f32(3), a, k.i32(3), { rows: 3, vocab: 4, dlogits: k.f32(11) }), "BAD_SHAPE");
    expectCode(() => crossEntropy(k, k.f32(3), a, k.i32(3), { rows: 3, vocab: 4, dlossScale: Infinity }), "BAD_ARGUMENT");
    expectCode(() => crossEntropy(k, k.f32(3), a, k.i32(3), { rows: 3, vocab: 4, ignoreIndex: 0.5 }), "BAD_ARGUMENT");
    // a per-row output sharing memory with the matrix it is computed from would be overwritten mid-row
    const slab = k.f32(16);
    expectCode(() => rmsnorm(k, slab.subarray(0, 12), slab.subarray(10, 3), slab.subarray(0, 12), k.f32(4), { rows: 3, cols: 4 }), "BAD_ARGUMENT");
    expectCode(() => crossEntropy(k, slab.subarray(0, 3), slab.subarray(0, 12), k.i32(3), { rows: 3, vocab: 4 }), "BAD_ARGUMENT");
  });

  it("memory growth between calls: results stay right and earlier arrays still read through .view", () => {
    const rows = 4, cols = 33;
    const x = uniform(rows * cols, 3, -5, 5);
    const inp = k.f32(x);
    const out = k.f32(rows * cols);
    softmax(k, out, inp, { rows, cols });
    const before = k.heap.memory.buffer;
    const staleView = out.view;
    const big = k.f32(before.byteLength / 4 + 1024); // more than the whole memory: must grow
    expect(k.heap.memory.buffer).not.toBe(before);
    expect(staleView.length).toBe(0); // the detached view, the reason views are never kept
    expectClose(out.view, softmaxRef(x, rows, cols), 1e-7 * loose, 3e-6 * loose, "softmax output after growth");
    const targets = k.i32(Int32Array.from({ length: rows }, (_, r) => r));
    const losses = k.f32(rows);
    crossEntropy(k, losses, inp, targets, { rows, vocab: cols });
    expectClose(losses.view, crossEntropyRef(x, [0, 1, 2, 3], rows, cols), 1e-5 * loose, 1e-6 * loose, "crossEntropy after growth");
    sigmoid(k, out, inp);
    expectClose(out.view, sigmoidRef(x), 2e-7 * loose, 1e-6 * loose, "sigmoid after growth");
    big.free();
  });
});

describe("kernel arrays from another Kernels instance", () => {
  it("are rejected", async () => {
    const k1 = await loadKernelsFromFiles("simd");
    const k2 = await loadKernelsFromFiles("simd");
    expectCode(() => sigmoid(k1, k1.f32(4), k2.f32(4)), "BAD_ARGUMENT");
  });
});
