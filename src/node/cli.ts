#!/usr/bin/env node
// The `tinylm` command. `npm start` runs `tinylm tour`.
import { TinyLMError } from "../errors.js";
import { PPO_HELP, ppoCommand } from "./commands/ppo.js";
import { PRETRAIN_HELP, pretrainCommand } from "./commands/pretrain.js";
import { QUANTIZE_HELP, REPORT_HELP, quantizeCommand, reportCommand } from "./commands/quantize.js";
import { DPO_HELP, REWARD_HELP, dpoCommand, rewardCommand } from "./commands/preference.js";
import { SFT_HELP, sftCommand } from "./commands/sft.js";
import { chapters, runTour } from "./tour/index.js";

const HELP = `tinylm — the life cycle of a small language model, in TypeScript and WebAssembly SIMD

Usage:
  tinylm tour [--quick] [--chapter <id>]...   walk through the life cycle, chapter by chapter, and print a report
  ${PRETRAIN_HELP}
  ${SFT_HELP}
  ${REWARD_HELP}
  ${DPO_HELP}
  ${PPO_HELP}
  ${QUANTIZE_HELP}
  ${REPORT_HELP}
  tinylm help                                 show this text

Options:
  --quick          smaller runs, the whole tour in at most ~2 minutes
  --chapter <id>   run only this chapter (repeatable); chapters: ${chapters.map((c) => c.id).join(", ")}
`;

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command = "help", ...rest] = argv;
  if (command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === "pretrain") {
    await pretrainCommand(rest);
    return 0;
  }
  if (command === "sft") {
    await sftCommand(rest);
    return 0;
  }
  if (command === "reward") {
    await rewardCommand(rest);
    return 0;
  }
  if (command === "dpo") {
    await dpoCommand(rest);
    return 0;
  }
  if (command === "ppo") {
    await ppoCommand(rest);
    return 0;
  }
  if (command === "quantize") {
    await quantizeCommand(rest);
    return 0;
  }
  if (command === "report") {
    await reportCommand(rest);
    return 0;
  }
  if (command !== "tour") return usage(`unknown command "${command}"`);
  let quick = false;
  const only: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "--quick") quick = true;
    else if (arg === "--chapter" && i + 1 < rest.length) only.push(rest[++i]);
    else if (arg.startsWith("--chapter=")) only.push(arg.slice("--chapter=".length));
    else return usage(`unknown option "${arg}"`);
  }
  await runTour({ quick, only: only.length > 0 ? only : undefined });
  return 0;
}

function usage(problem: string): number {
  process.stderr.write(`tinylm: ${problem}\n\n${HELP}`);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof TinyLMError)) throw err;
  process.stderr.write(`tinylm: ${err.message} (${err.code})\n`);
  process.exitCode = 1;
}
