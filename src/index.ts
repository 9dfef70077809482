// tinylm's runtime-neutral entry (`tinylm/web`): runs unchanged in browsers, workerd and Node. The Node entry
// (src/node/index.ts, the package's default export) re-exports all of this and adds file loading.
export { TinyLMError, type TinyLMErrorCode } from "./errors.js";
export { Kernels, loadKernels, type Flavor, type LoadKernelsOptions, type WasmSource } from "./kernels/module.js";
export { Heap, HeapArray } from "./kernels/heap.js";
export { gemm, type GemmShape } from "./kernels/gemm.js";
export { MLP, type MLPOptions } from "./nn/mlp.js";
export { linearForward, linearBackward } from "./nn/linear.js";
export { mseLoss, mseBackward } from "./nn/loss.js";
export { SGD, AdamW, type Optimizer, type ParamGroup, type AdamWConfig } from "./nn/optim.js";
export { softmax, softmaxBackward, logSoftmax, sigmoid, sigmoidBackward, silu, siluBackward, swiglu, swigluBackward, rmsnorm, rmsnormBackward, crossEntropy, exp, add, scale, axpy } from "./kernels/activations.js";
export { adamw, type AdamWOptions } from "./kernels/optim.js";
export { attention, attentionBackward, type AttentionShape } from "./kernels/attention.js";
export { rope, ropeTables, type RopeShape } from "./kernels/rope.js";
export { type LlamaConfig, type PresetName, type ParamTensor, PRESETS, BYTES_PER_PARAM, llamaConfig, validateConfig, parameterLayout, parameterTable } from "./nn/config.js";
export { Llama, KVCache, type LlamaInitOptions, type LlamaStorage } from "./nn/llama.js";
export { pretrain, evaluate, clipGradients, flopsPerToken, type PretrainOptions, type StepLog, type EvalLog, type TrainState } from "./train/pretrain.js";
export { learningRate, type LrSchedule } from "./train/schedule.js";
export { restoreTrainState, snapshotTrainState, type AdamWState, type TrainStateBase } from "./train/state.js";
export { splitTokens, randomBatch, evenBatches, encodeLines, type Batch, type TokenSplits } from "./train/data.js";
export { BigramModel } from "./train/bigram.js";
export { lossChartSvg, type Curve } from "./train/chart.js";
export { arithmeticSplits, isCorrect, numberToWords, problemToChat, type ArithmeticOp, type ArithmeticOptions, type ArithmeticProblem } from "./posttrain/arithmetic.js";
export { ChatTemplate, CHAT_TOKENS, DEFAULT_CHAT_TEMPLATE, END_OF_TURN, ROLES, addSpecialTokens, checkMessages, type ChatExample, type ChatMessage, type Role } from "./posttrain/chat.js";
export { parseJsonl, readSftJsonl, readPreferenceJsonl, rankingPairs, type JsonlSource, type RankingExample } from "./posttrain/jsonl.js";
export { sft, exactMatch, prepareChatModel, tokenizeSft, sftBatch, type SftBatch, type SftOptions, type SftStepLog, type SftEvalLog, type SftHistory, type SftResult, type SftState, type SftSequence, type EvalItem, type ExactMatchResult } from "./posttrain/sft.js";
export { tokenLogProbs, tokenLogProbsBackward } from "./posttrain/logprobs.js";
export { resizeVocab } from "./posttrain/vocab.js";
export { ScalarHead, type ScalarHeadOptions, type HiddenStates } from "./posttrain/head.js";
export { RewardModel, pairwiseLoss, pairwiseAccuracy, trainRewardModel, type PairwiseOptions, type RewardTrainOptions, type RewardStepLog } from "./posttrain/reward.js";
export { dpo, dpoLoss, dpoLossAndBackward, sequenceLogProbs, type DpoOptions, type DpoStepLog } from "./posttrain/dpo.js";
export { tokenizePreference, preferenceBatch, arithmeticGrade, scriptedRanking, sampleRankings, rankingsToJsonl, type PreferenceItem, type PreferenceBatch } from "./posttrain/preference.js";
export { ppo, ppoLoss, gae, clippedPolicyLoss, clippedValueLoss, type PpoOptions, type PpoStepLog, type PpoRows, type PpoMinibatch, type RewardFunction } from "./posttrain/ppo.js";
export { tokenizerConfigFile, chatTemplateFromTokenizerConfig, type TokenizerConfigOptions } from "./io/tokenizer-config.js";
export { generate, generateAll, type GenerateOptions, type GenerateResult } from "./generate/generate.js";
export { pickToken, type SamplingOptions } from "./generate/sampling.js";
export { modelTensors, modelFromTensors, modelToHfFiles, modelFromHfFiles, modelToGguf, modelFromGguf, tokenizerGgufMetadata, trainStateToBytes, trainStateFromBytes, sftStateToBytes, sftStateFromBytes, type TrainStage, type HfSaveOptions, type GgufSaveOptions } from "./io/checkpoint.js";
export { readSafetensors, writeSafetensors, type SafetensorsFile, type SafetensorsTensor } from "./io/safetensors.js";
export { readGguf, writeGguf, gguf, GGML_TYPES, type GgufFile, type GgufTensor, type GgufValue } from "./io/gguf.js";
export { f32ToF16, f16ToF32, f32ToBf16, bf16ToF32 } from "./util/f16.js";
export { QuantizedMatrix, qmatmul, qmatmulWorkBytes, quantize, dequantize, heapBytes, type QmatmulOptions } from "./kernels/quant.js";
export { QUANT_FORMATS, canQuantize, isQuantType, quantizedBytes, type QuantType, type QuantFormat } from "./quant/formats.js";
export { quantizeModel, weightTypes, modelFileType, quantizedModelToGguf, quantizedModelFromGguf, ggufIsQuantized, type WeightType, type QuantizeModelOptions, type QuantizedGgufOptions } from "./quant/model.js";
export {
  QualityAccumulator, formatQuantReport, ggufSizes, parsePrecision, precisionLabel, precisionVariant, quantReport, quantReportJson,
  type Estimate, type GgufSizes, type PrecisionRecipe, type PrecisionVariant, type QualityStats, type QuantReport, type QuantReportOptions,
  type QuantReportRow, type ReportCache, type ReportEntry, type ReportModel, type Throughput,
} from "./quant/report.js";
export { Random } from "./util/random.js";
export { Tokenizer, BpeModel, WordPieceModel, UnigramModel, bertTokenizerJSON, regexFromRust, TIKTOKEN_ENCODINGS, type EncodeOptions, type FromTiktokenOptions, type SpecialSet, type Model, type AddedToken, type TokenizerParts } from "./tokenizer/index.js";
export { BpeTrainer, WordPieceTrainer, UnigramTrainer, unigramSegment, type BpeTrainerOptions, type WordPieceTrainerOptions, type UnigramTrainerOptions, type TokenizerJson, type TrainerInput, type TrainProgress, type TrainRunOptions } from "./tokenizer/train/index.js";
