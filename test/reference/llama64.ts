/**
 * A float64 reference of the Llama decoder (Hugging Face `LlamaForCausalLM`), forward and hand-written backward, in
 * plain JS for tiny sizes only. It exists to check the wasm transformer the llm.c way: same parameters in, then
 * logits, loss and every parameter gradient compared with stated tolerances. Its own backward is checked against
 * central finite differences in llama64.test.ts.
 *
 * Conventions (all as in transformers' modeling_llama.py):
 * - parameters are keyed by the HF state-dict names; a Linear weight is row-major (out, in) and computes y = W·x;
 * - RMSNorm: y = x / sqrt(mean(x²) + eps) · g;
 * - RoPE, "rotate_half" layout: within each head, the pair (x[i], x[i + hs/2]) is rotated by pos · θ^(-2i/hs);
 * - causal attention scaled by 1/sqrt(hs); with grouped-query attention, query head h reads kv head
 *   floor(h / (nHeads / nKvHeads)) (HF repeat_kv);
 * - MLP: down(silu(gate(x)) ⊙ up(x)); logits = lm_head(norm(x)), lm_head = embed_tokens when tied;
 * - loss: mean cross-entropy over the (B, T) targets; a negative target is ignored (HF uses -100);
 * - packing (optional `segments`, B rows of T sequence numbers): HF's packed batches with position_ids. Position t
 *   attends to position t2 only if t2 ≤ t and both carry the same sequence number, and its RoPE position is the
 *   number of earlier positions of its row with that number (written from that definition, not from sequence starts).
 *
 * Notation as in llm.c: B batch, T time, C channels (dim), V vocab, NH query heads, NKV kv heads, hs head size,
 * F feed-forward (hidden) size, N = B·T positions. Backward functions take outputs first, ACCUMULATE (+=) into the
 * d-arrays, and mirror their forward.
 */
import { Random } from "../../src/util/random.js";

export interface Llama64Config {
  vocabSize: number;
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  /** Feed-forward hidden size (HF intermediate_size). */
  ffnDim: number;
  contextLength: number;
  ropeTheta: number;
  normEps: number;
  tiedEmbeddings: boolean;
}

/** Parameters or gradients, keyed by HF LlamaForCausalLM state-dict names. */
export type Params = Record<string, Float64Array>;

/** Every parameter's shape (PyTorch order), in the order of HF's state dict. */
export function paramShapes(c: Llama64Config): Record<string, number[]> {
  const hs = headSize(c);
  const shapes: Record<string, number[]> = { "model.embed_tokens.weight": [c.vocabSize, c.dim] };
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    shapes[p + "self_attn.q_proj.weight"] = [c.nHeads * hs, c.dim];
    shapes[p + "self_attn.k_proj.weight"] = [c.nKvHeads * hs, c.dim];
    shapes[p + "self_attn.v_proj.weight"] = [c.nKvHeads * hs, c.dim];
    shapes[p + "self_attn.o_proj.weight"] = [c.dim, c.nHeads * hs];
    shapes[p + "mlp.gate_proj.weight"] = [c.ffnDim, c.dim];
    shapes[p + "mlp.up_proj.weight"] = [c.ffnDim, c.dim];
    shapes[p + "mlp.down_proj.weight"] = [c.dim, c.ffnDim];
    shapes[p + "input_layernorm.weight"] = [c.dim];
    shapes[p + "post_attention_layernorm.weight"] = [c.dim];
  }
  shapes["model.norm.weight"] = [c.dim];
  if (!c.tiedEmbeddings) shapes["lm_head.weight"] = [c.vocabSize, c.dim];
  return shapes;
}

/** HF-style initialisation: every matrix N(0, std²), every norm gain 1. Same seed, same parameters. */
export function initParams(c: Llama64Config, seed: number, std = 0.02): Params {
  checkConfig(c);
  const rng = new Random(seed);
  const params: Params = {};
  for (const [name, shape] of Object.entries(paramShapes(c))) {
    const p = new Float64Array(shape.reduce((a, b) => a * b, 1));
    if (shape.length === 1) p.fill(1);
    else for (let i = 0; i < p.length; i++) p[i] = rng.normal(0, std);
    params[name] = p;
  }
  return params;
}

export interface ForwardResult {
  /** (B, T, V) */
  logits: Float64Array;
  /** Mean cross-entropy over the non-negative targets; undefined without targets. */
  loss: number | undefined;
}

/** ids and targets are B rows of T token ids; segments, when given, B rows of T sequence numbers (packing). */
export function forward(params: Params, c: Llama64Config, ids: number[][], targets?: number[][], segments?: number[][]): ForwardResult {
  const tape = forwardTape(params, c, ids, segments);
  return { logits: tape.logits, loss: targets === undefined ? undefined : crossEntropy(tape.logits, ids, targets, c.vocabSize).loss };
}

/** Gradients of the mean cross-entropy loss with respect to every parameter (same keys as params). */
export function backward(params: Params, c: Llama64Config, ids: number[][], targets: number[][], segments?: number[][]): Params {
  const tape = forwardTape(params, c, ids, segments);
  return backwardTape(params, c, tape, crossEntropy(tape.logits, ids, targets, c.vocabSize).dlogits);
}

/** Gradients of any scalar loss whose gradient with respect to the (B, T, V) logits is `dlogits`. */
export function backwardFromLogits(params: Params, c: Llama64Config, ids: number[][], dlogits: Float64Array, segments?: number[][]): Params {
  const tape = forwardTape(params, c, ids, segments);
  if (dlogits.length !== tape.logits.length) throw new Error(`dlogits has ${dlogits.length} values, expected ${tape.logits.length}`);
  return backwardTape(params, c, tape, dlogits);
}

// ---------------------------------------------------------------------------------------------------------------
// The model: forward keeps every activation backward needs (the "tape").

interface LayerTape {
  x: Float64Array; // (N, C) residual stream entering the layer
  xn1: Float64Array; // (N, C) input_layernorm(x)
  rstd1: Float64Array; // (N)
  qr: Float64Array; // (N, NH·hs) q after RoPE
  kr: Float64Array; // (N, NKV·hs) k after RoPE
  v: Float64Array; // (N, NKV·hs)
  att: Float64Array; // (B, NH, T, T) softmax probabilities
  y: Float64Array; // (N, NH·hs) attention output before o_proj
  xMid: Float64Array; // (N, C) x + o_proj(y)
  xn2: Float64Array; // (N, C) post_attention_layernorm(xMid)
  rstd2: Float64Array; // (N)
  gate: Float64Array; // (N, F)
  up: Float64Array; // (N, F)
  h: Float64Array; // (N, F) silu(gate) ⊙ up
}

interface Tape {
  B: number;
  T: number;
  ids: number[][];
  seg: number[][]; // (B, T) sequence numbers; all 0 without packing
  layers: LayerTape[];
  xFinal: Float64Array; // (N, C)
  xnf: Float64Array; // (N, C)
  rstdf: Float64Array; // (N)
  logits: Float64Array; // (N, V)
}

function forwardTape(params: Params, c: Llama64Config, ids: number[][], segments?: number[][]): Tape {
  checkConfig(c);
  const { B, T } = checkIds(ids, c);
  const seg = segments ?? ids.map((row) => row.map(() => 0));
  if (seg.length !== B || seg.some((r) => r.length !== T || r.some((s) => !Number.isInteger(s)))) throw new Error(`segments must be ${B} rows of ${T} integers`);
  const N = B * T;
  const C = c.dim;
  const hs = headSize(c);
  const qDim = c.nHeads * hs;
  const kvDim = c.nKvHeads * hs;
  const F = c.ffnDim;
  const w = (name: string) => param(params, c, name);

  let x = new Float64Array(N * C);
  embeddingForward(x, ids, w("model.embed_tokens.weight"), B, T, C);
  const layers: LayerTape[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const L = {
      x, xn1: new Float64Array(N * C), rstd1: new Float64Array(N), qr: new Float64Array(N * qDim), kr: new Float64Array(N * kvDim),
      v: new Float64Array(N * kvDim), att: new Float64Array(B * c.nHeads * T * T), y: new Float64Array(N * qDim),
      xMid: new Float64Array(N * C), xn2: new Float64Array(N * C), rstd2: new Float64Array(N), gate: new Float64Array(N * F),
      up: new Float64Array(N * F), h: new Float64Array(N * F),
    };
    rmsnormForward(L.xn1, L.rstd1, x, w(p + "input_layernorm.weight"), N, C, c.normEps);
    const q = new Float64Array(N * qDim);
    const k = new Float64Array(N * kvDim);
    matmulForward(q, L.xn1, w(p + "self_attn.q_proj.weight"), N, C, qDim);
    matmulForward(k, L.xn1, w(p + "self_attn.k_proj.weight"), N, C, kvDim);
    matmulForward(L.v, L.xn1, w(p + "self_attn.v_proj.weight"), N, C, kvDim);
    ropeForward(L.qr, q, seg, B, T, c.nHeads, hs, c.ropeTheta);
    ropeForward(L.kr, k, seg, B, T, c.nKvHeads, hs, c.ropeTheta);
    attentionForward(L.y, L.att, L.qr, L.kr, L.v, seg, B, T, c.nHeads, c.nKvHeads, hs);
    const attnOut = new Float64Array(N * C);
    matmulForward(attnOut, L.y, w(p + "self_attn.o_proj.weight"), N, qDim, C);
    for (let i = 0; i < N * C; i++) L.xMid[i] = x[i] + attnOut[i];
    rmsnormForward(L.xn2, L.rstd2, L.xMid, w(p + "post_attention_layernorm.weight"), N, C, c.normEps);
    matmulForward(L.gate, L.xn2, w(p + "mlp.gate_proj.weight"), N, C, F);
    matmulForward(L.up, L.xn2, w(p + "mlp.up_proj.weight"), N, C, F);
    swigluForward(L.h, L.gate, L.up, N * F);
    const mlpOut = new Float64Array(N * C);
    matmulForward(mlpOut, L.h, w(p + "mlp.down_proj.weight"), N, F, C);
    const xOut = new Float64Array(N * C);
    for (let i = 0; i < N * C; i++) xOut[i] = L.xMid[i] + mlpOut[i];
    layers.push(L);
    x = xOut;
  }
  const xnf = new Float64Array(N * C);
  const rstdf = new Float64Array(N);
  rmsnormForward(xnf, rstdf, x, w("model.norm.weight"), N, C, c.normEps);
  const logits = new Float64Array(N * c.vocabSize);
  matmulForward(logits, xnf, lmHead(params, c), N, C, c.vocabSize);
  return { B, T, ids, seg, layers, xFinal: x, xnf, rstdf, logits };
}

function backwardTape(params: Params, c: Llama64Config, tape: Tape, dlogits: Float64Array): Params {
  const { B, T, seg, layers } = tape;
  const N = B * T;
  const C = c.dim;
  const hs = headSize(c);
  const qDim = c.nHeads * hs;
  const kvDim = c.nKvHeads * hs;
  const F = c.ffnDim;
  const w = (name: string) => param(params, c, name);
  const grads: Params = {};
  for (const [name, p] of Object.entries(params)) grads[name] = new Float64Array(p.length);
  const g = (name: string) => grads[name];

  const dxnf = new Float64Array(N * C);
  matmulBackward(dxnf, c.tiedEmbeddings ? g("model.embed_tokens.weight") : g("lm_head.weight"), dlogits, tape.xnf,
    lmHead(params, c), N, C, c.vocabSize);
  // dx is the gradient flowing down the residual stream.
  const dx = new Float64Array(N * C);
  rmsnormBackward(dx, g("model.norm.weight"), dxnf, tape.xFinal, w("model.norm.weight"), tape.rstdf, N, C);

  for (let l = c.nLayers - 1; l >= 0; l--) {
    const p = `model.layers.${l}.`;
    const L = layers[l];
    // MLP block: xOut = xMid + down(h). The residual passes dx through to xMid unchanged.
    const dh = new Float64Array(N * F);
    matmulBackward(dh, g(p + "mlp.down_proj.weight"), dx, L.h, w(p + "mlp.down_proj.weight"), N, F, C);
    const dgate = new Float64Array(N * F);
    const dup = new Float64Array(N * F);
    swigluBackward(dgate, dup, dh, L.gate, L.up, N * F);
    const dxn2 = new Float64Array(N * C);
    matmulBackward(dxn2, g(p + "mlp.gate_proj.weight"), dgate, L.xn2, w(p + "mlp.gate_proj.weight"), N, C, F);
    matmulBackward(dxn2, g(p + "mlp.up_proj.weight"), dup, L.xn2, w(p + "mlp.up_proj.weight"), N, C, F);
    rmsnormBackward(dx, g(p + "post_attention_layernorm.weight"), dxn2, L.xMid, w(p + "post_attention_layernorm.weight"), L.rstd2, N, C);
    // Attention block: xMid = x + o_proj(y).
    const dy = new Float64Array(N * qDim);
    matmulBackward(dy, g(p + "self_attn.o_proj.weight"), dx, L.y, w(p + "self_attn.o_proj.weight"), N, qDim, C);
    const dqr = new Float64Array(N * qDim);
    const dkr = new Float64Array(N * kvDim);
    const dv = new Float64Array(N * kvDim);
    attentionBackward(dqr, dkr, dv, dy, L.att, L.qr, L.kr, L.v, seg, B, T, c.nHeads, c.nKvHeads, hs);
    const dq = new Float64Array(N * qDim);
    const dk = new Float64Array(N * kvDim);
    ropeBackward(dq, dqr, seg, B, T, c.nHeads, hs, c.ropeTheta);
    ropeBackward(dk, dkr, seg, B, T, c.nKvHeads, hs, c.ropeTheta);
    const dxn1 = new Float64Array(N * C);
    matmulBackward(dxn1, g(p + "self_attn.q_proj.weight"), dq, L.xn1, w(p + "self_attn.q_proj.weight"), N, C, qDim);
    matmulBackward(dxn1, g(p + "self_attn.k_proj.weight"), dk, L.xn1, w(p + "self_attn.k_proj.weight"), N, C, kvDim);
    matmulBackward(dxn1, g(p + "self_attn.v_proj.weight"), dv, L.xn1, w(p + "self_attn.v_proj.weight"), N, C, kvDim);
    rmsnormBackward(dx, g(p + "input_layernorm.weight"), dxn1, L.x, w(p + "input_layernorm.weight"), L.rstd1, N, C);
  }
  embeddingBackward(g("model.embed_tokens.weight"), dx, tape.ids, B, T, C);
  return grads;
}

// ---------------------------------------------------------------------------------------------------------------
// Layers, each a forward/backward pair.

// out is (B,T,C), wte is (V,C): row t of the table is the embedding of token t.
function embeddingForward(out: Float64Array, ids: number[][], wte: Float64Array, B: number, T: number, C: number): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) out.set(wte.subarray(ids[b][t] * C, (ids[b][t] + 1) * C), (b * T + t) * C);
  }
}

function embeddingBackward(dwte: Float64Array, dout: Float64Array, ids: number[][], B: number, T: number, C: number): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = ids[b][t] * C;
      const o = (b * T + t) * C;
      for (let i = 0; i < C; i++) dwte[row + i] += dout[o + i];
    }
  }
}

// out is (N,OC), inp is (N,C), weight is (OC,C): out = inp · weightᵀ, a PyTorch Linear without bias.
function matmulForward(out: Float64Array, inp: Float64Array, weight: Float64Array, N: number, C: number, OC: number): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = 0;
      for (let i = 0; i < C; i++) s += inp[n * C + i] * weight[o * C + i];
      out[n * OC + o] = s;
    }
  }
}

function matmulBackward(dinp: Float64Array, dweight: Float64Array, dout: Float64Array, inp: Float64Array, weight: Float64Array,
  N: number, C: number, OC: number): void {
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      const d = dout[n * OC + o];
      for (let i = 0; i < C; i++) {
        dinp[n * C + i] += d * weight[o * C + i];
        dweight[o * C + i] += d * inp[n * C + i];
      }
    }
  }
}

// out and inp are (N,C), weight is (C), rstd is (N): out = inp · rstd · weight with rstd = 1/sqrt(mean(inp²) + eps).
function rmsnormForward(out: Float64Array, rstd: Float64Array, inp: Float64Array, weight: Float64Array, N: number, C: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let i = 0; i < C; i++) ss += inp[n * C + i] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    for (let i = 0; i < C; i++) out[n * C + i] = inp[n * C + i] * r * weight[i];
  }
}

// With u = dout ⊙ weight: dinp = r·u − r³/C · (u·inp) · inp, since d(rstd)/d(inp_j) = −r³ · inp_j / C.
function rmsnormBackward(dinp: Float64Array, dweight: Float64Array, dout: Float64Array, inp: Float64Array, weight: Float64Array,
  rstd: Float64Array, N: number, C: number): void {
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let dot = 0;
    for (let i = 0; i < C; i++) dot += dout[n * C + i] * weight[i] * inp[n * C + i];
    for (let i = 0; i < C; i++) {
      const x = inp[n * C + i];
      dweight[i] += dout[n * C + i] * x * r;
      dinp[n * C + i] += r * weight[i] * dout[n * C + i] - (r * r * r * dot * x) / C;
    }
  }
}

// out and inp are (B,T,NH,hs). Position t rotates the pair (x[i], x[i+hs/2]) of each head by pos·θ^(-2i/hs), where
// pos counts the earlier positions of the row in t's sequence (t itself without packing).
function ropeForward(out: Float64Array, inp: Float64Array, seg: number[][], B: number, T: number, NH: number, hs: number, theta: number): void {
  rope(out, inp, seg, B, T, NH, hs, theta, 1);
}

// A rotation's transpose is the rotation by the opposite angle.
function ropeBackward(dinp: Float64Array, dout: Float64Array, seg: number[][], B: number, T: number, NH: number, hs: number, theta: number): void {
  const tmp = new Float64Array(dinp.length);
  rope(tmp, dout, seg, B, T, NH, hs, theta, -1);
  for (let i = 0; i < dinp.length; i++) dinp[i] += tmp[i];
}

function rope(out: Float64Array, inp: Float64Array, seg: number[][], B: number, T: number, NH: number, hs: number, theta: number, sign: number): void {
  const half = hs / 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const pos = seg[b].slice(0, t).filter((s) => s === seg[b][t]).length;
      for (let h = 0; h < NH; h++) {
        const o = ((b * T + t) * NH + h) * hs;
        for (let i = 0; i < half; i++) {
          const angle = pos * theta ** (-(2 * i) / hs);
          const cos = Math.cos(angle);
          const sin = sign * Math.sin(angle);
          const x1 = inp[o + i];
          const x2 = inp[o + i + half];
          out[o + i] = x1 * cos - x2 * sin;
          out[o + i + half] = x2 * cos + x1 * sin;
        }
      }
    }
  }
}

// out is (B,T,NH,hs), att is (B,NH,T,T), q is (B,T,NH,hs), k and v are (B,T,NKV,hs); seg is (B,T).
function attentionForward(out: Float64Array, att: Float64Array, q: Float64Array, k: Float64Array, v: Float64Array,
  seg: number[][], B: number, T: number, NH: number, NKV: number, hs: number): void {
  const scale = 1 / Math.sqrt(hs);
  const group = NH / NKV;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * NH + h) * hs;
        const row = ((b * NH + h) * T + t) * T;
        // Causal: position t sees 0..t of its own sequence; the other entries stay 0 (no probability). Subtracting the
        // max keeps exp() from overflowing.
        const sees = (t2: number) => seg[b][t2] === seg[b][t];
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          if (!sees(t2)) continue;
          const ko = ((b * T + t2) * NKV + kvh) * hs;
          let s = 0;
          for (let i = 0; i < hs; i++) s += q[qo + i] * k[ko + i];
          att[row + t2] = s * scale;
          max = Math.max(max, s * scale);
        }
        let sum = 0;
        for (let t2 = 0; t2 <= t; t2++) if (sees(t2)) sum += att[row + t2] = Math.exp(att[row + t2] - max);
        for (let t2 = 0; t2 <= t; t2++) att[row + t2] /= sum;
        for (let i = 0; i < hs; i++) {
          let s = 0;
          for (let t2 = 0; t2 <= t; t2++) s += att[row + t2] * v[((b * T + t2) * NKV + kvh) * hs + i];
          out[qo + i] = s;
        }
      }
    }
  }
}

// Sums over the positions t2 the forward let t see (its own sequence, t2 ≤ t); the others had no part in out_t.
function attentionBackward(dq: Float64Array, dk: Float64Array, dv: Float64Array, dout: Float64Array, att: Float64Array,
  q: Float64Array, k: Float64Array, v: Float64Array, seg: number[][], B: number, T: number, NH: number, NKV: number, hs: number): void {
  const scale = 1 / Math.sqrt(hs);
  const group = NH / NKV;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      const kvh = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = ((b * T + t) * NH + h) * hs;
        const row = ((b * NH + h) * T + t) * T;
        // out_t = Σ p_t2 v_t2, so dp_t2 = dout_t · v_t2 and dv_t2 += p_t2 dout_t.
        const dp = new Float64Array(t + 1);
        for (let t2 = 0; t2 <= t; t2++) {
          if (seg[b][t2] !== seg[b][t]) continue;
          const vo = ((b * T + t2) * NKV + kvh) * hs;
          for (let i = 0; i < hs; i++) {
            dp[t2] += dout[qo + i] * v[vo + i];
            dv[vo + i] += att[row + t2] * dout[qo + i];
          }
        }
        // Softmax backward: ds = p ⊙ (dp − Σ p dp).
        let pdp = 0;
        for (let t2 = 0; t2 <= t; t2++) pdp += att[row + t2] * dp[t2];
        for (let t2 = 0; t2 <= t; t2++) {
          if (seg[b][t2] !== seg[b][t]) continue;
          const ds = att[row + t2] * (dp[t2] - pdp) * scale;
          const ko = ((b * T + t2) * NKV + kvh) * hs;
          for (let i = 0; i < hs; i++) {
            dq[qo + i] += ds * k[ko + i];
            dk[ko + i] += ds * q[qo + i];
          }
        }
      }
    }
  }
}

// out, gate and up are (N·F): out = silu(gate) ⊙ up with silu(z) = z·σ(z).
function swigluForward(out: Float64Array, gate: Float64Array, up: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = gate[i] * sigmoid(gate[i]) * up[i];
}

// silu'(z) = σ(z) · (1 + z·(1 − σ(z))).
function swigluBackward(dgate: Float64Array, dup: Float64Array, dout: Float64Array, gate: Float64Array, up: Float64Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const s = sigmoid(gate[i]);
    dgate[i] += dout[i] * up[i] * s * (1 + gate[i] * (1 - s));
    dup[i] += dout[i] * gate[i] * s;
  }
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

// logits is (N,V). loss = mean over the non-negative targets of −log softmax(logits)[target];
// dlogits = (softmax − onehot) / count at those positions, 0 elsewhere.
function crossEntropy(logits: Float64Array, ids: number[][], targets: number[][], V: number): { loss: number; dlogits: Float64Array } {
  const B = ids.length;
  const T = ids[0].length;
  if (targets.length !== B || targets.some((r) => r.length !== T)) throw new Error(`targets must be ${B} rows of ${T}`);
  const flat = targets.flat();
  if (flat.some((t) => !Number.isInteger(t) || t >= V)) throw new Error(`targets must be integers below ${V} (negative = ignored)`);
  const count = flat.filter((t) => t >= 0).length;
  if (count === 0) throw new Error("every target is ignored: the mean loss is undefined");
  const dlogits = new Float64Array(logits.length);
  let loss = 0;
  flat.forEach((target, n) => {
    if (target < 0) return;
    const row = logits.subarray(n * V, (n + 1) * V);
    const max = Math.max(...row);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(row[j] - max);
    loss += Math.log(sum) + max - row[target];
    for (let j = 0; j < V; j++) dlogits[n * V + j] = Math.exp(row[j] - max) / sum / count;
    dlogits[n * V + target] -= 1 / count;
  });
  return { loss: loss / count, dlogits };
}

// ---------------------------------------------------------------------------------------------------------------

function headSize(c: Llama64Config): number {
  return c.dim / c.nHeads;
}

function lmHead(params: Params, c: Llama64Config): Float64Array {
  return param(params, c, c.tiedEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");
}

function param(params: Params, c: Llama64Config, name: string): Float64Array {
  const p = params[name];
  const shape = paramShapes(c)[name];
  const size = shape.reduce((a, b) => a * b, 1);
  if (!(p instanceof Float64Array) || p.length !== size) throw new Error(`parameter ${name} must be a Float64Array of ${size} (shape [${shape}])`);
  return p;
}

function checkConfig(c: Llama64Config): void {
  const ints = [c.vocabSize, c.dim, c.nLayers, c.nHeads, c.nKvHeads, c.ffnDim, c.contextLength];
  if (!ints.every((v) => Number.isInteger(v) && v > 0)) throw new Error("config sizes must be positive integers");
  if (c.dim % c.nHeads !== 0 || (c.dim / c.nHeads) % 2 !== 0) throw new Error("dim / nHeads must be an even head size");
  if (c.nHeads % c.nKvHeads !== 0) throw new Error("nHeads must be a multiple of nKvHeads");
}

function checkIds(ids: number[][], c: Llama64Config): { B: number; T: number } {
  const B = ids.length;
  const T = B > 0 ? ids[0].length : 0;
  if (B === 0 || T === 0 || ids.some((r) => r.length !== T)) throw new Error("ids must be B ≥ 1 rows of the same length T ≥ 1");
  if (T > c.contextLength) throw new Error(`T = ${T} exceeds the context length ${c.contextLength}`);
  if (ids.flat().some((t) => !Number.isInteger(t) || t < 0 || t >= c.vocabSize)) throw new Error(`token ids must be integers in [0, ${c.vocabSize})`);
  return { B, T };
}
