export { Tokenizer, type EncodeOptions, type FromTiktokenOptions, type SpecialSet } from "./tokenizer.js";
export { BpeModel, type BpeOptions } from "./bpe.js";
export { WordPieceModel, UnigramModel, type Model } from "./models.js";
export type { AddedToken, TokenizerParts } from "./json.js";
export { TIKTOKEN_ENCODINGS, parseTiktokenRanks, parseGpt2Files } from "./tiktoken.js";
export { regexFromRust, GPT2_PATTERN, CL100K_PATTERN, O200K_PATTERN } from "./patterns.js";
export { BYTE_TO_CHAR, CHAR_TO_BYTE } from "./bytes.js";
export { bertTokenizerJSON, type BertOptions } from "./presets.js";
