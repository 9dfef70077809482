import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { readGguf } from "../../src/io/gguf.js";
import { saveModel } from "../../src/node/checkpoint.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import { llamaConfig } from "../../src/nn/config.js";
import { Llama } from "../../src/nn/llama.js";
import { Tokenizer } from "../../src/tokenizer/tokenizer.js";
import { BpeTrainer } from "../../src/tokenizer/train/index.js";

const run = promisify(execFile);
const bin = (JSON.parse(readFileSync("package.json", "utf8")) as { bin: { tinylm: string } }).bin.tinylm;

async function tinylm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first (npm test does it through pretest)`);
  try {
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("`tinylm quantize` and `tinylm report`", () => {
  const dir = mkdtempSync(join(tmpdir(), "tinylm-quant-cli-"));
  const text = join(dir, "story.txt"), model = join(dir, "model");

  beforeAll(async () => {
    const lines = Array.from({ length: 300 }, (_, i) => `Once upon a time cat number ${i} sat on the mat and watched ${i % 7} birds.`);
    writeFileSync(text, lines.join("\n"));
    const tok = Tokenizer.fromJSON(await new BpeTrainer({ vocabSize: 320 }).train(lines));
    const k = await loadKernelsFromFiles();
    const m = Llama.init(k, llamaConfig({ vocabSize: tok.vocabSize, dim: 64, nLayers: 2, nHeads: 4, nKvHeads: 2, ffnDim: 128, contextLength: 32 }), { seed: 2, initStd: 0.2 });
    await saveModel(m, model, { tokenizer: tok });
  });

  it("report: the markdown table for F32 and F16, and the same numbers as JSON", async () => {
    const json = join(dir, "report.json");
    const r = await tinylm("report", model, "--types", "f32,f16", "--text", text, "--windows", "4", "--reps", "2", "--json", json);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\| model +\| +size \| +params \| +BPW \| +PPL \| +KLD \| +KLD p99 \| +same top \| +pp32 t\/s \| +tg32 t\/s \|/);
    expect(r.stdout).toMatch(/\| F32 +\| +0\.\d\d MiB \| +\d+\.\d\d K \| 32\.00 \| +\d+\.\d{3} ± \d+\.\d{3} \| +0 ± 0 \| +0 \| 100\.00 ± 0\.00 % \|/);
    expect(r.stdout).toMatch(/\| F16 +\| +0\.\d\d MiB \| +\d+\.\d\d K \| 16\.\d\d \|/);
    expect(r.stdout).toContain("over 4 held-out windows of 32 tokens (128 positions)");
    const report = JSON.parse(readFileSync(json, "utf8"));
    expect(report.rows.map((row: { label: string }) => row.label)).toEqual(["F32", "F16"]);
    expect(report.rows[1].kl.value).toBeGreaterThan(0);
    expect(report.rows[0].pp.runs).toHaveLength(2);
  });

  it("quantize: writes the GGUF at the asked precision, which loads and reports again", async () => {
    const out = join(dir, "model-f16.gguf");
    const q = await tinylm("quantize", model, "--type", "f16", "--out", out);
    expect(q.stderr).toBe("");
    expect(q.code).toBe(0);
    expect(q.stdout).toMatch(/^wrote .*model-f16\.gguf: F16, 0\.\d\d MiB, [\d,]+ parameters/);
    const again = await tinylm("report", out, "--types", "f32", "--text", text, "--windows", "2", "--reps", "1");
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/\| F32 +\|/);
  });

  it("quantize: a mixed recipe (Q4_0, output Q8_0) in llama.cpp's tensor types; report: every default precision", async () => {
    const out = join(dir, "model-q4_0.gguf");
    const q = await tinylm("quantize", model, "--type", "q4_0", "--keep-output", "q8_0", "--out", out);
    expect(q.stderr).toBe("");
    expect(q.stdout).toMatch(/: Q4_0 \+ output Q8_0, 0\.\d\d MiB/);
    const types = new Map(readGguf(readFileSync(out)).tensors.map((t) => [t.name, t.type]));
    expect(types.get("token_embd.weight")).toBe("Q8_0"); // tied embeddings: the output is the embedding
    expect(types.get("blk.0.attn_q.weight")).toBe("Q4_0");
    expect(types.get("blk.1.ffn_down.weight")).toBe("Q4_0");
    expect(types.get("output_norm.weight")).toBe("F32");
    const r = await tinylm("report", model, "--text", text, "--windows", "2", "--reps", "1");
    expect(r.code).toBe(0);
    for (const label of ["F32", "F16", "Q8_0", "Q4_1", "Q4_0"]) expect(r.stdout).toMatch(new RegExp(`\\| ${label} +\\| +0\\.\\d\\d MiB`));
    const again = await tinylm("report", out, "--text", text);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain("already stored at reduced precision");
  });

  it("bad input fails with a message and exit code 1", async () => {
    const badType = await tinylm("quantize", model, "--type", "q5_k", "--out", join(dir, "x.gguf"));
    expect(badType.code).toBe(1);
    expect(badType.stderr).toContain('unknown precision "q5_k"');
    expect(existsSync(join(dir, "x.gguf"))).toBe(false);
    const noOut = await tinylm("quantize", model, "--type", "f16");
    expect(noOut.code).toBe(1);
    expect(noOut.stderr).toContain("--out <file.gguf> is required");
    const noModel = await tinylm("report", join(dir, "nope"));
    expect(noModel.code).toBe(1);
    expect(noModel.stderr).toContain("does not exist");
    const notF32 = await tinylm("report", model, "--types", "f16,f32", "--text", text);
    expect(notF32.code).toBe(1);
    expect(notF32.stderr).toContain("the first precision must be f32");
    const shortText = join(dir, "short.txt");
    writeFileSync(shortText, "a cat");
    const short = await tinylm("report", model, "--types", "f32", "--text", shortText);
    expect(short.code).toBe(1);
    expect(short.stderr).toContain("fewer than one window");
  });
});
