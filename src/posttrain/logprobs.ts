import { TinyLMError, check } from "../errors.js";

// log π(a | s) of chosen tokens, from a forward pass's logits: what PPO's ratio and DPO's implicit reward are made of.
// Plain JS, O(N·V) once per batch, next to the O(N·C·V) lm_head product that made the logits.

// logits is (N, V), targets (N) with -1 for positions to skip: returns (N) log-softmax(logits)[target], 0 where skipped.
export function tokenLogProbs(logits: ArrayLike<number>, targets: ArrayLike<number>, V: number): Float64Array {
  check(Number.isInteger(V) && V >= 1, "BAD_SHAPE", `tokenLogProbs: the vocabulary size must be a positive integer, got ${V}`);
  const N = targets.length;
  check(logits.length === N * V, "BAD_SHAPE", `tokenLogProbs: logits hold ${logits.length} values, expected N·V = ${N}·${V}`);
  const out = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const t = targets[n];
    if (t === -1) continue;
    check(Number.isInteger(t) && t >= 0 && t < V, "OUT_OF_RANGE", `tokenLogProbs: targets[${n}] = ${t} is not a token id in [0, ${V}) or -1`);
    out[n] = logSoftmaxAt(logits, n * V, V, t);
  }
  return out;
}

// dlogits is (N, V), accumulated: for a loss with gradient dlogp[n] on tokenLogProbs' output n,
// dlogits[n, j] += dlogp[n]·(1[j = target] − softmax(logits[n])[j]). Feed the result to Llama.backwardFrom({ dlogits }).
export function tokenLogProbsBackward(dlogits: Float32Array | Float64Array, dlogp: ArrayLike<number>, logits: ArrayLike<number>, targets: ArrayLike<number>, V: number): void {
  const N = targets.length;
  check(dlogits.length === N * V && logits.length === N * V && dlogp.length === N, "BAD_SHAPE",
    `tokenLogProbsBackward: expected dlogits and logits of N·V = ${N * V} and dlogp of N = ${N} values`);
  for (let n = 0; n < N; n++) {
    const t = targets[n], g = dlogp[n];
    if (t === -1 || g === 0) continue;
    check(Number.isInteger(t) && t >= 0 && t < V, "OUT_OF_RANGE", `tokenLogProbsBackward: targets[${n}] = ${t} is not a token id in [0, ${V}) or -1`);
    const row = n * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[row + j]);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[row + j] - max);
    for (let j = 0; j < V; j++) dlogits[row + j] -= (g * Math.exp(logits[row + j] - max)) / sum;
    dlogits[row + t] += g;
  }
}

function logSoftmaxAt(logits: ArrayLike<number>, row: number, V: number, t: number): number {
  // Subtracting the row's maximum keeps exp() from overflowing on large logits; the result is unchanged.
  let max = -Infinity;
  for (let j = 0; j < V; j++) max = Math.max(max, logits[row + j]);
  if (!Number.isFinite(max)) throw new TinyLMError("NAN", `tokenLogProbs: row ${row / V} of the logits is not finite`);
  let sum = 0;
  for (let j = 0; j < V; j++) sum += Math.exp(logits[row + j] - max);
  return logits[row + t] - max - Math.log(sum);
}
