// tinylm's Node entry: everything in the runtime-neutral entry, plus loading from files.
export * from "../index.js";
export { loadKernelsFromFiles, buildDir } from "./kernels.js";
export { readBrown, brownText, brownDir, type BrownOptions } from "./brown.js";
