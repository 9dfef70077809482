import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// llama.cpp's source as node-llama-cpp ships it (a git bundle), for tests that need files or code nobody here wrote:
// the ggml-vocab-*.gguf files and gguf-py. Read with the git CLI; tests skip themselves when either is missing.
const bundle = join(import.meta.dirname, "../../node_modules/node-llama-cpp/llama/gitRelease.bundle");

function hasGit(): boolean {
  try {
    execFileSync("git", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

export const bundleAvailable = existsSync(bundle) && hasGit();

let repo: string | undefined;
function gitRepo(): string {
  if (repo === undefined) {
    repo = mkdtempSync(join(tmpdir(), "tinylm-llama-bundle-"));
    execFileSync("git", ["init", "--bare", "-q", repo]);
    execFileSync("git", ["-C", repo, "fetch", "-q", bundle, "HEAD"]);
  }
  return repo;
}

/** Paths under `dir` in the bundle's tree. */
export function bundleList(dir: string): string[] {
  return execFileSync("git", ["-C", gitRepo(), "ls-tree", "--name-only", "FETCH_HEAD", `${dir}/`], { encoding: "utf8" }).split("\n").filter(Boolean);
}

/** One file of the bundle's tree. */
export function bundleBlob(path: string): Uint8Array {
  const buf = execFileSync("git", ["-C", gitRepo(), "cat-file", "blob", `FETCH_HEAD:${path}`], { maxBuffer: 1 << 28 });
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Extracts a directory of the bundle's tree into `dest` (as dest/<dir>). */
export function bundleExtract(dir: string, dest: string): void {
  const tar = join(dest, "extract.tar");
  execFileSync("git", ["-C", gitRepo(), "archive", "--format=tar", "-o", tar, "FETCH_HEAD", dir]);
  execFileSync("tar", ["-xf", tar, "-C", dest]);
}

export function bundleCleanup(): void {
  if (repo !== undefined) rmSync(repo, { recursive: true, force: true });
  repo = undefined;
}
