import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { TinyLMError } from "../../src/errors.js";
import { readFileBytes, writeFileAtomic } from "../../src/node/files.js";

const dir = mkdtempSync(join(tmpdir(), "tinylm-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("writeFileAtomic / readFileBytes", () => {
  it("writes, replaces and reads back, leaving no temporary file behind", async () => {
    const path = join(dir, "model.safetensors");
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...readFileSync(path)]).toEqual([1, 2, 3]);
    await writeFileAtomic(path, new Uint8Array([9, 8]));
    expect([...(await readFileBytes(path))]).toEqual([9, 8]);
    expect(readdirSync(dir)).toEqual(["model.safetensors"]);
  });

  it("keeps the previous file when the write fails, and reports a TinyLMError", async () => {
    const path = join(dir, "keep.bin");
    writeFileSync(path, new Uint8Array([5]));
    // A detached buffer cannot be written: the failure happens after the temporary file was created.
    const bytes = new Uint8Array(8);
    structuredClone(bytes.buffer, { transfer: [bytes.buffer] });
    await expect(writeFileAtomic(path, bytes)).rejects.toThrow(TinyLMError);
    expect([...readFileSync(path)]).toEqual([5]);
    expect(readdirSync(dir).filter((f) => f.includes("keep"))).toEqual(["keep.bin"]);
    await expect(writeFileAtomic(join(dir, "no", "such", "dir.bin"), new Uint8Array(1))).rejects.toThrow(TinyLMError);
  });

  it("reports a missing file as BAD_FILE naming the path", async () => {
    await expect(readFileBytes(join(dir, "missing.gguf"))).rejects.toMatchObject({ code: "BAD_FILE", message: expect.stringContaining("missing.gguf") });
  });
});
