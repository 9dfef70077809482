import { beforeAll, describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { QuantizedMatrix, dequantize, heapBytes, qmatmul, qmatmulWorkBytes, quantize } from "../../src/kernels/quant.js";
import type { Kernels } from "../../src/kernels/module.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { QUANT_FORMATS, type QuantType, canQuantize, quantizedBytes } from "../../src/quant/formats.js";
import { adversarialBlocks, decodeBlock, dequantizeRef, lcg, qmatmulRef, quantizeRef } from "./reference.js";

const TYPES: QuantType[] = ["Q8_0", "Q4_0", "Q4_1"];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

function kernelQuantize(k: Kernels, type: QuantType, x: Float32Array, rows: number, cols: number): Uint8Array {
  const m = QuantizedMatrix.fromF32(k, type, x, rows, cols);
  try {
    return m.toBytes();
  } finally {
    m.free();
  }
}

// The first differing block, printed as both byte strings, so a failure names the values that caused it.
function expectSameBlocks(type: QuantType, got: Uint8Array, want: Uint8Array, x: Float32Array, label: string): void {
  const bb = QUANT_FORMATS[type].blockBytes;
  expect(got.length, `${label}: length`).toBe(want.length);
  for (let b = 0; b < want.length / bb; b++) {
    const g = got.subarray(b * bb, (b + 1) * bb), w = want.subarray(b * bb, (b + 1) * bb);
    if (hex(g) !== hex(w)) {
      expect.fail(`${label}: block ${b} differs\n  got  ${hex(g)}\n  want ${hex(w)}\n  x = [${Array.from(x.subarray(b * 32, b * 32 + 32)).join(", ")}]`);
    }
  }
}

describe("formats", () => {
  it("block sizes, bits per weight and which row lengths can be quantized", () => {
    expect(QUANT_FORMATS.Q8_0).toMatchObject({ ggmlType: 8, blockBytes: 34, bitsPerWeight: 8.5 });
    expect(QUANT_FORMATS.Q4_0).toMatchObject({ ggmlType: 2, blockBytes: 18, bitsPerWeight: 4.5 });
    expect(QUANT_FORMATS.Q4_1).toMatchObject({ ggmlType: 3, blockBytes: 20, bitsPerWeight: 5 });
    expect(canQuantize("Q4_0", 288)).toBe(true);
    expect(canQuantize("Q4_0", 172)).toBe(false);
    expect(canQuantize("Q8_0", 0)).toBe(false);
    expect(quantizedBytes("Q4_1", 3, 64)).toBe(120);
    expect(() => quantizedBytes("Q8_0", 2, 100)).toThrow(/blocks of 32/);
    expect(() => canQuantize("Q5_0" as QuantType, 32)).toThrow(TinyLMError);
  });
});

describe.each(["simd", "relaxed"] as const)("quantization kernels (%s build)", (flavor) => {
  let k: Kernels;
  beforeAll(async () => {
    k = await loadKernelsFromFiles(flavor);
    expect(k.flavor).toBe(flavor);
  });

  it("Q8_0 quants of −128 (never written by llama.cpp): exact in the simd build, refused by the relaxed build", () => {
    const bytes = quantizeRef("Q8_0", lcg(2 * 64, 41));
    bytes[5] = 0x80;
    bytes[34 * 3 + 20] = 0x80;
    if (flavor === "relaxed") {
      expect(() => QuantizedMatrix.fromBytes(k, "Q8_0", bytes, 2, 64)).toThrow(expect.objectContaining({ code: "UNSUPPORTED" }));
      return;
    }
    const W = QuantizedMatrix.fromBytes(k, "Q8_0", bytes, 2, 64);
    const xs = lcg(64, 42), x = k.f32(xs), y = k.f32(2);
    qmatmul(k, y, x, W, 1);
    const { y: want, mag } = qmatmulRef("Q8_0", xs, bytes, 1, 2, 64);
    for (let n = 0; n < 2; n++) expect(Math.abs(y.view[n] - want[n])).toBeLessThanOrEqual(mag[n] * 2 ** -20);
    W.free(); x.free(); y.free();
  });

  describe.each(TYPES)("%s", (type) => {
    it("random tensors: byte-identical to the reference quantizer written from ggml's C source", () => {
      for (const [rows, cols, scale, seed] of [[1, 32, 1, 1], [3, 96, 0.02, 2], [17, 256, 40, 3], [64, 4096, 1, 4]] as const) {
        const x = lcg(rows * cols, seed, -scale, scale);
        expectSameBlocks(type, kernelQuantize(k, type, x, rows, cols), quantizeRef(type, x), x, `${rows}×${cols}`);
      }
    });

    it("ties, zeros of both signs, all-negative blocks, huge values, subnormal scales: byte-identical to the reference", () => {
      const x = adversarialBlocks();
      expectSameBlocks(type, kernelQuantize(k, type, x, x.length / 32, 32), quantizeRef(type, x), x, "adversarial");
      // Values that make x·id land exactly on rounding edges in bulk: multiples of 1/16 and of 1/2 around a fixed max.
      const grid = Float32Array.from({ length: 32 * 64 }, (_, i) => (i % 32 === 0 ? 8 : ((i * 7) % 257) / 16 - 8));
      expectSameBlocks(type, kernelQuantize(k, type, grid, 64, 32), quantizeRef(type, grid), grid, "grid");
    });

    it("dequantize matches ggml's dequantize_row and the error bound of the format", () => {
      const x = lcg(8 * 512, 11, -3, 3);
      const bytes = quantizeRef(type, x);
      const m = QuantizedMatrix.fromBytes(k, type, bytes, 8, 512);
      const got = m.toF32();
      m.free();
      const want = dequantizeRef(type, bytes, x.length);
      expect(Array.from(got)).toEqual(Array.from(want));
      // |x − x̂| ≤ d/2 per element (plus the f16 rounding of d and m, and the f32 roundings); Q4_0 may clamp the
      // element at +|max| side to 15, an error up to d.
      for (let b = 0; b < x.length / 32; b++) {
        const { d, m: min } = decodeBlock(type, bytes, b);
        const dExact = type === "Q8_0" ? Math.max(...x.subarray(b * 32, b * 32 + 32).map(Math.abs)) / 127 : Math.abs(d);
        for (let j = 0; j < 32; j++) {
          const i = b * 32 + j;
          const err = Math.abs(got[i] - x[i]);
          const bound = type === "Q4_0" ? Math.abs(d) : Math.abs(d) / 2;
          const slack = 32 * Math.abs(d - dExact) + Math.abs(min) * 2 ** -11 + Math.abs(x[i]) * 2 ** -10 + 1e-7;
          if (err > bound + slack) expect.fail(`${type}: element ${i} = ${x[i]} dequantized to ${got[i]}, error ${err} > ${bound}`);
        }
      }
    });

    it("Q4_0 errors above d/2 only where the clamp to 15 acts", () => {
      if (type !== "Q4_0") return;
      const x = lcg(32 * 256, 12, -1, 1);
      const bytes = quantizeRef("Q4_0", x);
      const back = dequantizeRef("Q4_0", bytes, x.length);
      for (let b = 0; b < 256; b++) {
        const { d, q } = decodeBlock("Q4_0", bytes, b);
        for (let j = 0; j < 32; j++) {
          const err = Math.abs(back[b * 32 + j] - x[b * 32 + j]);
          if (err > Math.abs(d) / 2 * (1 + 2 ** -9)) expect(q[j], `element ${b * 32 + j}`).toBe(7);
        }
      }
    });

    it.each([
      [1, 32, 1], [1, 96, 7], [1, 160, 4], [1, 288, 9], [1, 4096, 33], [3, 32, 5], [3, 96, 17], [17, 96, 9], [17, 4096, 3],
      [5, 256, 1], [8, 64, 31], [4, 288, 6],
    ])("qmatmul M=%i K=%i N=%i: float64 reference from the quantized weights and activations", (M, K, N) => {
      const w = lcg(N * K, M * 31 + K + N, -1, 1);
      const xs = lcg(M * K, M + 7 * N, -2, 2);
      for (let i = 0; i < Math.min(K, 32); i++) xs[i] = 0; // a zero activation block
      const W = QuantizedMatrix.fromF32(k, type, w, N, K);
      const x = k.f32(xs), y = k.f32(M * N).set(new Float32Array(M * N).fill(NaN));
      qmatmul(k, y, x, W, M);
      const got = y.view.slice();
      const { y: want, mag } = qmatmulRef(type, xs, W.toBytes(), M, N, K);
      W.free(); x.free(); y.free();
      for (let i = 0; i < M * N; i++) {
        const tol = mag[i] * (K / 32 + 8) * 2 ** -23 + 1e-30;
        if (!(Math.abs(got[i] - want[i]) <= tol)) expect.fail(`y[${i}] = ${got[i]}, want ${want[i]} (tolerance ${tol})`);
      }
    });

    it("blocks from a file: toBytes gives them back bit for bit (NaN, inf and subnormal scales too), qmatmul reads them", () => {
      const N = 6, K = 160, bb = QUANT_FORMATS[type].blockBytes;
      const bytes = Uint8Array.from(lcg(N * (K / 32) * bb, 21, 0, 256), Math.floor);
      const dv = new DataView(bytes.buffer);
      // Q8_0 quants of −128 are a separate case (see below); f16 scales: subnormal, zero, negative, then inf and NaN.
      if (type === "Q8_0") for (let i = 0; i < bytes.length; i++) if (i % bb >= 2 && bytes[i] === 0x80) bytes[i] = 0x81;
      for (let i = 0; i < bytes.length; i += bb) {
        for (const o of type === "Q4_1" ? [0, 2] : [0]) {
          const h = dv.getUint16(i + o, true);
          if ((h & 0x7c00) === 0x7c00) dv.setUint16(i + o, h & ~0x4000, true); // random scales finite, except these:
        }
      }
      const scales = [0x0001, 0x03ff, 0x0000, 0x8000, 0xbc00, 0x1234, 0x7c00, 0x7e01, 0xfd55];
      scales.forEach((h, i) => dv.setUint16(i * bb, h, true));
      const W = QuantizedMatrix.fromBytes(k, type, bytes, N, K);
      expect(hex(W.toBytes())).toBe(hex(bytes));
      // Rows 2..5 have finite scales: check the product against the reference on those.
      const x = k.f32(lcg(K, 22)), y = k.f32(N);
      qmatmul(k, y, x, W, 1);
      const { y: want, mag } = qmatmulRef(type, lcg(K, 22), bytes, 1, N, K);
      for (let n = 2; n < N; n++) expect(Math.abs(y.view[n] - want[n]), `row ${n}`).toBeLessThanOrEqual(mag[n] * 2 ** -20 + 1e-30);
      expect(Number.isNaN(y.view[1]) || !Number.isFinite(y.view[1])).toBe(true); // the block with scale inf or NaN
      W.free(); x.free(); y.free();
    });

    it("activations on rounding ties are rounded half to even, as llama.cpp's x86 quantize_row_q8_0 does", () => {
      const K = 128, N = 5;
      // amax = 127 makes id = 1, so x = k + 0.5 is an exact tie; half away from zero would move Σ by whole units.
      const xs = Float32Array.from({ length: K }, (_, i) => (i % 32 === 0 ? 127 : ((i * 37) % 200) - 100 + 0.5));
      const W = QuantizedMatrix.fromF32(k, type, lcg(N * K, 61), N, K);
      const x = k.f32(xs), y = k.f32(N);
      qmatmul(k, y, x, W, 1);
      const { y: want, mag } = qmatmulRef(type, xs, W.toBytes(), 1, N, K);
      for (let n = 0; n < N; n++) expect(Math.abs(y.view[n] - want[n]), `y[${n}]`).toBeLessThanOrEqual(mag[n] * 2 ** -20);
      W.free(); x.free(); y.free();
    });

    it("results do not change once V8's optimizing tier takes over (Node 20's relaxed-dot bug)", () => {
      const W = QuantizedMatrix.fromF32(k, type, lcg(8 * 256, 31), 8, 256);
      const x = k.f32(lcg(256, 32)), y = k.f32(8);
      qmatmul(k, y, x, W, 1);
      const first = y.view.slice();
      for (let i = 0; i < 3000; i++) qmatmul(k, y, x, W, 1);
      expect(Array.from(y.view)).toEqual(Array.from(first));
      W.free(); x.free(); y.free();
    });

    it("qmatmul with a caller's workspace, NaN propagation, and output rows past M untouched", () => {
      const M = 2, K = 64, N = 5;
      const W = QuantizedMatrix.fromF32(k, type, lcg(N * K, 3), N, K);
      const xs = lcg(M * K, 4);
      xs[K + 3] = NaN;
      const x = k.f32(xs), y = k.f32(M * N + 3).set(new Float32Array(M * N + 3).fill(-7));
      const work = heapBytes(k, qmatmulWorkBytes(k, type, M, K));
      qmatmul(k, y, x, W, M, { work });
      const got = y.view.slice();
      expect(got.slice(0, N).every(Number.isFinite)).toBe(true);
      expect(got.slice(N, 2 * N).every(Number.isNaN)).toBe(true);
      expect(Array.from(got.slice(M * N))).toEqual([-7, -7, -7]);
      W.free(); x.free(); y.free(); work.free();
    });

    it("accumulate adds to y as a separate f32 add would: rows in fours, single rows, an odd N's self-paired last row", () => {
      for (const [M, N] of [[1, 7], [6, 9]]) {
        const K = 64;
        const W = QuantizedMatrix.fromF32(k, type, lcg(N * K, 5), N, K);
        const x = k.f32(lcg(M * K, 6)), y = k.f32(M * N), acc = k.f32(lcg(M * N, 7));
        const before = acc.view.slice();
        qmatmul(k, y, x, W, M);
        qmatmul(k, acc, x, W, M, { accumulate: true });
        const want = Float32Array.from(before, (v, i) => v + y.view[i]);
        expect(Array.from(acc.view), `M ${M}, N ${N}`).toEqual(Array.from(want));
        W.free(); x.free(); y.free(); acc.free();
      }
    });

    it("bad input: TinyLMError, never a trap", () => {
      const x = k.f32(4 * 100);
      const out = heapBytes(k, 1000);
      expect(() => quantize(k, out, x, type, 4, 100)).toThrow(/blocks of 32/);
      expect(() => QuantizedMatrix.fromF32(k, type, new Float32Array(96), 2, 48)).toThrow(TinyLMError);
      expect(() => QuantizedMatrix.fromF32(k, type, new Float32Array(64), 3, 32)).toThrow(/needs 96 values/);
      expect(() => QuantizedMatrix.fromBytes(k, type, new Uint8Array(10), 1, 32)).toThrow(/bytes, got 10/);
      expect(() => quantize(k, heapBytes(k, 3), k.f32(32), type, 1, 32)).toThrow(/at least/);
      const bad = new Float32Array(64);
      bad[40] = Infinity;
      expect(() => QuantizedMatrix.fromF32(k, type, bad, 1, 64)).toThrow(expect.objectContaining({ code: "NAN" }));
      const W = QuantizedMatrix.fromF32(k, type, lcg(64, 1), 2, 32);
      expect(() => qmatmul(k, k.f32(1), k.f32(32), W, 1)).toThrow(/at least 2/);
      expect(() => qmatmul(k, k.f32(4), k.f32(32), W, 2)).toThrow(/x must hold at least 64/);
      expect(() => qmatmul(k, k.f32(2), k.f32(32), W, 1.5)).toThrow(TinyLMError);
      expect(() => qmatmul(k, k.f32(2), k.f32(32), W, 1, { work: heapBytes(k, 4) })).toThrow(/options.work/);
      const shared = k.f32(64);
      expect(() => qmatmul(k, shared.subarray(0, 2), shared.subarray(1, 32), W, 1)).toThrow(/share memory/);
      expect(() => W.dequantizeRows(k.f32(32), 2, 1)).toThrow(expect.objectContaining({ code: "OUT_OF_RANGE" }));
      expect(() => dequantize(k, k.f32(32), heapBytes(k, 5), type, 1, 32)).toThrow(TinyLMError);
      W.free();
    });
  });
});
