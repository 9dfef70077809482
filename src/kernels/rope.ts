import { TinyLMError, check } from "../errors.js";
import type { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";
import { array, finite, size } from "./validate.js";

/**
 * The angle tables of rotary position embedding: cos and sin of pos·θ_i, θ_i = theta^(−2i/headSize), each
 * (maxPositions, headSize/2). Computed in float64 and rounded once, as PyTorch computes inv_freq then the product.
 */
export function ropeTables(k: Kernels, maxPositions: number, headSize: number, theta = 10000): { cos: HeapArray<"f32">; sin: HeapArray<"f32"> } {
  size("ropeTables", "maxPositions", maxPositions);
  size("ropeTables", "headSize", headSize);
  check(headSize % 2 === 0 && headSize > 0, "BAD_SHAPE", `ropeTables: headSize must be even, got ${headSize}`);
  finite("ropeTables", "theta", theta, 1);
  const half = headSize / 2;
  const cos = new Float32Array(maxPositions * half), sin = new Float32Array(maxPositions * half);
  for (let i = 0; i < half; i++) {
    // HF: inv_freq = 1 / base^(arange(0, hs, 2) / hs), held in f32, then pos · inv_freq in f32.
    const invFreq = Math.fround(1 / theta ** ((2 * i) / headSize));
    for (let p = 0; p < maxPositions; p++) {
      const angle = Math.fround(p * invFreq);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos: k.f32(cos), sin: k.f32(sin) };
}

export interface RopeShape {
  /** Sequences in the batch. */
  B: number;
  /** Positions per sequence. */
  T: number;
  /** Heads. */
  heads: number;
  /** Head size (even). */
  headSize: number;
  /** Position of the first row of each sequence (the KV-cache length during generation). Default 0. */
  pos0?: number;
  /**
   * (B, T) i32: the position of every row, instead of pos0 + t; packed sequences restart theirs at 0 (as Hugging Face's
   * position_ids). Each in [0, the tables' maxPositions).
   */
  positions?: HeapArray<"i32">;
  /** Rotate by −angle: the backward pass (dX = Rᵀ·dY). Default false. */
  inverse?: boolean;
}

/**
 * x (B, T, heads, headSize) rotated in place, rotate_half pairs (i, i + headSize/2), positions pos0 … pos0+T−1 in each
 * sequence (or the given positions).
 */
export function rope(k: Kernels, x: HeapArray<"f32">, cos: HeapArray<"f32">, sin: HeapArray<"f32">, shape: RopeShape): void {
  const B = size("rope", "B", shape.B), T = size("rope", "T", shape.T);
  const heads = size("rope", "heads", shape.heads), hs = size("rope", "headSize", shape.headSize);
  const pos0 = size("rope", "pos0", shape.pos0 ?? 0);
  check(hs % 2 === 0, "BAD_SHAPE", `rope: headSize must be even, got ${hs}`);
  const px = array(k, "rope", "x", x, "f32", B * T * heads * hs);
  const pc = array(k, "rope", "cos", cos, "f32");
  const ps = array(k, "rope", "sin", sin, "f32", cos.length);
  const maxPositions = hs === 0 ? 0 : cos.length / (hs / 2);
  check(Number.isInteger(maxPositions), "BAD_SHAPE", `rope: the tables hold ${cos.length} values, not a multiple of headSize/2 = ${hs / 2}`);
  const positions = shape.positions;
  let pp = 0;
  if (positions === undefined) {
    check(T === 0 || pos0 + T <= maxPositions, "OUT_OF_RANGE", `rope: positions up to ${pos0 + T - 1} exceed the tables' ${maxPositions}`);
  } else {
    check(pos0 === 0, "BAD_ARGUMENT", "rope: give pos0 or positions, not both");
    pp = array(k, "rope", "positions", positions, "i32", B * T);
    const v = positions.view;
    for (let i = 0; i < v.length; i++) {
      if (v[i] < 0 || v[i] >= maxPositions) throw new TinyLMError("OUT_OF_RANGE", `rope: positions[${i}] = ${v[i]} is outside the tables' [0, ${maxPositions})`);
    }
  }
  k.exports.rope(px, pc, ps, pp, B * T, T, heads, hs, pos0, shape.inverse ? 1 : 0);
}
