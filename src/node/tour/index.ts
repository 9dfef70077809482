import { check } from "../../errors.js";
import type { Kernels } from "../../kernels/module.js";
import { loadKernelsFromFiles } from "../kernels.js";
import { ProgressBar, type ProgressStream } from "../progress.js";
import type { Chapter, ReportRow, TourArtifacts } from "./chapter.js";
import { ppoChapter } from "./ppo.js";
import { pretrainingChapter } from "./pretraining.js";
import { quantizationChapter } from "./quantization.js";
import { rewardChapter } from "./reward.js";
import { seedNetwork } from "./seed-network.js";
import { sftChapter } from "./sft.js";
import { tokenizerChapter } from "./tokenizer.js";

export type { Chapter, ReportRow, TourArtifacts, TourContext } from "./chapter.js";

/** The tour's chapters in life-cycle order; each later stage adds its own file and one entry here. */
export const chapters: readonly Chapter[] = [seedNetwork, tokenizerChapter, pretrainingChapter, sftChapter, rewardChapter, ppoChapter, quantizationChapter];

export interface TourOptions {
  /** Smaller runs (≤ 2 minutes for the whole tour). Default false. */
  quick?: boolean;
  /** Run only these chapter ids. Default: all. */
  only?: readonly string[];
  /** Default process.stdout. */
  stream?: ProgressStream;
  /** Default: loaded from build/ with the best flavor the runtime supports. */
  kernels?: Kernels;
  /** Where chapters write files. Default "runs/tour". */
  outDir?: string;
}

export interface ChapterResult {
  chapter: Chapter;
  rows: ReportRow[];
  seconds: number;
}

/** Runs the tour's chapters in order, then prints the final report; returns each chapter's rows. */
export async function runTour(options: TourOptions = {}): Promise<ChapterResult[]> {
  const stream = options.stream ?? process.stdout;
  const quick = options.quick ?? false;
  const selected = options.only === undefined ? chapters : chapters.filter((c) => options.only!.includes(c.id));
  for (const id of options.only ?? []) {
    check(chapters.some((c) => c.id === id), "BAD_ARGUMENT", `no tour chapter "${id}"; the chapters are ${chapters.map((c) => c.id).join(", ")}`);
  }
  const kernels = options.kernels ?? (await loadKernelsFromFiles("auto"));
  const say = (line = ""): void => void stream.write(`${line}\n`);
  say(`tinylm tour${quick ? " (quick)" : ""}: ${selected.length} chapter${selected.length === 1 ? "" : "s"}, ` +
    `${kernels.flavor === "relaxed" ? "relaxed SIMD (fused multiply-add)" : "WebAssembly SIMD"} kernels, Node ${process.versions.node}`);
  const results: ChapterResult[] = [];
  const artifacts: TourArtifacts = { outDir: options.outDir ?? "runs/tour" };
  for (const chapter of selected) {
    say();
    say(`== Chapter ${chapters.indexOf(chapter) + 1}: ${chapter.title} ==`);
    say();
    const start = performance.now();
    const rows = await chapter.run({
      kernels,
      quick,
      log: (line = "") => say(line === "" ? "" : `  ${line}`),
      progress: (label, total) => new ProgressBar(label, total, { stream }),
      artifacts,
    });
    results.push({ chapter, rows, seconds: (performance.now() - start) / 1000 });
  }
  say(formatReport(results));
  return results;
}

/** The final report: every chapter's key numbers in one table. */
export function formatReport(results: readonly ChapterResult[]): string {
  const table: string[][] = [["chapter", "metric", "value", "reference"]];
  for (const { chapter, rows, seconds } of results) {
    for (const row of rows) table.push([chapter.id, row.metric, row.value, row.reference ?? ""]);
    table.push([chapter.id, "time", `${seconds.toFixed(1)} s`, ""]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  const line = (r: string[]): string => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(" | ")} |`;
  return ["== Report ==", "", line(table[0]), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...table.slice(1).map(line)].join("\n");
}
