/** Every problem tinylm reports to a caller is a TinyLMError with a stable `code` and a sentence naming the problem. */
export type TinyLMErrorCode =
  | "BAD_SHAPE" // sizes that do not fit together or do not fit the buffers given
  | "BAD_ARGUMENT" // an option or argument outside its allowed values
  | "OUT_OF_RANGE" // an index (token id, class target, offset) outside its range
  | "BAD_FILE" // a truncated, corrupt or foreign file
  | "NAN" // a NaN or infinite value where a finite one is required (loss, gradient norm)
  | "UNSUPPORTED" // the runtime lacks a feature (WebAssembly SIMD) or the input uses one we do not implement
  | "OUT_OF_MEMORY" // the wasm heap cannot grow any further
  | "FREED"; // use of a heap buffer after free()

export class TinyLMError extends Error {
  readonly code: TinyLMErrorCode;
  constructor(code: TinyLMErrorCode, message: string) {
    super(message);
    this.name = "TinyLMError";
    this.code = code;
  }
}

/** Throws a TinyLMError with `code` unless `ok`. */
export function check(ok: boolean, code: TinyLMErrorCode, message: string | (() => string)): asserts ok {
  if (!ok) throw new TinyLMError(code, typeof message === "string" ? message : message());
}
