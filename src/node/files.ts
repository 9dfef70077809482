import { open, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { TinyLMError } from "../errors.js";

/**
 * Writes `bytes` to `path` so that a reader sees either the old file or the complete new one, never a half-written
 * file: the bytes go to a temporary file in the same directory, are flushed to disk, and the temporary file is then
 * renamed over `path` (rename within one file system is atomic on POSIX and on Windows' MoveFileEx).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
  try {
    const fh = await open(tmp, "wx");
    try {
      await fh.writeFile(bytes);
      await fh.sync(); // without it a crash after the rename can leave a renamed but empty file on some file systems
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined); // the directory itself may be what failed
    throw new TinyLMError("BAD_FILE", `cannot write ${path}: ${(e as Error).message}`);
  }
}

/** The whole file as bytes; a missing or unreadable file is a TinyLMError BAD_FILE naming the path. */
export async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (e) {
    throw new TinyLMError("BAD_FILE", `cannot read ${path}: ${(e as Error).message}`);
  }
}

/** The whole file as UTF-8 text; a missing or unreadable file is a TinyLMError BAD_FILE naming the path. */
export async function readTextFile(path: string): Promise<string> {
  return new TextDecoder().decode(await readFileBytes(path));
}

/** Parses a file's text; a TinyLMError from `parse` (e.g. "line 3: …") gets the file's name in front. */
export async function parseTextFile<T>(path: string, parse: (text: string) => T): Promise<T> {
  return parseFile(path, (bytes) => parse(new TextDecoder().decode(bytes)));
}

/** Parses a file's bytes; a TinyLMError from `parse` gets the file's name in front. */
export async function parseFile<T>(path: string, parse: (bytes: Uint8Array) => T): Promise<T> {
  const bytes = await readFileBytes(path);
  try {
    return parse(bytes);
  } catch (e) {
    if (e instanceof TinyLMError) throw new TinyLMError(e.code, `${path}: ${e.message}`);
    throw e;
  }
}
