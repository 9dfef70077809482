import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);

// The compiled bin, as package.json names it: `npm test` builds first (pretest), so this is what `npm start` runs.
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { bin: { tinylm: string }; scripts: Record<string, string> };
const bin = pkg.bin.tinylm;

async function tinylm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` first (npm test does it through pretest)`);
  try {
    // `tour --quick` promises ≤ 2 minutes on an idle machine; the suite runs test files in parallel on 2 cores.
    const { stdout, stderr } = await run(process.execPath, [bin, ...args], { timeout: 420_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe("the tinylm CLI", () => {
  it("package.json's bin and start script point at what tsc emits for src/node/cli.ts", () => {
    expect(bin).toBe("./dist/src/node/cli.js");
    expect(pkg.scripts.start).toContain("node dist/src/node/cli.js tour");
  });

  it("`tour --quick` exits 0 and ends with the report of every chapter's numbers", async () => {
    const { code, stdout, stderr } = await tinylm("tour", "--quick");
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("== Chapter 1: The seed's neural network ==");
    const report = stdout.slice(stdout.indexOf("== Report =="));
    expect(report).toMatch(/\| seed\s+\| forward ŷ \(worked example\)\s+\| 0\.6471\s+\| 0\.647 \(seed\)/);
    expect(report).toMatch(/\| seed\s+\| error ŷ − target\s+\| 0\.4471\s+\|/);
    expect(report).toMatch(/\| tokenizer\s+\| tokens per word \(held-out\)\s+\| \d\.\d\d/);
    expect(report).toMatch(/\| pretrain\s+\| held-out perplexity\s+\| \d+\.\d\s+\| bigram: \d+\.\d/);
    const sft = /\| sft\s+\| held-out exact match\s+\| ([\d.]+)%\s+\| base: ([\d.]+)%/.exec(report);
    expect(sft, "the SFT chapter reports exact match of base and fine-tuned models").not.toBeNull();
    expect(Number(sft![1])).toBeGreaterThan(Number(sft![2]));
    expect(report).toMatch(/\| reward\s+\| held-out pairwise accuracy\s+\| [\d.]+%\s+\| \d+ pairs; chance 50%/);
    expect(report).toMatch(/\| reward\s+\| DPO held-out exact match\s+\| [\d.]+%\s+\| SFT: [\d.]+%/);
    for (const model of ["base", "SFT", "DPO", "PPO"]) {
      expect(report).toMatch(new RegExp(`\\| ppo\\s+\\| ${model}: exact match, reward\\s+\\| [\\d.]+%, -?\\d+\\.\\d\\d\\s+\\| KL to SFT -?\\d+\\.\\d\\d`));
    }
    expect(report).toMatch(/\| ppo\s+\| SFT: exact match, reward\s+\| [\d.]+%, -?\d+\.\d\d\s+\| KL to SFT 0\.00/);
    // The last chapter: the base model at each precision, bits per weight measured from its GGUF file.
    expect(stdout).toMatch(/== Chapter \d+: Quantization: fewer bits per weight, measured ==/);
    expect(report).toMatch(/\| quantize\s+\| F16: BPW, PPL, same top\s+\| 16\.\d\d, \d+\.\d\d, (9\d|100)\.\d%\s+\| F32: 32, \d+\.\d\d; tg \d+ vs \d+ t\/s/);
    const q4 = /\| quantize\s+\| Q4_0: BPW, PPL, same top\s+\| (\d+\.\d\d), (\d+\.\d\d), (\d+\.\d)%/.exec(report);
    expect(q4, "the Q4_0 row").not.toBeNull();
    expect(Number(q4![1])).toBeLessThan(8); // 4.5 bits in blocks; F32 norms and F16 fallbacks add some
    expect(Number(q4![3])).toBeGreaterThan(50); // most next-token choices survive 4-bit weights
    const steps = /SGD steps until \|ŷ − 0\.2\| < 0\.01\s+\| (\d+)/.exec(report);
    expect(steps, "the seed network reaches the target").not.toBeNull();
    const accuracy = /accuracy on fresh points\s+\| ([\d.]+)%/.exec(report);
    expect(Number(accuracy?.[1])).toBeGreaterThan(80);
    // Not a TTY here: the progress bars print whole lines, never carriage returns.
    expect(stdout).not.toContain("\r");
  }, 430_000);

  it("`help` explains the commands; bad commands and chapters fail with a message", async () => {
    const help = await tinylm("help");
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("tinylm tour [--quick]");
    const unknown = await tinylm("frobnicate");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    const badOption = await tinylm("tour", "--fast");
    expect(badOption.code).toBe(2);
    const badChapter = await tinylm("tour", "--chapter", "nope");
    expect(badChapter.code).toBe(1);
    expect(badChapter.stderr).toContain('no tour chapter "nope"');
  });

  it("`pretrain` trains on the user's text, writes the model files, and resumes from its train state", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tinylm-cli-"));
    const text = join(dir, "story.txt");
    writeFileSync(text, "Once upon a time a little cat sat on the mat and watched the birds.\n\nThe dog ran to the park on a sunny day.\n\n".repeat(200));
    const common = ["pretrain", "--text", text, "--vocab", "300", "--preset", "nano", "--seq", "32", "--eval-every", "20", "--out", join(dir, "out")];
    const first = await tinylm(...common, "--steps", "40");
    expect(first.stderr).toBe("");
    expect(first.code).toBe(0);
    const perplexities = [...first.stdout.matchAll(/perplexity (\d+\.\d)/g)].map((m) => Number(m[1]));
    expect(perplexities).toHaveLength(2);
    expect(perplexities[1]).toBeLessThan(perplexities[0]);
    for (const f of ["model/config.json", "model/model.safetensors", "model/tokenizer.json", "model.gguf", "train-state.safetensors", "loss.svg"]) {
      expect(existsSync(join(dir, "out", f)), f).toBe(true);
    }
    const resumed = await tinylm(...common, "--steps", "60", "--resume", join(dir, "out", "train-state.safetensors"));
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain("step 60: held-out loss");
    const bad = await tinylm("pretrain", "--steps", "0");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--steps needs a positive integer");
  });
});
