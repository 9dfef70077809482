// tinylm's runtime-neutral entry (`tinylm/web`): runs unchanged in browsers, workerd and Node. The Node entry
// (src/node/index.ts, the package's default export) re-exports all of this and adds file loading.
export { TinyLMError, type TinyLMErrorCode } from "./errors.js";
export { Kernels, loadKernels, type Flavor, type LoadKernelsOptions, type WasmSource } from "./kernels/module.js";
export { Heap, HeapArray } from "./kernels/heap.js";
export { gemm, type GemmShape } from "./kernels/gemm.js";
export { MLP, type MLPOptions } from "./nn/mlp.js";
export { linearForward, linearBackward } from "./nn/linear.js";
export { mseLoss, mseBackward } from "./nn/loss.js";
export { SGD, type Optimizer } from "./nn/optim.js";
export { Random } from "./util/random.js";
export { Tokenizer, BpeModel, WordPieceModel, UnigramModel, bertTokenizerJSON, regexFromRust, TIKTOKEN_ENCODINGS, type EncodeOptions, type FromTiktokenOptions, type SpecialSet, type Model, type AddedToken, type TokenizerParts } from "./tokenizer/index.js";
export { BpeTrainer, WordPieceTrainer, UnigramTrainer, unigramSegment, type BpeTrainerOptions, type WordPieceTrainerOptions, type UnigramTrainerOptions, type TokenizerJson, type TrainerInput, type TrainProgress, type TrainRunOptions } from "./tokenizer/train/index.js";
