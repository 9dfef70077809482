import { check } from "../errors.js";

// Mean squared error in the textbook backprop form E = ½·Σ_o (ŷ − y)², averaged over the batch. The ½ makes the
// gradient of one example exactly its error ŷ − y, the quantity the seed's worked example reports (0.447).
// Plain JS, not a kernel: it is O(B·O), read once, next to the O(B·C·OC) GEMMs of any layer before it.

// pred and target are (B,O): returns (1/B)·Σ ½(ŷ − y)².
export function mseLoss(pred: ArrayLike<number>, target: ArrayLike<number>, B: number): number {
  checkPair("mseLoss", pred, target, B);
  let sum = 0;
  for (let i = 0; i < pred.length; i++) sum += (pred[i] - target[i]) ** 2;
  const loss = (0.5 * sum) / B;
  check(Number.isFinite(loss), "NAN", `mseLoss: the loss is ${loss}; the prediction or the target holds a NaN or an infinity`);
  return loss;
}

// dpred, pred and target are (B,O): dpred += (ŷ − y)/B.
export function mseBackward(dpred: Float32Array, pred: ArrayLike<number>, target: ArrayLike<number>, B: number): void {
  checkPair("mseBackward", pred, target, B);
  check(dpred.length === pred.length, "BAD_SHAPE", `mseBackward: dpred has ${dpred.length} values, pred ${pred.length}`);
  for (let i = 0; i < pred.length; i++) dpred[i] += (pred[i] - target[i]) / B;
}

function checkPair(fn: string, pred: ArrayLike<number>, target: ArrayLike<number>, B: number): void {
  check(Number.isInteger(B) && B >= 1, "BAD_SHAPE", `${fn}: the batch size must be a positive integer, got ${B}`);
  check(pred.length === target.length, "BAD_SHAPE", `${fn}: the prediction has ${pred.length} values but the target ${target.length}`);
  check(pred.length % B === 0 && pred.length > 0, "BAD_SHAPE", `${fn}: ${pred.length} values do not split into ${B} examples`);
}
