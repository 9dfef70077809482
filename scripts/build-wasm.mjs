// Builds assembly/ into build/simd.wasm and build/relaxed.wasm (one source, two feature sets).
// Skips a target whose recorded source hash matches the sources, so `npm test` stays fast when nothing changed.
// A hash (taken before compiling) rather than mtimes: an edit made while a build runs must not be mistaken for built.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import asc from "assemblyscript/asc";

const sources = ["asconfig.json", ...readdirSync("assembly").sort().map((f) => join("assembly", f))];
const hash = createHash("sha256");
for (const f of sources) hash.update(f).update(readFileSync(f));
const digest = hash.digest("hex");
mkdirSync("build", { recursive: true });

for (const target of ["simd", "relaxed"]) {
  const out = join("build", `${target}.wasm`);
  const stamp = join("build", `${target}.sha256`);
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, "utf8") === digest) continue;
  const { error, stderr } = await asc.main(["assembly/index.ts", "--config", "asconfig.json", "--target", target]);
  if (error) {
    console.error(stderr.toString());
    console.error(`asc failed for target ${target}: ${error.message}`);
    process.exit(1);
  }
  writeFileSync(stamp, digest);
  console.log(`built ${out}`);
}
