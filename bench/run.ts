// `npm run bench`: every benchmark in one process, each printing a markdown table.
//   node dist/bench/run.js [--quick] [--only <title words>] [--write]
// --quick: short measurements (well under a minute); --write: also save the tables to bench/results.md.
import { writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { runActivationsBench } from "./activations.js";
import { runBrowserBench } from "./browser.js";
import { type BenchOptions, kernelsFor, tfWasm } from "./common.js";
import { runGemmBench } from "./gemm.js";
import { runQuantBench } from "./quant.js";
import { runQuantModelBench } from "./quant-model.js";
import { runTokenizerBench } from "./tokenizer.js";
import { runTokenizerTrainBench } from "./tokenizer-train.js";
import { runTransformerBench } from "./transformer.js";

interface BenchEntry {
  title: string;
  run(options: BenchOptions): Promise<string>;
}

// Each benchmark module exports one async function returning its markdown; list new ones here.
const benches: BenchEntry[] = [
  { title: "GEMM", run: runGemmBench },
  { title: "Softmax and sigmoid", run: runActivationsBench },
  { title: "Quantized matrix products", run: runQuantBench },
  { title: "Tokenizer", run: runTokenizerBench },
  { title: "Tokenizer training", run: runTokenizerTrainBench },
  { title: "Transformer", run: runTransformerBench },
  { title: "Generation from quantized weights", run: runQuantModelBench },
  { title: "Transformer in the browser (beside llama.cpp wasm)", run: runBrowserBench },
];

async function main(argv: string[]): Promise<void> {
  const quick = argv.includes("--quick");
  const write = argv.includes("--write");
  const onlyAt = argv.indexOf("--only");
  const only = onlyAt >= 0 ? argv[onlyAt + 1]?.toLowerCase() : undefined;
  const unknown = argv.filter((a, i) => !["--quick", "--write", "--only"].includes(a) && !(onlyAt >= 0 && i === onlyAt + 1));
  if (unknown.length > 0 || (onlyAt >= 0 && !only)) {
    process.stderr.write(`usage: node dist/bench/run.js [--quick] [--only <title>] [--write]\n`);
    process.exitCode = 2;
    return;
  }
  const selected = benches.filter((b) => only === undefined || b.title.toLowerCase().includes(only));
  const [simd, relaxed] = [await kernelsFor("simd"), await kernelsFor("relaxed")];
  const tf = await tfWasm();
  const header = [
    `# tinylm benchmarks${quick ? " (quick run: short measurements, noisier)" : ""}`,
    "",
    `- machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} logical cores (all rows single-threaded)`,
    `- runtime: Node ${process.versions.node} (V8 ${process.versions.v8}), ${new Date().toISOString().slice(0, 10)}`,
    `- tinylm kernels: "${simd.flavor}" (WebAssembly SIMD) and "${relaxed.flavor}" (+ relaxed SIMD, fused multiply-add), both loaded in this process`,
    `- peer: @tensorflow/tfjs-core ${tf.version_core} on tfjs-backend-wasm (XNNPACK), non-threaded SIMD binary, 1 thread`,
    "- each number: the best of several interleaved rounds' medians (tinybench); the machine is shared, so read ratios",
  ].join("\n");
  process.stdout.write(`${header}\n`);
  const sections = [header];
  let failed = 0;
  for (const bench of selected) {
    const start = performance.now();
    let table: string;
    try {
      table = await bench.run({ quick });
    } catch (err) {
      // One broken benchmark must not hide the others' tables; the run still exits non-zero.
      failed++;
      table = `FAILED: ${err instanceof Error ? err.message : String(err)}`;
      process.stderr.write(`${bench.title} benchmark failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    }
    const section = `\n## ${bench.title}\n\n${table}\n\n(${((performance.now() - start) / 1000).toFixed(0)} s)`;
    process.stdout.write(`${section}\n`);
    sections.push(section);
    (globalThis as { gc?: () => void }).gc?.(); // run.js is started with --expose-gc: free one bench's garbage before the next
  }
  if (failed > 0) process.exitCode = 1;
  if (write) {
    const out = join(process.cwd(), "bench", "results.md"); // npm runs scripts from the package root
    writeFileSync(out, `${sections.join("\n")}\n`);
    process.stdout.write(`\nwrote ${out}\n`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (err) {
  // Print it here: tfjs-backend-wasm's Emscripten glue rethrows uncaught errors with its whole minified source.
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
}
