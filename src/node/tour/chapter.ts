import type { Kernels } from "../../kernels/module.js";
import type { Llama } from "../../nn/llama.js";
import type { ChatTemplate } from "../../posttrain/chat.js";
import type { RewardModel } from "../../posttrain/reward.js";
import type { Tokenizer } from "../../tokenizer/tokenizer.js";
import type { ProgressBar } from "../progress.js";

/** One line of the tour's final report: a number that matters, and what to compare it with. */
export interface ReportRow {
  metric: string;
  value: string;
  /** The reference or target next to it (the seed's published value, a peer library's number), if any. */
  reference?: string;
}

/** What a chapter gets to work with. */
export interface TourContext {
  kernels: Kernels;
  /** Smaller runs so the whole tour takes at most ~2 minutes (CI, the smoke test). */
  quick: boolean;
  /** Prints a line of the chapter's story. */
  log(line?: string): void;
  /** A progress bar for a long step, on the same output. */
  progress(label: string, total: number): ProgressBar;
  /** What earlier chapters made for later ones (each chapter makes what it needs if it is run alone). */
  artifacts: TourArtifacts;
}

/** The products of the life cycle, passed from chapter to chapter. */
export interface TourArtifacts {
  /** Where files are written (checkpoints, charts). */
  outDir: string;
  /** The Brown corpus, detokenized, one sentence per line, split into training and held-out sentences. */
  corpus?: { train: string[]; heldOut: string[] };
  /** The byte-level BPE trained on corpus.train. */
  tokenizer?: Tokenizer;
  /** The pretrained base model. */
  model?: Llama;
  /** The SFT chat model, its tokenizer (with the chat markers) and template: the policy and reference of PPO / DPO. */
  chat?: { model: Llama; tokenizer: Tokenizer; template: ChatTemplate };
  /** The reward model trained on the scripted labeler's rankings of the SFT model's answers (PPO's reward). */
  reward?: RewardModel;
  /** The reward model's held-out pairwise ranking accuracy, over all pairs and between two numbers: how far PPO can trust its score. */
  rewardHeldOut?: { accuracy: number; pairs: number; numberAccuracy: number };
  /** The DPO-trained copy of the SFT model (the reward chapter's), compared with PPO. */
  dpo?: Llama;
}

/**
 * A chapter of the tour: one stage of the seed's life cycle (the seed's neural network, tokenizer, pretraining, SFT,
 * reward model, PPO, quantization), run on data that ships with the install. It tells its story through ctx.log and
 * returns the rows it wants in the final report. Add a chapter by writing one file in src/node/tour/ and listing it
 * in `chapters` (src/node/tour/index.ts).
 */
export interface Chapter {
  /** Short name for `tinylm tour --chapter <id>`. */
  id: string;
  title: string;
  run(ctx: TourContext): Promise<ReportRow[]>;
}
