// Validated wrappers over assembly/activations.ts. Each takes the Kernels object, then arrays of its heap (outputs
// first, inputs next), then an options object for sizes and settings; it checks every length, size and option and
// throws TinyLMError before any pointer reaches the wasm. Backward wrappers ACCUMULATE (+=) into their gradient
// arguments. Hot paths that have already checked their shapes call k.exports.* directly with pointers (the raw
// signatures are in KernelExports, module.ts; shapes in the comments of assembly/activations.ts).
import { TinyLMError, check } from "../errors.js";
import type { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";
import { array, disjoint, finite, options, separate, size } from "./validate.js";

// The elementwise ops live in elementwise.ts; they are re-exported here because layers that use the activations
// (src/nn) usually need them too.
export { add, scale, axpy } from "./elementwise.js";

type F32 = HeapArray<"f32">;
type I32 = HeapArray<"i32">;

/** out = e^inp elementwise (the exp softmax, sigmoid, SiLU and cross-entropy share; ≤ 2 ulp, see assembly/). */
export function exp(k: Kernels, out: F32, inp: F32): void {
  const i = array(k, "exp", "inp", inp, "f32");
  const o = array(k, "exp", "out", out, "f32", inp.length);
  disjoint("exp", { out, inp });
  k.exports.vec_exp(o, i, inp.length);
}

/** out = σ(inp) = 1 / (1 + e^−inp) elementwise; out and inp have equal lengths (out may be inp). */
export function sigmoid(k: Kernels, out: F32, inp: F32): void {
  const i = array(k, "sigmoid", "inp", inp, "f32");
  const o = array(k, "sigmoid", "out", out, "f32", inp.length);
  disjoint("sigmoid", { out, inp });
  k.exports.sigmoid_forward(o, i, inp.length);
}

/** dinp += dout · out · (1 − out), from the saved forward output out = σ(inp). All three lengths are equal. */
export function sigmoidBackward(k: Kernels, dinp: F32, out: F32, dout: F32): void {
  const fn = "sigmoidBackward";
  const o = array(k, fn, "out", out, "f32");
  const n = out.length;
  const d = array(k, fn, "dinp", dinp, "f32", n);
  const g = array(k, fn, "dout", dout, "f32", n);
  disjoint(fn, { dinp, out, dout });
  k.exports.sigmoid_backward(d, o, g, n);
}

/** out = inp · σ(inp) elementwise (SiLU, a.k.a. swish); out may be inp. */
export function silu(k: Kernels, out: F32, inp: F32): void {
  const i = array(k, "silu", "inp", inp, "f32");
  const o = array(k, "silu", "out", out, "f32", inp.length);
  disjoint("silu", { out, inp });
  k.exports.silu_forward(o, i, inp.length);
}

/** dinp += dout · silu'(inp), from the forward input. All three lengths are equal. */
export function siluBackward(k: Kernels, dinp: F32, dout: F32, inp: F32): void {
  const fn = "siluBackward";
  const i = array(k, fn, "inp", inp, "f32");
  const n = inp.length;
  const d = array(k, fn, "dinp", dinp, "f32", n);
  const g = array(k, fn, "dout", dout, "f32", n);
  disjoint(fn, { dinp, dout, inp });
  k.exports.silu_backward(d, g, i, n);
}

/** out = silu(gate) ⊙ up (the gated MLP unit of Llama); all lengths equal, out may be gate or up. */
export function swiglu(k: Kernels, out: F32, gate: F32, up: F32): void {
  const g = array(k, "swiglu", "gate", gate, "f32");
  const n = gate.length;
  const u = array(k, "swiglu", "up", up, "f32", n);
  const o = array(k, "swiglu", "out", out, "f32", n);
  disjoint("swiglu", { out, gate, up });
  k.exports.swiglu_forward(o, g, u, n);
}

/** dgate += dout ⊙ up ⊙ silu'(gate), dup += dout ⊙ silu(gate), from the forward inputs. All lengths equal. */
export function swigluBackward(k: Kernels, dgate: F32, dup: F32, dout: F32, gate: F32, up: F32): void {
  const fn = "swigluBackward";
  const g = array(k, fn, "gate", gate, "f32");
  const n = gate.length;
  const u = array(k, fn, "up", up, "f32", n);
  const dg = array(k, fn, "dgate", dgate, "f32", n);
  const du = array(k, fn, "dup", dup, "f32", n);
  const d = array(k, fn, "dout", dout, "f32", n);
  disjoint(fn, { dgate, dup, dout, gate, up });
  separate(fn, "dgate", dgate, { dup });
  k.exports.swiglu_backward(dg, du, d, g, u, n);
}

export interface RowsCols {
  rows: number;
  cols: number;
}

export interface SoftmaxOptions extends RowsCols {
  /** Multiplies the logits before the softmax (attention's 1/√headSize). Finite and > 0; default 1. */
  scale?: number;
  /** Row r sees only columns 0..r + pastLength; the others get probability exactly 0. Default false. */
  causal?: boolean;
  /** Positions already in the KV cache before row 0 (with causal). Default 0. */
  pastLength?: number;
  /**
   * (rows) i32: row r sees columns from first[r] on; the ones before get probability exactly 0. At least one column
   * must stay visible (first[r] < cols, and ≤ r + pastLength with causal). Default: every row from column 0.
   */
  first?: I32;
}

function rowsCols(fn: string, o: Partial<RowsCols>): [number, number] {
  const rows = size(fn, "rows", o.rows);
  const cols = size(fn, "cols", o.cols);
  check(rows * cols < 2 ** 31, "BAD_SHAPE", () => `${fn}: rows × cols = ${rows * cols} is more than the kernels can address`);
  return [rows, cols];
}

/**
 * out = softmax(scale · inp) over each row of (rows, cols), numerically stable (the row max is subtracted first).
 * A row whose visible entries are all −inf gives all zeros; +inf entries share the probability equally; a NaN makes
 * its row NaN. out may be inp.
 */
export function softmax(k: Kernels, out: F32, inp: F32, opts: SoftmaxOptions): void {
  const fn = "softmax";
  const o = options(fn, opts);
  const [rows, cols] = rowsCols(fn, o);
  const scale = finite(fn, "scale", o.scale ?? 1);
  check(scale > 0, "BAD_ARGUMENT", () => `${fn}: scale must be > 0, got ${scale}`);
  const causal = o.causal ?? false;
  check(typeof causal === "boolean", "BAD_ARGUMENT", () => `${fn}: causal must be a boolean`);
  const pastLength = size(fn, "pastLength", o.pastLength ?? 0);
  const i = array(k, fn, "inp", inp, "f32", rows * cols);
  const p = array(k, fn, "out", out, "f32", rows * cols);
  disjoint(fn, { out, inp });
  let pf = 0;
  if (o.first !== undefined) {
    pf = array(k, fn, "first", o.first, "i32", rows);
    separate(fn, "first", o.first, { out, inp });
    const f = o.first.view;
    for (let r = 0; r < rows; r++) {
      const end = causal ? Math.min(cols, r + pastLength + 1) : cols;
      if (!(f[r] >= 0 && f[r] < end)) throw new TinyLMError("OUT_OF_RANGE", `${fn}: first[${r}] = ${f[r]} leaves row ${r} no visible column of [0, ${end})`);
    }
  }
  k.exports.softmax_forward(p, i, pf, rows, cols, scale, +causal, pastLength);
}

/** dinp += scale · out ⊙ (dout − Σ_row dout ⊙ out): the backward of softmax(scale · inp) from its saved output. */
export function softmaxBackward(k: Kernels, dinp: F32, out: F32, dout: F32, opts: RowsCols & { scale?: number }): void {
  const fn = "softmaxBackward";
  const o = options(fn, opts);
  const [rows, cols] = rowsCols(fn, o);
  const scale = finite(fn, "scale", o.scale ?? 1);
  const d = array(k, fn, "dinp", dinp, "f32", rows * cols);
  const y = array(k, fn, "out", out, "f32", rows * cols);
  const g = array(k, fn, "dout", dout, "f32", rows * cols);
  disjoint(fn, { dinp, out, dout });
  k.exports.softmax_backward(d, y, g, rows, cols, scale);
}

/** out = log softmax(inp) per row: inp − max − log Σ e^(inp − max). An all −inf row gives −inf; out may be inp. */
export function logSoftmax(k: Kernels, out: F32, inp: F32, opts: RowsCols): void {
  const fn = "logSoftmax";
  const [rows, cols] = rowsCols(fn, options(fn, opts));
  const i = array(k, fn, "inp", inp, "f32", rows * cols);
  const p = array(k, fn, "out", out, "f32", rows * cols);
  disjoint(fn, { out, inp });
  k.exports.log_softmax_forward(p, i, rows, cols);
}

export interface RmsNormOptions extends RowsCols {
  /** Added to mean(x²) under the square root; finite and > 0. Default 1e-5. */
  eps?: number;
}

/** out = inp / √(mean(inp²) + eps) ⊙ weight per row; rstd (rows) receives 1/√(mean(inp²) + eps) for the backward. */
export function rmsnorm(k: Kernels, out: F32, rstd: F32, inp: F32, weight: F32, opts: RmsNormOptions): void {
  const fn = "rmsnorm";
  const o = options(fn, opts);
  const [rows, cols] = rowsCols(fn, o);
  const eps = finite(fn, "eps", o.eps ?? 1e-5);
  check(eps > 0, "BAD_ARGUMENT", () => `${fn}: eps must be > 0, got ${eps}`);
  check(rows === 0 || cols > 0, "BAD_SHAPE", () => `${fn}: a row needs at least one column to have a mean`);
  const i = array(k, fn, "inp", inp, "f32", rows * cols);
  const w = array(k, fn, "weight", weight, "f32", cols);
  const p = array(k, fn, "out", out, "f32", rows * cols);
  const r = array(k, fn, "rstd", rstd, "f32", rows);
  disjoint(fn, { out, inp, weight });
  separate(fn, "rstd", rstd, { out, inp, weight });
  k.exports.rmsnorm_forward(p, r, i, w, rows, cols, eps);
}

/** dinp += ∂/∂inp and dweight += ∂/∂weight of Σ dout ⊙ rmsnorm(inp, weight), with rstd saved by rmsnorm. */
export function rmsnormBackward(k: Kernels, dinp: F32, dweight: F32, dout: F32, inp: F32, weight: F32, rstd: F32,
  opts: RowsCols): void {
  const fn = "rmsnormBackward";
  const [rows, cols] = rowsCols(fn, options(fn, opts));
  const d = array(k, fn, "dinp", dinp, "f32", rows * cols);
  const dw = array(k, fn, "dweight", dweight, "f32", cols);
  const g = array(k, fn, "dout", dout, "f32", rows * cols);
  const i = array(k, fn, "inp", inp, "f32", rows * cols);
  const w = array(k, fn, "weight", weight, "f32", cols);
  const r = array(k, fn, "rstd", rstd, "f32", rows);
  disjoint(fn, { dinp, dweight, dout, inp, weight, rstd });
  separate(fn, "dweight", dweight, { dinp, dout, inp, weight, rstd });
  k.exports.rmsnorm_backward(d, dw, g, i, w, r, rows, cols);
}

export interface CrossEntropyOptions {
  rows: number;
  vocab: number;
  /** When given, dlogits (rows, vocab) += (softmax(logits) − onehot(target)) · dlossScale. */
  dlogits?: F32;
  /** Gradient scale; default 1 / (rows whose target is not ignoreIndex), the gradient of the returned mean. */
  dlossScale?: number;
  /** A target equal to this marks a row with no loss and no gradient (prompt tokens in SFT). Default −1. */
  ignoreIndex?: number;
}

/**
 * Fused softmax + cross-entropy over logits (rows, vocab) with i32 targets (rows): losses[r] = −log softmax(logits[r])
 * [targets[r]] (0 on ignored rows), and with `dlogits`, the gradient accumulated in the same pass.
 * Returns the mean loss over the rows that are not ignored (0 if all are). Every target must be ignoreIndex or in
 * [0, vocab): the first one that is not is reported (OUT_OF_RANGE) before anything is computed.
 */
export function crossEntropy(k: Kernels, losses: F32, logits: F32, targets: I32, opts: CrossEntropyOptions): number {
  const fn = "crossEntropy";
  const o = options(fn, opts);
  const rows = size(fn, "rows", o.rows);
  const vocab = size(fn, "vocab", o.vocab);
  check(rows * vocab < 2 ** 31, "BAD_SHAPE", () => `${fn}: rows × vocab = ${rows * vocab} is more than the kernels can address`);
  const ignoreIndex = o.ignoreIndex ?? -1;
  check(Number.isInteger(ignoreIndex) && ignoreIndex >= -(2 ** 31) && ignoreIndex < 2 ** 31, "BAD_ARGUMENT",
    () => `${fn}: ignoreIndex must be a 32-bit integer, got ${ignoreIndex}`);
  const x = array(k, fn, "logits", logits, "f32", rows * vocab);
  const t = array(k, fn, "targets", targets, "i32", rows);
  const l = array(k, fn, "losses", losses, "f32", rows);
  const d = o.dlogits === undefined ? 0 : array(k, fn, "dlogits", o.dlogits, "f32", rows * vocab);
  disjoint(fn, { logits, dlogits: o.dlogits });
  separate(fn, "losses", losses, { logits, targets, dlogits: o.dlogits });
  separate(fn, "targets", targets, { logits, dlogits: o.dlogits });
  const ids = targets.view;
  let counted = 0;
  for (let r = 0; r < rows; r++) {
    const id = ids[r];
    if (id === ignoreIndex) continue;
    check(id >= 0 && id < vocab, "OUT_OF_RANGE", () => `${fn}: target ${id} of row ${r} is outside [0, ${vocab}) and is not the ignoreIndex ${ignoreIndex}`);
    counted++;
  }
  const dlossScale = finite(fn, "dlossScale", o.dlossScale ?? 1 / Math.max(counted, 1));
  k.exports.crossentropy_forward(l, d, x, t, rows, vocab, dlossScale, ignoreIndex);
  if (counted === 0) return 0;
  const per = losses.view;
  let sum = 0;
  for (let r = 0; r < rows; r++) if (ids[r] !== ignoreIndex) sum += per[r];
  return sum / counted;
}
