import { TinyLMError, check } from "../errors.js";
import { crossEntropy, rmsnorm, rmsnormBackward, swiglu, swigluBackward } from "../kernels/activations.js";
import { attention, attentionBackward } from "../kernels/attention.js";
import type { HeapArray } from "../kernels/heap.js";
import type { Kernels } from "../kernels/module.js";
import { QuantizedMatrix } from "../kernels/quant.js";
import { rope, ropeTables } from "../kernels/rope.js";
import { type GenerateOptions, type GenerateResult, generate } from "../generate/generate.js";
import { Random } from "../util/random.js";
import { type LlamaConfig, type ParamTensor, headSize, parameterLayout } from "./config.js";
import { type Weight, matmulBackward, matmulForward } from "./linear.js";
import type { ParamGroup } from "./optim.js";

type F32 = HeapArray<"f32">;

/**
 * One layer's parameters (HF names in comments), as views into the parameter (or gradient) slab. W is F32 for
 * gradients; a parameter matrix may instead be a QuantizedMatrix (an inference-only model, see src/quant/model.ts).
 */
interface LayerParams<W = Weight> {
  attnNorm: F32; // input_layernorm (C,)
  wq: W; // self_attn.q_proj (NH·hs, C)
  wk: W; // self_attn.k_proj (NKV·hs, C)
  wv: W; // self_attn.v_proj (NKV·hs, C)
  wo: W; // self_attn.o_proj (C, NH·hs)
  ffnNorm: F32; // post_attention_layernorm (C,)
  wGate: W; // mlp.gate_proj (F, C)
  wUp: W; // mlp.up_proj (F, C)
  wDown: W; // mlp.down_proj (C, F)
}

interface ModelParams<W = Weight> {
  embed: W; // embed_tokens (V, C)
  layers: LayerParams<W>[];
  norm: F32; // model.norm (C,)
  lmHead: W; // lm_head (V, C), the embedding itself when tied
}

/** Activations of one forward pass over a (B, T) batch, carved from one slab (llm.c's ActivationTensors). */
interface Acts {
  B: number;
  T: number;
  keys: number; // positions attended: T in training, the cache's capacity when decoding
  slab: F32;
  ids: HeapArray<"i32">; // (B, T)
  targets: HeapArray<"i32">; // (B, T)
  packed: boolean; // whether the rows hold several sequences (forward's segments): then the next two are used
  positions: HeapArray<"i32">; // (B, T) each position counted from the start of its own sequence
  firstKey: HeapArray<"i32">; // (B, T) where each position's sequence starts in its row: the first key it attends
  resid: F32[]; // nLayers+1 × (B, T, C): resid[0] is the embedding, resid[l+1] layer l's output
  ln1: F32[]; // (B, T, C) per layer
  rstd1: F32[]; // (B, T)
  q: F32[]; // (B, T, NH, hs), after RoPE
  k: F32[]; // (B, T, NKV, hs), after RoPE
  v: F32[]; // (B, T, NKV, hs)
  att: F32[]; // (B, NH, T, keys) attention probabilities
  atty: F32[]; // (B, T, NH·hs) attention output before o_proj
  residMid: F32[]; // (B, T, C) after the attention block's residual add
  ln2: F32[]; // (B, T, C)
  rstd2: F32[]; // (B, T)
  gate: F32[]; // (B, T, F)
  up: F32[]; // (B, T, F)
  hmid: F32[]; // (B, T, F) silu(gate)·up
  lnf: F32; // (B, T, C)
  rstdf: F32; // (B, T)
  logits: F32; // (B, T, V)
  losses: F32; // (B, T)
}

/** Gradients of the activations. Backward walks one layer at a time, so one set of buffers serves every layer. */
interface GradActs {
  B: number;
  T: number;
  slab: F32;
  dresid: F32; // (B, T, C), the residual stream's gradient, carried through all layers
  dln: F32; // (B, T, C)
  dq: F32; // (B, T, NH, hs)
  dk: F32; // (B, T, NKV, hs)
  dv: F32; // (B, T, NKV, hs)
  datty: F32; // (B, T, NH·hs)
  dhmid: F32; // (B, T, F)
  dgate: F32; // (B, T, F)
  dup: F32; // (B, T, F)
  dlogits: F32; // (B, T, V)
  attScratch: F32; // 2 × (T, T) for the attention backward
}

/** Weights held in another storage than the f32 slab (see src/quant/model.ts, which builds such models). */
export interface LlamaStorage {
  /** HF name → the 2-D weight as quantized blocks; these tensors take no room in `params`. */
  quantized?: ReadonlyMap<string, QuantizedMatrix>;
  /** HF names of 2-D tensors in `params` whose values are f16 numbers (saved as F16; computed in f32). */
  f16?: ReadonlySet<string>;
}

export interface LlamaInitOptions {
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
  /** Standard deviation of the normal initialisation (HF's initializer_range). Default 0.02. */
  initStd?: number;
}

/**
 * A Llama-architecture decoder on the wasm kernels, with an explicit forward and backward per layer in the style of
 * llm.c's train_gpt2.c. Parameters, their gradients, and the activations of a (B, T) batch each live in one slab.
 * RoPE uses Hugging Face's rotate_half layout, so the parameter slab is a LlamaForCausalLM state dict as is.
 *
 *     const model = Llama.init(k, llamaConfig("nano"), { seed: 1 });
 *     const loss = model.forward(ids, { B: 4, T: 64, targets });   // ids, targets (B, T)
 *     model.zeroGrad(); model.backward();                          // model.grads now holds dLoss/dParams
 */
export class Llama {
  readonly k: Kernels;
  readonly config: LlamaConfig;
  /** The tensors of the f32 slab: every parameter, unless some are quantized (then those are left out). */
  readonly tensors: readonly ParamTensor[];
  /** Every f32 parameter, in `tensors` order (HF names). */
  readonly params: F32;
  /** The quantized weights by HF name (empty for a trainable f32 model). Owned by the model: free() frees them. */
  readonly quantized: ReadonlyMap<string, QuantizedMatrix>;
  /** HF names of f32-held 2-D tensors whose values are f16 numbers. */
  readonly f16: ReadonlySet<string>;
  /** dLoss/dParams, same layout; allocated by the first zeroGrad(); backward() accumulates into it. */
  grads: F32 | null = null;
  private readonly p: ModelParams;
  private g: ModelParams<F32> | null = null;
  private readonly rope: { cos: F32; sin: F32 };
  private acts: Acts | null = null;
  private dacts: GradActs | null = null;
  /** Whether the last forward pass had targets (so backward has a loss to differentiate). */
  private haveLoss = false;
  /** Whether the activations hold a full (B, T) forward pass (decode overwrites them with a cached pass). */
  private haveForward = false;

  constructor(k: Kernels, config: LlamaConfig, params?: F32, storage: LlamaStorage = {}) {
    this.quantized = storage.quantized ?? new Map();
    this.f16 = storage.f16 ?? new Set();
    const { tensors, total } = slabLayout(config, this.quantized);
    check(params === undefined || params.length === total, "BAD_SHAPE", () => `Llama: the config needs ${total} parameters, got ${params!.length}`);
    this.k = k;
    this.config = config;
    this.tensors = tensors;
    this.params = params ?? k.f32(total);
    this.p = this.views(this.params);
    this.rope = ropeTables(k, config.contextLength, headSize(config), config.ropeTheta);
  }

  /** A fresh model: normal(0, initStd) weights, residual projections scaled by 1/√(2·nLayers) (GPT-2), norms = 1. */
  static init(k: Kernels, config: LlamaConfig, options: LlamaInitOptions = {}): Llama {
    const model = new Llama(k, config);
    const rng = new Random(options.seed ?? 0);
    const std = options.initStd ?? 0.02;
    check(Number.isFinite(std) && std > 0, "BAD_ARGUMENT", `Llama.init: initStd must be positive, got ${std}`);
    const all = model.params.view;
    for (const t of model.tensors) {
      const values = all.subarray(t.offset, t.offset + t.size);
      if (t.shape.length === 1) values.fill(1);
      else rng.fillNormal(values, 0, /(o_proj|down_proj)/.test(t.name) ? std / Math.sqrt(2 * config.nLayers) : std);
    }
    return model;
  }

  /** Total parameter count (tied embeddings counted once). */
  parameterCount(): number {
    let n = this.tensors.reduce((n, t) => n + t.size, 0);
    for (const w of this.quantized.values()) n += w.rows * w.cols;
    return n;
  }

  /** Runs of the parameter slab for AdamW: matrices decay by `weightDecay`, norm gains (1-D) do not. */
  parameterGroups(weightDecay: number): ParamGroup[] {
    const groups: ParamGroup[] = [];
    for (const t of this.tensors) {
      const decay = t.shape.length === 1 ? 0 : weightDecay;
      const last = groups[groups.length - 1];
      // Tensors are padded to 16 floats; the padding is never read, so a run may span it.
      if (last && last.weightDecay === decay) last.size = t.offset + t.size - last.offset;
      else groups.push({ offset: t.offset, size: t.size, weightDecay: decay });
    }
    return groups;
  }

  /** The named parameter tensor (HF name) as a view into the slab. */
  param(name: string): F32 {
    const t = this.tensors.find((x) => x.name === name);
    check(!this.quantized.has(name), "UNSUPPORTED", () => `Llama: "${name}" is held quantized (model.quantized.get(name)), not as f32 values`);
    check(t !== undefined, "BAD_ARGUMENT", `Llama: no parameter named "${name}"`);
    return this.params.subarray(t.offset, t.size);
  }

  /**
   * Runs the model over ids (B, T). With targets (B, T) it returns the mean cross-entropy over the targets that are
   * not -1 (masked positions, as SFT uses) and prepares backward(); without, it returns NaN and only the logits are
   * meaningful. logits() reads them afterwards.
   *
   * segments (B, T), for rows that pack several sequences: each position's sequence number, non-decreasing along a
   * row (e.g. 0 0 0 1 1 2 2 2). A position then sees only the earlier positions of its own sequence, and RoPE counts
   * positions from that sequence's start — as if each sequence were run alone (Hugging Face's packing with
   * position_ids, flash-attention's varlen). backward() follows the same mask.
   */
  forward(ids: ArrayLike<number>, options: { B?: number; T?: number; targets?: ArrayLike<number>; segments?: ArrayLike<number> } = {}): number {
    const c = this.config;
    const B = options.B ?? 1;
    const T = options.T ?? ids.length / B;
    check(Number.isInteger(B) && B >= 1 && Number.isInteger(T) && T >= 1, "BAD_SHAPE", `forward: B and T must be positive integers, got ${B}, ${T}`);
    check(ids.length === B * T, "BAD_SHAPE", `forward: ids must hold B·T = ${B * T} tokens, got ${ids.length}`);
    check(T <= c.contextLength, "BAD_SHAPE", `forward: T = ${T} exceeds the context length ${c.contextLength}`);
    checkIds("forward: ids", ids, c.vocabSize, false);
    const targets = options.targets;
    if (targets !== undefined) {
      check(targets.length === B * T, "BAD_SHAPE", `forward: targets must hold B·T = ${B * T} ids, got ${targets.length}`);
      checkIds("forward: targets", targets, c.vocabSize, true);
      check(countTargets(targets) > 0, "BAD_ARGUMENT", "forward: every target is masked (-1); there is no loss to compute");
    }
    const segments = options.segments;
    if (segments !== undefined) checkSegments(segments, B, T);
    this.haveLoss = false;
    const a = this.activations(B, T, T);
    a.ids.set(ids);
    a.packed = segments !== undefined;
    if (segments !== undefined) segmentLayout(a.positions.view, a.firstKey.view, segments, B, T);
    this.layers(a, B, T, 0, null);
    this.haveForward = true;
    matmulForward(this.k, a.logits, a.lnf, this.p.lmHead, B * T, c.dim, c.vocabSize);
    if (targets === undefined) return NaN;
    a.targets.set(targets);
    const loss = crossEntropy(this.k, a.losses, a.logits, a.targets, { rows: B * T, vocab: c.vocabSize });
    if (!Number.isFinite(loss)) throw new TinyLMError("NAN", `forward: the loss is ${loss} (diverged training or non-finite weights)`);
    this.haveLoss = true;
    return loss;
  }

  /** A key/value cache for `decode`, holding up to `capacity` positions (default the context length). */
  newCache(capacity = this.config.contextLength): KVCache {
    return new KVCache(this.k, this.config, capacity);
  }

  /**
   * Feeds ids (a prompt, or one new token) after the `cache.length` positions already in the cache, appends their
   * keys and values to it, and returns the next-token logits (V) of the last position. Each call costs attention over
   * the cached positions only, not a recomputation of the whole sequence.
   */
  decode(ids: ArrayLike<number>, cache: KVCache): Float32Array {
    const c = this.config, T = ids.length;
    check(cache instanceof KVCache && cache.kernels === this.k && cache.config === c, "BAD_ARGUMENT", "decode: the cache belongs to another model");
    check(T >= 1, "BAD_SHAPE", "decode: no tokens given");
    check(cache.length + T <= cache.capacity, "OUT_OF_RANGE",
      `decode: ${cache.length} cached + ${T} new positions exceed the cache's ${cache.capacity} (the context length is ${c.contextLength})`);
    checkIds("decode: ids", ids, c.vocabSize, false);
    this.haveLoss = false;
    this.haveForward = false;
    const a = this.activations(1, T, cache.capacity);
    a.ids.set(ids);
    a.packed = false;
    this.layers(a, 1, T, cache.length, cache);
    cache.length += T;
    // Only the last position's logits are needed to pick the next token: one matrix-vector product.
    const last = a.lnf.subarray((T - 1) * c.dim, c.dim), logits = a.logits.subarray(0, c.vocabSize);
    matmulForward(this.k, logits, last, this.p.lmHead, 1, c.dim, c.vocabSize);
    return logits.toArray();
  }

  /** Streams generated token ids after `prompt` (see generate() for the options: sampling, stops, overflow). */
  generate(prompt: ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<number, GenerateResult> {
    return generate(this, prompt, options);
  }

  // The decoder stack over a.ids (B, T) at positions pos0…pos0+T−1 (or a.positions when packed), ending in the final
  // norm (a.lnf). Keys and values go to the activations (training) or, with a cache, into its rows pos0… and attention
  // reads all cached rows.
  private layers(a: Acts, B: number, T: number, pos0: number, cache: KVCache | null): void {
    const c = this.config, k = this.k, p = this.p;
    const C = c.dim, hs = headSize(c), NH = c.nHeads, NKV = c.nKvHeads, F = c.ffnDim, BT = B * T;
    const eps = c.normEps, { cos, sin } = this.rope;
    const positions = a.packed ? a.positions : undefined, firstKey = a.packed ? a.firstKey : undefined;
    embeddingForward(k, a.resid[0], a.ids, p.embed, BT, C);
    for (let l = 0; l < c.nLayers; l++) {
      const w = p.layers[l];
      const kl = cache ? cache.keys[l].subarray(pos0 * NKV * hs, T * NKV * hs) : a.k[l];
      const vl = cache ? cache.values[l].subarray(pos0 * NKV * hs, T * NKV * hs) : a.v[l];
      rmsnorm(k, a.ln1[l], a.rstd1[l], a.resid[l], w.attnNorm, { rows: BT, cols: C, eps });
      matmulForward(k, a.q[l], a.ln1[l], w.wq, BT, C, NH * hs);
      matmulForward(k, kl, a.ln1[l], w.wk, BT, C, NKV * hs);
      matmulForward(k, vl, a.ln1[l], w.wv, BT, C, NKV * hs);
      rope(k, a.q[l], cos, sin, { B, T, heads: NH, headSize: hs, pos0, positions });
      rope(k, kl, cos, sin, { B, T, heads: NKV, headSize: hs, pos0, positions });
      const shape = { B, T, heads: NH, kvHeads: NKV, headSize: hs };
      if (cache) {
        const att = a.att[l].subarray(0, B * NH * T * (pos0 + T)); // (B, NH, T, keys): the rows are as long as the keys seen
        attention(k, a.atty[l], att, a.q[l], cache.keys[l], cache.values[l], { ...shape, keys: pos0 + T, kvRows: cache.capacity });
      }
      else attention(k, a.atty[l], a.att[l], a.q[l], kl, vl, { ...shape, firstKey });
      a.residMid[l].view.set(a.resid[l].view);
      matmulForward(k, a.residMid[l], a.atty[l], w.wo, BT, NH * hs, C, true);
      rmsnorm(k, a.ln2[l], a.rstd2[l], a.residMid[l], w.ffnNorm, { rows: BT, cols: C, eps });
      matmulForward(k, a.gate[l], a.ln2[l], w.wGate, BT, C, F);
      matmulForward(k, a.up[l], a.ln2[l], w.wUp, BT, C, F);
      swiglu(k, a.hmid[l], a.gate[l], a.up[l]);
      a.resid[l + 1].view.set(a.residMid[l].view);
      matmulForward(k, a.resid[l + 1], a.hmid[l], w.wDown, BT, F, C, true);
    }
    rmsnorm(k, a.lnf, a.rstdf, a.resid[c.nLayers], p.norm, { rows: BT, cols: C, eps });
  }

  /** The logits of the last forward pass, (B, T, V), as a fresh copy. */
  logits(): Float32Array {
    check(this.acts !== null, "BAD_ARGUMENT", "logits: run forward first");
    return this.acts.logits.toArray();
  }

  /**
   * The final hidden states of the last forward pass, (B, T, C) after the final norm, as a fresh copy: what a scalar
   * head (reward model, value head) reads, usually at the last token of each row.
   */
  hidden(): Float32Array {
    check(this.acts !== null && this.haveForward, "BAD_ARGUMENT", "hidden: run forward first");
    return this.acts.lnf.toArray();
  }

  /** Allocates the gradient slab on first use and sets it to zero. */
  zeroGrad(): void {
    check(this.quantized.size === 0, "UNSUPPORTED", "zeroGrad: this model holds quantized weights, which are for inference only; train the f32 model");
    if (this.grads === null) {
      this.grads = this.k.f32(this.params.length);
      this.g = this.views(this.grads) as ModelParams<F32>;
    } else {
      this.grads.view.fill(0);
    }
  }

  /**
   * Accumulates dLoss/dParams of the last forward pass (mean cross-entropy over its unmasked targets) into grads.
   * Gradient accumulation over micro-batches is several forward/backward pairs between zeroGrad() calls;
   * `lossScale` (default 1) weights this micro-batch, e.g. 1/steps.
   */
  backward(lossScale = 1): void {
    check(this.haveLoss && this.acts !== null, "BAD_ARGUMENT", "backward: run forward with targets first");
    check(this.grads !== null && this.g !== null, "BAD_ARGUMENT", "backward: call zeroGrad() before the first backward");
    check(Number.isFinite(lossScale), "BAD_ARGUMENT", `backward: lossScale must be finite, got ${lossScale}`);
    const a = this.acts, V = this.config.vocabSize, BT = a.B * a.T;
    const d = this.gradActs(a.B, a.T);
    d.slab.view.fill(0);
    // Cross-entropy again, now for its gradient: cheaper than keeping (B, T, V) probabilities alive between passes.
    crossEntropy(this.k, a.losses, a.logits, a.targets, { rows: BT, vocab: V, dlogits: d.dlogits, dlossScale: lossScale / countTargets(a.targets.view) });
    matmulBackward(this.k, d.dln, this.g.lmHead, d.dlogits, a.lnf, this.p.lmHead, BT, this.config.dim, V);
    this.backwardStack(a, d);
  }

  /**
   * Accumulates dLoss/dParams for any loss of the last forward pass (with or without targets), given its gradient
   * with respect to the logits (B, T, V) and/or the final hidden states (B, T, C, after the final norm). This is the
   * hook of the other heads: a scalar head on the hidden states (reward model, value head) passes dhidden; losses
   * on token log-probabilities (PPO, DPO) pass dlogits. Both walk the same layers as backward().
   */
  backwardFrom(grads: { dlogits?: ArrayLike<number>; dhidden?: ArrayLike<number> }): void {
    check(this.haveForward && this.acts !== null, "BAD_ARGUMENT", "backwardFrom: run forward first (decode does not keep the activations)");
    check(this.grads !== null && this.g !== null, "BAD_ARGUMENT", "backwardFrom: call zeroGrad() before the first backward");
    const { dlogits, dhidden } = grads ?? {};
    check(dlogits !== undefined || dhidden !== undefined, "BAD_ARGUMENT", "backwardFrom: give dlogits, dhidden or both");
    const a = this.acts, C = this.config.dim, V = this.config.vocabSize, BT = a.B * a.T;
    const finite = (what: string, x: ArrayLike<number>, n: number) => {
      check(x.length === n, "BAD_SHAPE", `backwardFrom: ${what} must hold B·T·${what === "dlogits" ? "V" : "C"} = ${n} values, got ${x.length}`);
      for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) throw new TinyLMError("NAN", `backwardFrom: ${what}[${i}] is ${x[i]}`);
    };
    const d = this.gradActs(a.B, a.T);
    d.slab.view.fill(0);
    if (dlogits !== undefined) {
      finite("dlogits", dlogits, BT * V);
      d.dlogits.set(dlogits);
      matmulBackward(this.k, d.dln, this.g.lmHead, d.dlogits, a.lnf, this.p.lmHead, BT, C, V);
    }
    if (dhidden !== undefined) {
      finite("dhidden", dhidden, BT * C);
      const dln = d.dln.view;
      for (let i = 0; i < BT * C; i++) dln[i] += dhidden[i];
    }
    this.backwardStack(a, d);
  }

  // From d.dln, the gradient at the final norm's output, down through every layer to the embedding.
  private backwardStack(a: Acts, d: GradActs): void {
    const c = this.config, k = this.k, p = this.p, g = this.g!;
    const { B, T } = a;
    const C = c.dim, hs = headSize(c), NH = c.nHeads, NKV = c.nKvHeads, F = c.ffnDim, BT = B * T;
    const positions = a.packed ? a.positions : undefined;
    rmsnormBackward(k, d.dresid, g.norm, d.dln, a.resid[c.nLayers], p.norm, a.rstdf, { rows: BT, cols: C });
    for (let l = c.nLayers - 1; l >= 0; l--) {
      const w = p.layers[l], dw = g.layers[l];
      // resid[l+1] = residMid + down(hmid): dresid passes through unchanged and feeds the FFN branch.
      d.dhmid.view.fill(0);
      matmulBackward(k, d.dhmid, dw.wDown, d.dresid, a.hmid[l], w.wDown, BT, F, C);
      d.dgate.view.fill(0);
      d.dup.view.fill(0);
      swigluBackward(k, d.dgate, d.dup, d.dhmid, a.gate[l], a.up[l]);
      d.dln.view.fill(0);
      matmulBackward(k, d.dln, dw.wGate, d.dgate, a.ln2[l], w.wGate, BT, C, F);
      matmulBackward(k, d.dln, dw.wUp, d.dup, a.ln2[l], w.wUp, BT, C, F);
      rmsnormBackward(k, d.dresid, dw.ffnNorm, d.dln, a.residMid[l], w.ffnNorm, a.rstd2[l], { rows: BT, cols: C });
      // residMid = resid[l] + o_proj(atty)
      d.datty.view.fill(0);
      matmulBackward(k, d.datty, dw.wo, d.dresid, a.atty[l], w.wo, BT, NH * hs, C);
      d.dq.view.fill(0);
      d.dk.view.fill(0);
      d.dv.view.fill(0);
      attentionBackward(k, d.dq, d.dk, d.dv, d.attScratch, d.datty, a.att[l], a.q[l], a.k[l], a.v[l], { B, T, heads: NH, kvHeads: NKV, headSize: hs });
      rope(k, d.dq, this.rope.cos, this.rope.sin, { B, T, heads: NH, headSize: hs, positions, inverse: true });
      rope(k, d.dk, this.rope.cos, this.rope.sin, { B, T, heads: NKV, headSize: hs, positions, inverse: true });
      d.dln.view.fill(0);
      matmulBackward(k, d.dln, dw.wq, d.dq, a.ln1[l], w.wq, BT, C, NH * hs);
      matmulBackward(k, d.dln, dw.wk, d.dk, a.ln1[l], w.wk, BT, C, NKV * hs);
      matmulBackward(k, d.dln, dw.wv, d.dv, a.ln1[l], w.wv, BT, C, NKV * hs);
      rmsnormBackward(k, d.dresid, dw.attnNorm, d.dln, a.resid[l], w.attnNorm, a.rstd1[l], { rows: BT, cols: C });
    }
    k.exports.embedding_backward(g.embed.ptr, d.dresid.ptr, a.ids.ptr, BT, C);
  }

  /** Frees the model's heap memory (parameters, gradients, activations). The model is unusable afterwards. */
  free(): void {
    this.params.free();
    this.grads?.free();
    this.acts?.slab.free();
    this.acts?.ids.free();
    this.acts?.targets.free();
    this.acts?.positions.free();
    this.acts?.firstKey.free();
    this.dacts?.slab.free();
    this.rope.cos.free();
    this.rope.sin.free();
    for (const w of new Set(this.quantized.values())) w.free();
  }

  private views(slab: F32): ModelParams {
    const at = (name: string): F32 => {
      const t = this.tensors.find((x) => x.name === name)!;
      return slab.subarray(t.offset, t.size);
    };
    const weight = (name: string): Weight => this.quantized.get(name) ?? at(name);
    const embed = weight("model.embed_tokens.weight");
    const layers: LayerParams[] = [];
    for (let l = 0; l < this.config.nLayers; l++) {
      const n = `model.layers.${l}.`;
      layers.push({
        attnNorm: at(n + "input_layernorm.weight"),
        wq: weight(n + "self_attn.q_proj.weight"),
        wk: weight(n + "self_attn.k_proj.weight"),
        wv: weight(n + "self_attn.v_proj.weight"),
        wo: weight(n + "self_attn.o_proj.weight"),
        ffnNorm: at(n + "post_attention_layernorm.weight"),
        wGate: weight(n + "mlp.gate_proj.weight"),
        wUp: weight(n + "mlp.up_proj.weight"),
        wDown: weight(n + "mlp.down_proj.weight"),
      });
    }
    return { embed, layers, norm: at("model.norm.weight"), lmHead: this.config.tiedEmbeddings ? embed : weight("lm_head.weight") };
  }

  // Activations for (B, T) queries over `keys` positions, reallocated only when that shape changes.
  private activations(B: number, T: number, keys: number): Acts {
    if (this.acts && this.acts.B === B && this.acts.T === T && this.acts.keys === keys) return this.acts;
    if (this.acts) {
      this.acts.slab.free();
      this.acts.ids.free();
      this.acts.targets.free();
      this.acts.positions.free();
      this.acts.firstKey.free();
    }
    const c = this.config, L = c.nLayers, BT = B * T;
    const C = c.dim, F = c.ffnDim, Q = c.nHeads * headSize(c), KV = c.nKvHeads * headSize(c);
    const perLayer = (size: number) => Array.from({ length: L }, () => size);
    const [slab, parts] = carve(this.k, {
      resid: Array.from({ length: L + 1 }, () => BT * C),
      ln1: perLayer(BT * C), rstd1: perLayer(BT), q: perLayer(BT * Q), k: perLayer(BT * KV), v: perLayer(BT * KV),
      att: perLayer(B * c.nHeads * T * keys), atty: perLayer(BT * Q), residMid: perLayer(BT * C),
      ln2: perLayer(BT * C), rstd2: perLayer(BT), gate: perLayer(BT * F), up: perLayer(BT * F), hmid: perLayer(BT * F),
      lnf: [BT * C], rstdf: [BT], logits: [BT * c.vocabSize], losses: [BT],
    });
    this.acts = {
      B, T, keys, slab, ids: this.k.i32(BT), targets: this.k.i32(BT), packed: false, positions: this.k.i32(BT), firstKey: this.k.i32(BT),
      resid: parts.resid, ln1: parts.ln1, rstd1: parts.rstd1, q: parts.q, k: parts.k, v: parts.v, att: parts.att,
      atty: parts.atty, residMid: parts.residMid, ln2: parts.ln2, rstd2: parts.rstd2, gate: parts.gate, up: parts.up,
      hmid: parts.hmid, lnf: parts.lnf[0], rstdf: parts.rstdf[0], logits: parts.logits[0], losses: parts.losses[0],
    };
    return this.acts;
  }

  private gradActs(B: number, T: number): GradActs {
    if (this.dacts && this.dacts.B === B && this.dacts.T === T) return this.dacts;
    this.dacts?.slab.free();
    const c = this.config, BT = B * T;
    const C = c.dim, F = c.ffnDim, Q = c.nHeads * headSize(c), KV = c.nKvHeads * headSize(c);
    const [slab, parts] = carve(this.k, {
      dresid: [BT * C], dln: [BT * C], dq: [BT * Q], dk: [BT * KV], dv: [BT * KV], datty: [BT * Q],
      dhmid: [BT * F], dgate: [BT * F], dup: [BT * F], dlogits: [BT * c.vocabSize], attScratch: [2 * T * T],
    });
    const one = Object.fromEntries(Object.entries(parts).map(([name, list]) => [name, list[0]]));
    this.dacts = { B, T, slab, ...one } as unknown as GradActs;
    return this.dacts;
  }
}

// The f32 slab's tensors: parameterLayout's, without the quantized ones (which live in their own heap blocks).
function slabLayout(config: LlamaConfig, quantized: ReadonlyMap<string, QuantizedMatrix>): { tensors: ParamTensor[]; total: number } {
  const all = parameterLayout(config);
  if (quantized.size === 0) return all;
  const tensors: ParamTensor[] = [];
  let total = 0;
  for (const t of all.tensors) {
    const q = quantized.get(t.name);
    if (q === undefined) {
      tensors.push({ ...t, offset: total });
      total += Math.ceil(t.size / 16) * 16;
      continue;
    }
    check(t.shape.length === 2 && q instanceof QuantizedMatrix && q.rows === t.shape[0] && q.cols === t.shape[1], "BAD_SHAPE",
      () => `Llama: the quantized "${t.name}" must be a QuantizedMatrix of shape (${t.shape})`);
  }
  for (const name of quantized.keys()) check(all.tensors.some((t) => t.name === name), "BAD_ARGUMENT", () => `Llama: no parameter named "${name}"`);
  return { tensors, total };
}

// out (BT, C) ← rows ids (BT,) of the embedding (V, C); a quantized table is dequantized one token row at a time.
function embeddingForward(k: Kernels, out: F32, ids: HeapArray<"i32">, embed: Weight, BT: number, C: number): void {
  if (!(embed instanceof QuantizedMatrix)) {
    k.exports.embedding_forward(out.ptr, ids.ptr, embed.ptr, BT, C);
    return;
  }
  const v = ids.view;
  for (let i = 0; i < BT; i++) embed.dequantizeRows(out.subarray(i * C, C), v[i], 1);
}

/** Splits one zero-filled slab into named lists of arrays, each starting on a 16-float (64-byte) boundary. */
function carve<K extends string>(k: Kernels, sizes: Record<K, number[]>): [F32, Record<K, F32[]>] {
  let total = 0;
  for (const list of Object.values<number[]>(sizes)) for (const n of list) total += Math.ceil(n / 16) * 16;
  const slab = k.f32(total);
  const parts = {} as Record<K, F32[]>;
  let offset = 0;
  for (const name of Object.keys(sizes) as K[]) {
    parts[name] = sizes[name].map((n) => {
      const part = slab.subarray(offset, n);
      offset += Math.ceil(n / 16) * 16;
      return part;
    });
  }
  return [slab, parts];
}

function checkIds(what: string, ids: ArrayLike<number>, vocabSize: number, allowMasked: boolean): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (Number.isInteger(id) && id >= 0 && id < vocabSize) continue;
    if (allowMasked && id === -1) continue;
    throw new TinyLMError("OUT_OF_RANGE", `${what}[${i}] = ${id} is not a token id in [0, ${vocabSize})${allowMasked ? " or -1 (masked)" : ""}`);
  }
}

// Segment numbers must be integers, non-decreasing along each row (a row is a run of whole sequences).
function checkSegments(segments: ArrayLike<number>, B: number, T: number): void {
  check(segments.length === B * T, "BAD_SHAPE", `forward: segments must hold B·T = ${B * T} values, got ${segments.length}`);
  for (let i = 0; i < B * T; i++) {
    const s = segments[i];
    if (!Number.isInteger(s)) throw new TinyLMError("BAD_ARGUMENT", `forward: segments[${i}] = ${s} is not an integer`);
    if (i % T !== 0 && s < segments[i - 1]) {
      throw new TinyLMError("BAD_ARGUMENT", `forward: segments[${i}] = ${s} is less than segments[${i - 1}] = ${segments[i - 1]}; a row's segment numbers must not decrease`);
    }
  }
}

// positions, firstKey (B, T) ← segments (B, T): a sequence starts wherever the segment number changes within a row.
function segmentLayout(positions: Int32Array, firstKey: Int32Array, segments: ArrayLike<number>, B: number, T: number): void {
  for (let b = 0; b < B; b++) {
    let start = 0;
    for (let t = 0; t < T; t++) {
      const i = b * T + t;
      if (t > 0 && segments[i] !== segments[i - 1]) start = t;
      positions[i] = t - start;
      firstKey[i] = start;
    }
  }
}

function countTargets(targets: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < targets.length; i++) if (targets[i] !== -1) n++;
  return n;
}

/** Keys and values of the positions a model has seen, per layer (capacity, NKV, hs), for incremental decoding. */
export class KVCache {
  readonly kernels: Kernels;
  readonly config: LlamaConfig;
  readonly capacity: number;
  /** Positions filled so far. */
  length = 0;
  private readonly slab: F32;
  readonly keys: F32[];
  readonly values: F32[];

  constructor(k: Kernels, config: LlamaConfig, capacity: number) {
    check(Number.isInteger(capacity) && capacity >= 1 && capacity <= config.contextLength, "BAD_ARGUMENT",
      `KVCache: capacity must be an integer in [1, ${config.contextLength}], got ${capacity}`);
    this.kernels = k;
    this.config = config;
    this.capacity = capacity;
    const per = capacity * config.nKvHeads * headSize(config);
    const [slab, parts] = carve(k, { keys: Array.from({ length: config.nLayers }, () => per), values: Array.from({ length: config.nLayers }, () => per) });
    this.slab = slab;
    this.keys = parts.keys;
    this.values = parts.values;
  }

  /** Forgets every position (the memory is kept). */
  reset(): void {
    this.length = 0;
  }

  free(): void {
    this.slab.free();
  }
}
