// Causal multi-head attention with grouped-query heads, forward and backward, on the GEMM and softmax kernels.
// Per (batch b, query head h), with kv head g = h / (NH / NKV) (HF's repeat_kv):
//   S = Q_bh · K_bgᵀ (Tq, Tk);  P = softmax(S / √hs) with position i of the queries seeing keys 0 … pastLength + i
//   (or first[b, i] … pastLength + i: packed sequences, each query seeing only its own sequence);
//   O_bh = P · V_bg.
// Heads are strided column blocks of the (rows, heads·hs) activations, so every product is one sgemm call with a
// leading dimension and no head is ever copied out. The causal half of S is computed and then zeroed by the softmax:
// at the context lengths of small models that waste is cheaper than triangular tiling.
import { sgemm } from "./gemm";
import { softmax_forward, softmax_backward } from "./activations";

// out (B,Tq,NH,hs), att (B,NH,Tq,Tk) ← attention of q (B,Tq,NH,hs) over k, v (B,kvT,NKV,hs), keys 0..Tk-1,
// where query row i sits at position Tk − Tq + i; first (B,Tq) i32, when not 0, is each query's first visible key
// (packed sequences). work: sgemm's workspace.
export function attention_forward(out: usize, att: usize, q: usize, k: usize, v: usize, first: usize,
  B: i32, Tq: i32, Tk: i32, kvT: i32, NH: i32, NKV: i32, hs: i32, work: usize): void {
  const group = NH / NKV;
  const scale = <f32>(1 / Math.sqrt(<f64>hs));
  const ldq = NH * hs, ldkv = NKV * hs;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const g = h / group;
      const qh = q + (<usize>b * Tq * ldq + h * hs) * 4;
      const kh = k + (<usize>b * kvT * ldkv + g * hs) * 4;
      const vh = v + (<usize>b * kvT * ldkv + g * hs) * 4;
      const oh = out + (<usize>b * Tq * ldq + h * hs) * 4;
      const p = att + (<usize>(b * NH + h) * Tq * Tk) * 4;
      sgemm(p, Tk, qh, ldq, kh, ldkv, Tq, Tk, hs, false, true, 1, 0, work);
      softmax_forward(p, p, first ? first + (<usize>b * Tq << 2) : 0, Tq, Tk, scale, true, Tk - Tq);
      sgemm(oh, ldq, p, Tk, vh, ldkv, Tq, hs, Tk, false, false, 1, 0, work);
    }
  }
}

// dq (B,T,NH,hs) +=, dk, dv (B,T,NKV,hs) += the gradients of attention_forward (Tq = Tk = kvT = T) given dout
// (B,T,NH,hs) and its saved att; scratch holds 2·T·T floats.
export function attention_backward(dq: usize, dk: usize, dv: usize, scratch: usize, dout: usize, att: usize,
  q: usize, k: usize, v: usize, B: i32, T: i32, NH: i32, NKV: i32, hs: i32, work: usize): void {
  const group = NH / NKV;
  const scale = <f32>(1 / Math.sqrt(<f64>hs));
  const ldq = NH * hs, ldkv = NKV * hs;
  const dp = scratch;
  const ds = scratch + <usize>T * T * 4;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const g = h / group;
      const qo = (<usize>b * T * ldq + h * hs) * 4;
      const ko = (<usize>b * T * ldkv + g * hs) * 4;
      const p = att + (<usize>(b * NH + h) * T * T) * 4;
      // dP = dO·Vᵀ; dV += Pᵀ·dO
      sgemm(dp, T, dout + qo, ldq, v + ko, ldkv, T, T, hs, false, true, 1, 0, work);
      sgemm(dv + ko, ldkv, p, T, dout + qo, ldq, T, hs, T, true, false, 1, 1, work);
      // dS = softmax'(P)·dP (the 1/√hs inside the softmax included); masked entries (causal or another packed
      // sequence's keys) have P = 0, so dS = 0 there and backward needs no mask of its own.
      memory.fill(ds, 0, <usize>T * T * 4);
      softmax_backward(ds, p, dp, T, T, scale);
      // dQ += dS·K; dK += dSᵀ·Q
      sgemm(dq + qo, ldq, ds, T, k + ko, ldkv, T, hs, T, false, false, 1, 1, work);
      sgemm(dk + ko, ldkv, ds, T, q + qo, ldq, T, hs, T, true, false, 1, 1, work);
    }
  }
}
