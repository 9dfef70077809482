// tinylm's Node entry: everything in the runtime-neutral entry, plus loading from files.
export * from "../index.js";
export { loadKernelsFromFiles, buildDir } from "./kernels.js";
export { readBrown, brownText, brownDir, brownSplits, detokenize, type BrownOptions } from "./brown.js";
export { saveModel, loadModel, saveTrainState, loadTrainState, saveSftState, loadSftState, type SaveModelOptions } from "./checkpoint.js";
export { writeFileAtomic, readFileBytes } from "./files.js";
export { saveChatModel, loadChatModel } from "./commands/sft.js";
