import { type ArithmeticProblem, arithmeticSplits } from "../../posttrain/arithmetic.js";

// The post-training chapters' task, split three ways as InstructGPT splits its prompts: a few questions with written
// answers for SFT (demonstrations are the expensive kind of human data), more questions whose sampled answers people
// only rank (the reward model learns from those rankings, and PPO practises on the same questions, never told their
// answers), and held-out questions no stage trains on, where every stage is scored.
//
// Addition asked in digits. Measured on the quick base model: words in half of the questions (the mix we started
// with) left SFT on 200 questions at 5–13% held-out exact match, digits alone at 58–77%: a model that can already add
// a little is one whose samples a reward model can rank and PPO can improve. The full base model (3 layers, width 128)
// memorises more and generalises less: 13–24% after SFT on 200–300 questions, 81% on 600 (operands up to 30).

export interface PostTrainingTask {
  maxOperand: number;
  /** Questions with answers: the SFT data. */
  sft: ArithmeticProblem[];
  /** Questions whose answers the SFT model samples and the scripted labeler ranks; also PPO's prompts. */
  rl: ArithmeticProblem[];
  /** Questions no stage trains on. */
  heldOut: ArithmeticProblem[];
}

export function postTrainingTask(quick: boolean): PostTrainingTask {
  const s = quick ? { maxOperand: 20, sft: 200, rl: 180, heldOut: 60 } : { maxOperand: 30, sft: 600, rl: 260, heldOut: 100 };
  const { train, heldOut } = arithmeticSplits({ seed: 1, maxOperand: s.maxOperand, ops: ["plus"], train: s.sft + s.rl, heldOut: s.heldOut, wordsFraction: 0 });
  return { maxOperand: s.maxOperand, sft: train.slice(0, s.sft), rl: train.slice(s.sft), heldOut };
}
