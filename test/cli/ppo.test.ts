import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { readPromptsJsonl } from "../../src/node/commands/ppo.js";
import { errorOf } from "../helpers.js";

const run = promisify(execFile);

async function tinylm(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await run(process.execPath, ["dist/src/node/cli.js", ...args], { timeout: 60_000 });
    return { code: 0, stderr };
  } catch (e) {
    const err = e as { code: number; stderr: string };
    return { code: err.code, stderr: err.stderr };
  }
}

describe("tinylm ppo's prompts file", () => {
  it("reads {prompt} and {messages} lines, dropping a final assistant answer", () => {
    const prompts = readPromptsJsonl([
      JSON.stringify({ prompt: "What is 2 plus 3?" }),
      "",
      JSON.stringify({ messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello" }] }),
    ].join("\n"));
    expect(prompts).toEqual([
      [{ role: "user", content: "What is 2 plus 3?" }],
      [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }],
    ]);
  });

  it("names the line of a malformed prompt", () => {
    expect(errorOf(() => readPromptsJsonl(`{"prompt": "a"}\n{"completion": "b"}`)).message).toContain("line 2");
    expect(errorOf(() => readPromptsJsonl(`{"prompt": "   "}`)).message).toContain("line 1");
    expect(errorOf(() => readPromptsJsonl(`{"messages": [{"role": "assistant", "content": "x"}]}`)).message).toContain("line 1: no prompt");
    expect(errorOf(() => readPromptsJsonl(`{"messages": [{"role": "robot", "content": "x"}]}`)).code).toBe("BAD_FILE");
    expect(errorOf(() => readPromptsJsonl("\n")).message).toContain("no prompts");
  });

  it("the command fails with a message on missing options and bad files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tinylm-ppo-"));
    const bad = join(dir, "prompts.jsonl");
    writeFileSync(bad, `{"prompt": "ok"}\nnot json\n`);
    const noReward = await tinylm("ppo", "runs/sft", "--prompts", bad);
    expect(noReward.code).toBe(1);
    expect(noReward.stderr).toContain("--reward <dir>");
    const badFile = await tinylm("ppo", "runs/sft", "--reward", dir, "--prompts", bad);
    expect(badFile.code).toBe(1);
    expect(badFile.stderr).toContain("line 2: not valid JSON");
    const badSteps = await tinylm("ppo", "runs/sft", "--reward", dir, "--prompts", bad, "--steps", "0");
    expect(badSteps.stderr).toContain("--steps needs a positive integer");
  });
});
