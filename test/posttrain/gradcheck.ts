// Finite-difference helpers for the post-training losses on a tiny f32 model: the gradient is compared along random
// directions of the whole parameter slab (a sum over every parameter, so f32 rounding averages out) with central
// differences of the loss.
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import type { PreferenceItem } from "../../src/posttrain/preference.js";
import { Random } from "../../src/util/random.js";

export const tinyConfig = llamaConfig({ vocabSize: 19, dim: 16, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 24, contextLength: 12, tiedEmbeddings: false });

export async function tinyModel(seed: number): Promise<Llama> {
  return Llama.init(await loadKernelsFromFiles("simd"), tinyConfig, { seed, initStd: 0.3 });
}

/** Three responses of different lengths to one 4-token prompt, ranked [2, 0, 1]: pairs (2,0), (2,1), (0,1). */
export function tinyItem(seed: number): PreferenceItem {
  const rng = new Random(seed);
  const prompt = Array.from({ length: 4 }, () => rng.int(tinyConfig.vocabSize));
  const rows = [3, 5, 2].map((n) => {
    const ids = [...prompt, ...Array.from({ length: n }, () => rng.int(tinyConfig.vocabSize))];
    return { ids, train: ids.map((_, i) => i >= prompt.length) };
  });
  return { rows, pairs: [[2, 0], [2, 1], [0, 1]] };
}

/** Max relative error of grad·d against (L(p + εd) − L(p − εd)) / 2ε over `directions` random unit directions. */
export function directionalError(params: Float32Array, grad: Float32Array, loss: () => number, directions: number, seed: number, eps = 1e-2): number {
  const rng = new Random(seed), base = Float32Array.from(params);
  let worst = 0;
  for (let n = 0; n < directions; n++) {
    const d = Float64Array.from({ length: params.length }, () => rng.normal());
    const norm = Math.sqrt(d.reduce((s, x) => s + x * x, 0));
    let analytic = 0;
    for (let i = 0; i < d.length; i++) {
      d[i] /= norm;
      analytic += grad[i] * d[i];
    }
    const at = (s: number) => {
      for (let i = 0; i < d.length; i++) params[i] = base[i] + s * eps * d[i];
      return loss();
    };
    const numeric = (at(1) - at(-1)) / (2 * eps);
    params.set(base);
    worst = Math.max(worst, Math.abs(numeric - analytic) / Math.max(Math.abs(analytic), 1e-3));
  }
  return worst;
}
