import { TinyLMError, check } from "../errors.js";
import type { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";
import { array, disjoint, separate, size } from "./validate.js";

type F32 = HeapArray<"f32">;

export interface AttentionShape {
  /** Sequences. */
  B: number;
  /** Query positions per sequence. */
  T: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads; divides heads (grouped-query attention when smaller). Default heads. */
  kvHeads?: number;
  headSize: number;
  /** Keys attended (the KV cache's filled length); default T. Query i sits at position keys − T + i. */
  keys?: number;
  /** Rows per sequence in k and v (a KV cache's capacity); default keys. */
  kvRows?: number;
  /**
   * (B, T) i32: each query's first visible key, so query i sees keys firstKey[i] … keys − T + i. Packed sequences pass
   * the start of the query's own sequence (a block-diagonal causal mask, as flash-attention's varlen). Default 0.
   */
  firstKey?: HeapArray<"i32">;
}

function shapeOf(fn: string, s: AttentionShape) {
  const B = size(fn, "B", s.B), T = size(fn, "T", s.T), NH = size(fn, "heads", s.heads);
  const NKV = size(fn, "kvHeads", s.kvHeads ?? s.heads), hs = size(fn, "headSize", s.headSize);
  const Tk = size(fn, "keys", s.keys ?? T), kvT = size(fn, "kvRows", s.kvRows ?? Tk);
  check(NH > 0 && NKV > 0 && NH % NKV === 0, "BAD_SHAPE", `${fn}: kvHeads (${NKV}) must divide heads (${NH})`);
  check(Tk >= T && kvT >= Tk, "BAD_SHAPE", `${fn}: need T (${T}) ≤ keys (${Tk}) ≤ kvRows (${kvT})`);
  return { B, T, NH, NKV, hs, Tk, kvT };
}

/**
 * Causal attention: out (B, T, heads, headSize) and the probabilities att (B, heads, T, keys) from q (B, T, heads,
 * headSize) and k, v (B, kvRows, kvHeads, headSize), scaled by 1/√headSize.
 */
export function attention(k: Kernels, out: F32, att: F32, q: F32, kk: F32, v: F32, shape: AttentionShape): void {
  const { B, T, NH, NKV, hs, Tk, kvT } = shapeOf("attention", shape);
  const po = array(k, "attention", "out", out, "f32", B * T * NH * hs);
  const pa = array(k, "attention", "att", att, "f32", B * NH * T * Tk);
  const pq = array(k, "attention", "q", q, "f32", B * T * NH * hs);
  const pk = array(k, "attention", "k", kk, "f32", B * kvT * NKV * hs);
  const pv = array(k, "attention", "v", v, "f32", B * kvT * NKV * hs);
  disjoint("attention", { out, att, q, kk, v });
  check(out.ptr !== q.ptr && att.ptr !== q.ptr, "BAD_ARGUMENT", "attention: out and att must not be q");
  let pf = 0;
  if (shape.firstKey !== undefined) {
    pf = firstKeys(k, shape.firstKey, B, T, Tk);
    separate("attention", "firstKey", shape.firstKey, { out, att, q, kk, v });
  }
  k.exports.attention_forward(po, pa, pq, pk, pv, pf, B, T, Tk, kvT, NH, NKV, hs, k.workspace(Math.max(Tk, hs)));
}

// Every query must see at least itself: 0 ≤ firstKey ≤ its own position (an empty row would have no softmax).
function firstKeys(k: Kernels, firstKey: HeapArray<"i32">, B: number, T: number, Tk: number): number {
  const p = array(k, "attention", "firstKey", firstKey, "i32", B * T);
  const f = firstKey.view;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      const v = f[b * T + i], last = Tk - T + i;
      if (v < 0 || v > last) {
        throw new TinyLMError("OUT_OF_RANGE", `attention: firstKey[${b * T + i}] = ${v}, but that query sees keys 0 … ${last}`);
      }
    }
  }
  return p;
}

/**
 * Gradients of `attention` (training shape: keys = kvRows = T): dq, dk, dv accumulate (+=) from dout and the saved
 * att, q, k, v. The mask (causal, firstKey) needs no repeating: masked entries of att are 0 and get no gradient.
 * scratch holds 2·T·T floats.
 */
export function attentionBackward(k: Kernels, dq: F32, dk: F32, dv: F32, scratch: F32, dout: F32, att: F32, q: F32, kk: F32,
  v: F32, shape: AttentionShape): void {
  const { B, T, NH, NKV, hs, Tk, kvT } = shapeOf("attentionBackward", shape);
  check(Tk === T && kvT === T, "BAD_SHAPE", "attentionBackward: keys and kvRows must equal T (training shape)");
  const n = B * T * NH * hs, nkv = B * T * NKV * hs;
  const ptrs = [
    array(k, "attentionBackward", "dq", dq, "f32", n), array(k, "attentionBackward", "dk", dk, "f32", nkv),
    array(k, "attentionBackward", "dv", dv, "f32", nkv), array(k, "attentionBackward", "scratch", scratch, "f32", 2 * T * T),
    array(k, "attentionBackward", "dout", dout, "f32", n), array(k, "attentionBackward", "att", att, "f32", B * NH * T * T),
    array(k, "attentionBackward", "q", q, "f32", n), array(k, "attentionBackward", "k", kk, "f32", nkv),
    array(k, "attentionBackward", "v", v, "f32", nkv),
  ] as const;
  disjoint("attentionBackward", { dq, dk, dv, scratch, dout, att, q, kk, v });
  k.exports.attention_backward(...ptrs, B, T, NH, NKV, hs, k.workspace(Math.max(T, hs)));
}
