import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { TinyLMError } from "../errors.js";
import { Kernels, type Flavor } from "../kernels/module.js";

// Node 20 compiles relaxed SIMD only behind this flag (Node 22, browsers and workerd have it on). It must be set
// before the module is compiled, and NODE_OPTIONS refuses it, so set it here.
setFlagsFromString("--experimental-wasm-relaxed-simd");

/** The package's build/ folder, from src/node (tests, tsx) or dist/src/node (the compiled package). */
export function buildDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, "build", "simd.wasm"))) return join(dir, "build");
  }
  throw new TinyLMError("UNSUPPORTED", "build/simd.wasm is missing: run `npm run build` first");
}

/** Loads the kernels from the package's build/ folder. flavor "auto" picks relaxed SIMD when the runtime has it. */
export function loadKernelsFromFiles(flavor: "auto" | Flavor = "auto"): Promise<Kernels> {
  const dir = buildDir();
  return Kernels.load({
    simd: readFileSync(join(dir, "simd.wasm")),
    relaxed: readFileSync(join(dir, "relaxed.wasm")),
    flavor,
  });
}
