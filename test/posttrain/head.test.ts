// ScalarHead: scores against a float64 dot product written here, gradients against central finite differences of
// Σ g·score, and save/load through safetensors.
import { describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { ScalarHead } from "../../src/posttrain/head.js";
import { Random } from "../../src/util/random.js";

const B = 3, T = 4, C = 5;

describe("ScalarHead", () => {
  it("forward reads each row at its position; forwardAll scores every row", async () => {
    const k = await loadKernelsFromFiles("simd");
    const head = new ScalarHead(k, C, { std: 0.5, seed: 1 });
    head.params.view[C] = 0.25;
    const rng = new Random(2);
    const hidden = Float32Array.from({ length: B * T * C }, () => rng.normal());
    const w = Array.from(head.params.view);
    const dot = (row: number) => w.slice(0, C).reduce((s, wc, c) => s + wc * hidden[row * C + c], w[C]);
    const positions = [3, 0, 2];
    const got = head.forward(hidden, B, T, positions);
    positions.forEach((p, b) => expect(got[b]).toBeCloseTo(dot(b * T + p), 6));
    const all = head.forwardAll(hidden);
    expect(all.length).toBe(B * T);
    for (let r = 0; r < B * T; r++) expect(all[r]).toBeCloseTo(dot(r), 6);
  });

  it("backward matches central finite differences for the weights, bias and hidden states", async () => {
    const k = await loadKernelsFromFiles("simd");
    const head = new ScalarHead(k, C, { std: 0.7, seed: 3 });
    const rng = new Random(4);
    const hidden = Float64Array.from({ length: B * T * C }, () => rng.normal());
    const positions = [1, 3, 0], g = [0.5, -1.5, 2];
    const loss = (h: Float64Array) => head.forward(h, B, T, positions).reduce((s, r, b) => s + g[b] * r, 0);
    head.zeroGrad();
    const dhidden = head.backward(g, hidden, B, T, positions);
    const eps = 1e-3;
    for (let i = 0; i < hidden.length; i++) {
      const up = Float64Array.from(hidden), down = Float64Array.from(hidden);
      up[i] += eps;
      down[i] -= eps;
      expect(dhidden[i]).toBeCloseTo((loss(up) - loss(down)) / (2 * eps), 4);
    }
    const p = head.params.view;
    for (let i = 0; i <= C; i++) {
      const keep = p[i];
      p[i] = keep + eps;
      const up = loss(hidden);
      p[i] = keep - eps;
      const down = loss(hidden);
      p[i] = keep;
      expect(head.grads.view[i], `param ${i}`).toBeCloseTo((up - down) / (2 * eps), 2);
    }
    // Accumulates: a second backward doubles the gradient.
    const once = Array.from(head.grads.view);
    head.backward(g, hidden, B, T, positions);
    head.grads.view.forEach((v, i) => expect(v).toBeCloseTo(2 * once[i], 4));
    // backwardAll over every row: gradient of Σ gr·score_r.
    head.zeroGrad();
    const gr = Array.from({ length: B * T }, () => rng.normal());
    const dAll = head.backwardAll(gr, hidden);
    const lossAll = (h: Float64Array) => head.forwardAll(h).reduce((s, r, i) => s + gr[i] * r, 0);
    for (let i = 0; i < hidden.length; i += 7) {
      const up = Float64Array.from(hidden), down = Float64Array.from(hidden);
      up[i] += eps;
      down[i] -= eps;
      expect(dAll[i]).toBeCloseTo((lossAll(up) - lossAll(down)) / (2 * eps), 4);
    }
    expect(head.grads.view[C]).toBeCloseTo(gr.reduce((s, x) => s + x, 0), 4);
  });

  it("a step moves the score toward a target; save/load round-trips", async () => {
    const k = await loadKernelsFromFiles("simd");
    const head = new ScalarHead(k, C, { std: 0.1, seed: 5, optimizer: { lr: 0.05 } });
    const hidden = Float32Array.from({ length: C }, (_, i) => i - 2);
    const before = head.forward(hidden, 1, 1, [0])[0];
    for (let s = 0; s < 20; s++) {
      head.zeroGrad();
      const r = head.forward(hidden, 1, 1, [0])[0];
      head.backward([r - 3], hidden, 1, 1, [0]); // d/dr of (r − 3)²/2
      head.step();
    }
    const after = head.forward(hidden, 1, 1, [0])[0];
    expect(Math.abs(after - 3)).toBeLessThan(Math.abs(before - 3) / 2);
    const copy = ScalarHead.load(k, head.save());
    expect(Array.from(copy.params.view)).toEqual(Array.from(head.params.view));
    // From a file read by Node: a small Buffer is a view into a shared pool.
    expect(Array.from(ScalarHead.load(k, Buffer.from(head.save())).params.view)).toEqual(Array.from(head.params.view));
    expect(() => ScalarHead.load(k, new Uint8Array(16))).toThrow(TinyLMError);
  });

  it("rejects bad shapes, positions and non-finite gradients", async () => {
    const k = await loadKernelsFromFiles("simd");
    const head = new ScalarHead(k, C);
    const hidden = new Float32Array(B * T * C);
    expect(() => new ScalarHead(k, 0)).toThrow(TinyLMError);
    expect(() => head.forward(hidden, B, T, [0, 1])).toThrow(/one position/);
    expect(() => head.forward(hidden, B, T, [0, 1, T])).toThrow(/positions\[2\]/);
    expect(() => head.forward(new Float32Array(7), B, T, [0, 0, 0])).toThrow(/B·T·C/);
    expect(() => head.forwardAll(new Float32Array(7))).toThrow(TinyLMError);
    expect(() => head.backward([0, NaN, 0], hidden, B, T, [0, 0, 0])).toThrow(/dscores\[1\]/);
  });
});
