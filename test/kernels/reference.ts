// Float64 references for the activation, loss and optimizer kernels, written from the textbook definitions and not
// from the kernels' code: no range reduction, no fused passes, Math.exp / Math.log in double precision.
// Each takes plain arrays and returns fresh Float64Arrays (backward references return the gradient itself; the
// tests add it to the starting value of the accumulated array).

export function sigmoidRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => 1 / (1 + Math.exp(-v)));
}

/** d/dx of the loss given dout, through σ: dout·σ(x)·(1 − σ(x)), computed from the saved output s. */
export function sigmoidBackwardRef(s: ArrayLike<number>, dout: ArrayLike<number>): Float64Array {
  return Float64Array.from(s, (v, i) => dout[i] * v * (1 - v));
}

export function siluRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => v / (1 + Math.exp(-v)));
}

/** silu'(x) = σ(x) + x·σ(x)·(1 − σ(x)). */
export function siluGradRef(x: ArrayLike<number>): Float64Array {
  return Float64Array.from(x, (v) => {
    const s = 1 / (1 + Math.exp(-v));
    return s + v * s * (1 - s);
  });
}

export interface SoftmaxRefOptions {
  scale?: number;
  causal?: boolean;
  pastLength?: number;
}

/** Number of visible columns of row r: all, or r + pastLength + 1 under the causal mask. */
export function visible(r: number, cols: number, o: SoftmaxRefOptions): number {
  return o.causal ? Math.min(cols, r + (o.pastLength ?? 0) + 1) : cols;
}

/** Row-wise softmax of scale·x over the visible columns; masked columns 0. Non-finite rows follow the kernels'
 *  documented rules: an all −inf row gives zeros, +inf entries share the mass equally, any NaN makes the row NaN. */
export function softmaxRef(x: ArrayLike<number>, rows: number, cols: number, o: SoftmaxRefOptions = {}): Float64Array {
  const scale = o.scale ?? 1;
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const n = visible(r, cols, o);
    const z = Array.from({ length: n }, (_, j) => x[r * cols + j] * scale);
    if (z.some(Number.isNaN)) {
      for (let j = 0; j < n; j++) out[r * cols + j] = NaN;
      continue;
    }
    const top = Math.max(...z);
    if (top === Infinity) {
      const c = z.filter((v) => v === Infinity).length;
      for (let j = 0; j < n; j++) out[r * cols + j] = z[j] === Infinity ? 1 / c : 0;
      continue;
    }
    if (top === -Infinity) continue;
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(z[j] - top);
    for (let j = 0; j < n; j++) out[r * cols + j] = Math.exp(z[j] - top) / sum;
  }
  return out;
}

/** log of softmaxRef (no scale, no mask): x − max − log Σ e^(x − max); −inf where the probability is 0. */
export function logSoftmaxRef(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const p = softmaxRef(x, rows, cols);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, j) => x[r * cols + j]);
    const top = Math.max(...row);
    if (!Number.isFinite(top) || row.some(Number.isNaN)) {
      for (let j = 0; j < cols; j++) out[r * cols + j] = Math.log(p[r * cols + j]);
      continue;
    }
    let sum = 0;
    for (const v of row) sum += Math.exp(v - top);
    for (let j = 0; j < cols; j++) out[r * cols + j] = row[j] - top - Math.log(sum);
  }
  return out;
}

/** Jacobian-vector product of y = softmax(scale·x) per row: dx = scale · y ⊙ (dy − Σ dy·y). */
export function softmaxBackwardRef(y: ArrayLike<number>, dy: ArrayLike<number>, rows: number, cols: number, scale = 1): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    for (let j = 0; j < cols; j++) dot += dy[r * cols + j] * y[r * cols + j];
    for (let j = 0; j < cols; j++) out[r * cols + j] = scale * y[r * cols + j] * (dy[r * cols + j] - dot);
  }
  return out;
}

export interface RmsNormRef {
  out: Float64Array;
  rstd: Float64Array;
}

/** out = x / sqrt(mean(x²) + eps) ⊙ weight, per row. */
export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, cols: number, eps: number): RmsNormRef {
  const out = new Float64Array(rows * cols);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[r * cols + j] ** 2;
    rstd[r] = 1 / Math.sqrt(ss / cols + eps);
    for (let j = 0; j < cols; j++) out[r * cols + j] = x[r * cols + j] * rstd[r] * w[j];
  }
  return { out, rstd };
}

/** Gradients of Σ dout ⊙ rmsnorm(x, w), derived by the chain rule and checked by finite differences in the test. */
export function rmsnormBackwardRef(dout: ArrayLike<number>, x: ArrayLike<number>, w: ArrayLike<number>, rows: number,
  cols: number, eps: number): { dinp: Float64Array; dweight: Float64Array } {
  const dinp = new Float64Array(rows * cols);
  const dweight = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let j = 0; j < cols; j++) ss += x[r * cols + j] ** 2;
    const ms = ss / cols + eps;
    const rs = 1 / Math.sqrt(ms);
    // ∂out_j/∂x_i = w_j·(δ_ij·rs − x_j·x_i·rs³/cols)
    let s = 0;
    for (let j = 0; j < cols; j++) s += dout[r * cols + j] * w[j] * x[r * cols + j];
    for (let i = 0; i < cols; i++) {
      dinp[r * cols + i] = dout[r * cols + i] * w[i] * rs - (x[r * cols + i] * rs ** 3 * s) / cols;
      dweight[i] += dout[r * cols + i] * x[r * cols + i] * rs;
    }
  }
  return { dinp, dweight };
}

/** Per-row −log softmax(x)[target]; 0 for ignored rows. */
export function crossEntropyRef(x: ArrayLike<number>, targets: ArrayLike<number>, rows: number, V: number, ignoreIndex = -1): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (t === ignoreIndex) continue;
    let top = -Infinity;
    for (let j = 0; j < V; j++) top = Math.max(top, x[r * V + j]);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(x[r * V + j] - top);
    out[r] = Math.log(sum) + top - x[r * V + t];
  }
  return out;
}

/** Gradient of dlossScale·Σ_rows loss_r with respect to the logits: (softmax − onehot)·dlossScale, 0 on ignored rows. */
export function crossEntropyGradRef(x: ArrayLike<number>, targets: ArrayLike<number>, rows: number, V: number,
  dlossScale: number, ignoreIndex = -1): Float64Array {
  const p = softmaxRef(x, rows, V);
  const out = new Float64Array(rows * V);
  for (let r = 0; r < rows; r++) {
    if (targets[r] === ignoreIndex) continue;
    for (let j = 0; j < V; j++) out[r * V + j] = dlossScale * (p[r * V + j] - (j === targets[r] ? 1 : 0));
  }
  return out;
}

/** Central finite differences of f at x (float64), for checking analytic gradients. */
export function finiteDiff(f: (x: Float64Array) => number, x: ArrayLike<number>, h = 1e-5): Float64Array {
  const xs = Float64Array.from(x);
  const g = new Float64Array(xs.length);
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i];
    xs[i] = v + h;
    const up = f(xs);
    xs[i] = v - h;
    const down = f(xs);
    xs[i] = v;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

export interface AdamWRefOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  step: number;
}

/**
 * One AdamW step in float64, written from PyTorch's documented algorithm (torch.optim.AdamW):
 *   θ_t ← θ_{t−1} − γλθ_{t−1}
 *   m_t ← β1·m_{t−1} + (1 − β1)·g_t
 *   v_t ← β2·v_{t−1} + (1 − β2)·g_t²
 *   m̂_t ← m_t / (1 − β1^t),  v̂_t ← v_t / (1 − β2^t)
 *   θ_t ← θ_t − γ·m̂_t / (√v̂_t + ε)
 */
export function adamwRef(p: ArrayLike<number>, g: ArrayLike<number>, m: ArrayLike<number>, v: ArrayLike<number>,
  o: AdamWRefOptions): { p: Float64Array; m: Float64Array; v: Float64Array } {
  const n = p.length;
  const P = new Float64Array(n), M = new Float64Array(n), Vv = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const theta = p[i] - o.lr * o.weightDecay * p[i];
    M[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
    Vv[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
    const mHat = M[i] / (1 - o.beta1 ** o.step);
    const vHat = Vv[i] / (1 - o.beta2 ** o.step);
    P[i] = theta - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
  return { p: P, m: M, v: Vv };
}

/**
 * torch.optim.AdamW's update as PyTorch's implementation computes it (torch/optim/adam.py, _single_tensor_adam with
 * decoupled weight decay), in float64 — a second, differently arranged formula next to adamwRef's textbook one:
 *   param.mul_(1 − lr·weight_decay)
 *   exp_avg.lerp_(grad, 1 − beta1);  exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 − beta2)
 *   step_size = lr / bias_correction1;  bias_correction2_sqrt = √bias_correction2
 *   denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps);  param.addcdiv_(exp_avg, denom, value=−step_size)
 */
export function torchAdamWRef(p: number[], g: ArrayLike<number>, m: number[], v: number[], lr: number, beta1: number, beta2: number,
  eps: number, wd: number, step: number): void {
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - lr * wd;
    m[i] += (g[i] - m[i]) * (1 - beta1);
    v[i] = v[i] * beta2 + (1 - beta2) * g[i] * g[i];
    const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
    p[i] += (-lr / bc1) * (m[i] / denom);
  }
}
