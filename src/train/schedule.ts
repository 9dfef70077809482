import { check } from "../errors.js";

export interface LrSchedule {
  /** Peak learning rate, reached at the end of warm-up. */
  lr: number;
  /** Floor of the cosine decay. Default lr / 10. */
  minLr?: number;
  /** Steps of linear warm-up from lr/warmupSteps to lr. Default 0. */
  warmupSteps?: number;
  /** Step at which the cosine reaches minLr (and stays). */
  totalSteps: number;
}

/** Learning rate for 0-based `step`: linear warm-up, then cosine decay to minLr (nanoGPT's get_lr). */
export function learningRate(step: number, s: LrSchedule): number {
  const minLr = s.minLr ?? s.lr / 10;
  const warmup = s.warmupSteps ?? 0;
  check(Number.isFinite(s.lr) && s.lr >= 0 && minLr >= 0 && minLr <= s.lr, "BAD_ARGUMENT", `learning rates must satisfy 0 ≤ minLr ≤ lr, got ${minLr}, ${s.lr}`);
  check(Number.isInteger(warmup) && warmup >= 0 && Number.isInteger(s.totalSteps) && s.totalSteps >= 1, "BAD_ARGUMENT", "warmupSteps and totalSteps must be integers, totalSteps ≥ 1");
  if (step < warmup) return (s.lr * (step + 1)) / warmup;
  if (step >= s.totalSteps) return minLr;
  const progress = (step - warmup) / Math.max(1, s.totalSteps - warmup);
  return minLr + 0.5 * (1 + Math.cos(Math.PI * progress)) * (s.lr - minLr);
}
