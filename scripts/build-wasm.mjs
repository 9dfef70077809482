// Builds assembly/ into build/simd.wasm and build/relaxed.wasm (one source, two feature sets).
// Skips a target whose output is newer than every source file, so `npm test` stays fast when nothing changed.
import { readdirSync, statSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import asc from "assemblyscript/asc";

const sources = ["asconfig.json", ...readdirSync("assembly").map((f) => join("assembly", f))];
const newest = Math.max(...sources.map((f) => statSync(f).mtimeMs));
mkdirSync("build", { recursive: true });

for (const target of ["simd", "relaxed"]) {
  const out = join("build", `${target}.wasm`);
  if (existsSync(out) && statSync(out).mtimeMs >= newest) continue;
  const { error, stderr } = await asc.main(["assembly/index.ts", "--config", "asconfig.json", "--target", target]);
  if (error) {
    console.error(stderr.toString());
    console.error(`asc failed for target ${target}: ${error.message}`);
    process.exit(1);
  }
  console.log(`built ${out} (${statSync(out).size} bytes)`);
}
