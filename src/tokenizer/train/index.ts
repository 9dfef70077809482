// Tokenizer training: each trainer reads text and returns a Hugging Face tokenizer.json object.
export { BpeTrainer, type BpeTrainerOptions } from "./bpe.js";
export { WordPieceTrainer, type WordPieceTrainerOptions } from "./wordpiece.js";
export { UnigramTrainer, unigramSegment, type UnigramTrainerOptions } from "./unigram.js";
export type { TokenizerJson, AddedTokenJson, TrainerInput, TrainProgress, TrainRunOptions } from "./common.js";
