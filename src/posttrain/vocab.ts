import { check } from "../errors.js";
import { validateConfig } from "../nn/config.js";
import { Llama } from "../nn/llama.js";

/**
 * A copy of `model` whose vocabulary holds `vocabSize` tokens (≥ the current one), for a tokenizer that gained
 * special tokens (chat markers). Existing rows are copied; each new row of the embedding (and of an untied lm_head)
 * is the mean of the old rows, so a new token starts as an "average" token instead of a random direction that would
 * dominate the first steps (the initialisation transformers' resize_token_embeddings uses since 4.46).
 */
export function resizeVocab(model: Llama, vocabSize: number): Llama {
  const old = model.config.vocabSize;
  check(Number.isInteger(vocabSize) && vocabSize >= old, "BAD_ARGUMENT", `resizeVocab: the new vocabulary (${vocabSize}) must be an integer ≥ the current ${old}`);
  const grown = new Llama(model.k, validateConfig({ ...model.config, vocabSize }));
  const C = model.config.dim;
  for (const t of grown.tensors) {
    const src = model.param(t.name).view, dst = grown.param(t.name).view;
    dst.set(src);
    if (t.name !== "model.embed_tokens.weight" && t.name !== "lm_head.weight") continue;
    const mean = new Float64Array(C);
    for (let v = 0; v < old; v++) for (let c = 0; c < C; c++) mean[c] += src[v * C + c] / old;
    for (let v = old; v < vocabSize; v++) for (let c = 0; c < C; c++) dst[v * C + c] = mean[c];
  }
  return grown;
}
