import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { QuantizedMatrix } from "../../src/kernels/quant.js";
import { loadKernelsFromFiles } from "../../src/node/kernels.js";
import type { QuantType } from "../../src/quant/formats.js";
import { bundleAvailable, bundleCleanup, bundleExtract } from "../io/llama-cpp-bundle.js";
import { adversarialBlocks, lcg } from "./reference.js";

// gguf-py (llama.cpp's own Python package, from the git bundle node-llama-cpp ships) as a second, independent
// reference: its numpy quantizers reproduce ggml's quantize_row_*_ref, so llama-quantize --pure writes the same bytes.
// Needs python3 with numpy; skipped otherwise.
const pythonReady = (() => {
  try {
    execFileSync("python3", ["-c", "import numpy"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

const dir = mkdtempSync(join(tmpdir(), "tinylm-quant-gguf-py-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  bundleCleanup();
});

describe.skipIf(!bundleAvailable || !pythonReady)("quantization against gguf-py (llama.cpp's Python quantizers)", () => {
  it("random and adversarial tensors: byte-identical Q8_0, Q4_0 and Q4_1 in both builds", async () => {
    bundleExtract("gguf-py", dir);
    const cols = 32;
    const x = Float32Array.from([...lcg(32 * 512, 51, -2, 2), ...lcg(32 * 64, 52, -1e-5, 1e-5), ...adversarialBlocks()]);
    const file = join(dir, "x.f32");
    writeFileSync(file, new Uint8Array(x.buffer));
    const out = execFileSync("python3", [join(import.meta.dirname, "gguf_py_quant.py"), file, String(cols)],
      { env: { ...process.env, PYTHONPATH: join(dir, "gguf-py") }, encoding: "utf8", maxBuffer: 1 << 26 });
    const want = JSON.parse(out) as Record<QuantType, string>;
    for (const flavor of ["simd", "relaxed"] as const) {
      const k = await loadKernelsFromFiles(flavor);
      for (const type of ["Q8_0", "Q4_0", "Q4_1"] as const) {
        const m = QuantizedMatrix.fromF32(k, type, x, x.length / cols, cols);
        const got = Buffer.from(m.toBytes()).toString("hex");
        m.free();
        const bb = { Q8_0: 34, Q4_0: 18, Q4_1: 20 }[type] * 2;
        expect(got.length).toBe(want[type].length);
        for (let b = 0; b < got.length / bb; b++) {
          const g = got.slice(b * bb, (b + 1) * bb), w = want[type].slice(b * bb, (b + 1) * bb);
          const block = x.subarray(b * 32, b * 32 + 32);
          if (g === w || signedZeroBlock(type, block, g, w)) continue;
          expect.fail(`${flavor} ${type}: block ${b} differs from gguf-py\n  got  ${g}\n  want ${w}\n  x = [${Array.from(block, (v) => Object.is(v, -0) ? "-0" : v).join(", ")}]`);
        }
      }
    }
  });
});

// Where gguf-py and ggml's C code disagree: the sign of a zero scale or minimum when the block's extreme is a zero and
// the block holds −0. C keeps the first of equal extremes, starting from max = +0 for Q4_0 (so an all-zero block gets
// d = +0/−8 = −0) and from the first element for Q4_1's min and max; numpy's argmax / min / max pick other zeros.
// tinylm follows C (llama-quantize's bytes; test/quant/quant.test.ts checks them against the C rules), so these
// blocks may differ from gguf-py in the sign bit of d or m only.
function signedZeroBlock(type: QuantType, block: Float32Array, got: string, want: string): boolean {
  const zeroExtreme = type === "Q4_0" ? block.every((v) => v === 0) : Math.min(...block) === 0 || Math.max(...block) === 0;
  if (type === "Q8_0" || !zeroExtreme || !block.some((v) => Object.is(v, -0))) return false;
  const head = type === "Q4_0" ? 4 : 8; // hex digits of the f16 fields
  const unsign = (h: string) => h.slice(0, head).replace(/(..)(..)/g, (_, lo, hi) => lo + (parseInt(hi, 16) & 0x7f).toString(16).padStart(2, "0"));
  return got.slice(head) === want.slice(head) && unsign(got) === unsign(want);
}
