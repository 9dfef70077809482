// Post-processors: the special tokens a model expects around a sequence ([CLS] … [SEP], <bos> …).
import { TinyLMError, check } from "../errors.js";

export interface PostProcessor {
  process(ids: number[]): number[];
  toJSON(): Record<string, unknown>;
}

type TemplatePiece = { SpecialToken: { id: string; type_id: number } } | { Sequence: { id: "A" | "B"; type_id: number } };

export class TemplateProcessor implements PostProcessor {
  private readonly specials: Map<string, number[]>;
  constructor(readonly single: TemplatePiece[], readonly pair: TemplatePiece[], readonly specialTokens: Record<string, { id: string; ids: number[]; tokens: string[] }>) {
    this.specials = new Map(Object.entries(specialTokens).map(([k, v]) => [k, v.ids]));
    for (const p of single) {
      if ("SpecialToken" in p) check(this.specials.has(p.SpecialToken.id), "BAD_FILE", `TemplateProcessing names special token ${JSON.stringify(p.SpecialToken.id)} but does not define it`);
    }
  }
  process(ids: number[]): number[] {
    const out: number[] = [];
    for (const p of this.single) {
      if ("SpecialToken" in p) out.push(...this.specials.get(p.SpecialToken.id)!);
      else for (const id of ids) out.push(id);
    }
    return out;
  }
  toJSON() {
    return { type: "TemplateProcessing", single: this.single, pair: this.pair, special_tokens: this.specialTokens };
  }
}

/** BertProcessing and RobertaProcessing: [cls] ids [sep]. */
export class ClsSepProcessor implements PostProcessor {
  constructor(readonly kind: "BertProcessing" | "RobertaProcessing", readonly cls: [string, number], readonly sep: [string, number], readonly extra: Record<string, unknown> = {}) {}
  process(ids: number[]): number[] {
    return [this.cls[1], ...ids, this.sep[1]];
  }
  toJSON() {
    return { type: this.kind, sep: this.sep, cls: this.cls, ...this.extra };
  }
}

/** ByteLevel only adjusts offsets, which tinylm does not track: the ids pass through. */
export class ByteLevelProcessor implements PostProcessor {
  constructor(readonly json: Record<string, unknown>) {}
  process(ids: number[]): number[] {
    return ids;
  }
  toJSON() {
    return this.json;
  }
}

export class SequenceProcessor implements PostProcessor {
  constructor(readonly steps: PostProcessor[]) {}
  process(ids: number[]): number[] {
    for (const p of this.steps) ids = p.process(ids);
    return ids;
  }
  toJSON() {
    return { type: "Sequence", processors: this.steps.map((p) => p.toJSON()) };
  }
}

function isPair(v: unknown): v is [string, number] {
  return Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && Number.isInteger(v[1]);
}

export function postProcessorFromJSON(j: any): PostProcessor {
  check(j !== null && typeof j === "object", "BAD_FILE", "a post_processor must be an object");
  switch (j.type) {
    case "TemplateProcessing":
      check(Array.isArray(j.single) && j.special_tokens && typeof j.special_tokens === "object", "BAD_FILE", "TemplateProcessing needs single and special_tokens");
      return new TemplateProcessor(j.single, j.pair ?? [], j.special_tokens);
    case "BertProcessing":
    case "RobertaProcessing": {
      check(isPair(j.cls) && isPair(j.sep), "BAD_FILE", `${j.type} needs cls and sep as [token, id]`);
      const { type: _t, cls: _c, sep: _s, ...extra } = j;
      return new ClsSepProcessor(j.type, j.cls, j.sep, extra);
    }
    case "ByteLevel":
      return new ByteLevelProcessor(j);
    case "Sequence":
      check(Array.isArray(j.processors), "BAD_FILE", "a Sequence post_processor needs a processors array");
      return new SequenceProcessor(j.processors.map(postProcessorFromJSON));
    default:
      throw new TinyLMError("UNSUPPORTED", `post_processor type ${JSON.stringify(j.type)} is not supported`);
  }
}
