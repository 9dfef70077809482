// Checks shared by the kernel wrappers (messages are built lazily: the wrappers sit on hot paths and a passing check
// should cost a comparison, not a string): every argument is a live array of this Kernels' heap with the right element
// type and length, sizes are integers, and arrays either are the same block or do not overlap at all (a kernel that
// walks rows reads an input row after an overlapping output row was written, so a partial overlap gives wrong numbers
// without any error).
import { TinyLMError, check } from "../errors.js";
import { HeapArray } from "./heap.js";
import type { Kernels } from "./module.js";

/** Throws BAD_SHAPE unless `v` is a non-negative integer below 2^31 (the kernels take i32 sizes). */
export function size(fn: string, name: string, v: unknown): number {
  check(typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 31, "BAD_SHAPE",
    () => `${fn}: ${name} must be a non-negative integer, got ${String(v)}`);
  return v;
}

/** Throws unless `a` is a live array of `k`'s heap, of element type `kind`, holding exactly `length` elements (any
 * length when `length` is undefined). Returns its pointer. */
export function array(k: Kernels, fn: string, name: string, a: unknown, kind: "f32" | "i32", length?: number): number {
  check(a instanceof HeapArray, "BAD_ARGUMENT", () => `${fn}: ${name} must be a HeapArray (k.f32(...) or k.i32(...))`);
  check(a.heap === k.heap, "BAD_ARGUMENT", () => `${fn}: ${name} belongs to another Kernels instance`);
  check(a.kind === kind, "BAD_ARGUMENT", () => `${fn}: ${name} must be an ${kind} array, got ${a.kind}`);
  check(length === undefined || a.length === length, "BAD_SHAPE", () => `${fn}: ${name} must hold ${length} elements, it holds ${a.length}`);
  return a.ptr;
}

/** Throws BAD_ARGUMENT if any two of the named arrays overlap without being the very same block. */
export function disjoint(fn: string, arrays: Record<string, HeapArray<"f32" | "i32"> | undefined>): void {
  const names = Object.keys(arrays);
  for (let i = 0; i < names.length; i++) {
    const a = arrays[names[i]];
    if (a === undefined || a.length === 0) continue;
    const pa = a.ptr;
    for (let j = i + 1; j < names.length; j++) {
      const b = arrays[names[j]];
      if (b === undefined || b.length === 0) continue;
      const pb = b.ptr;
      if (pa === pb && a.length === b.length) continue;
      if (pa < pb + b.length * 4 && pb < pa + a.length * 4) {
        throw new TinyLMError("BAD_ARGUMENT", `${fn}: ${names[i]} and ${names[j]} overlap partially; pass the same array or separate ones`);
      }
    }
  }
}

/** Throws BAD_ARGUMENT if `a` shares any memory with one of `others` (for arrays a kernel writes at other indices than
 *  it reads, such as a per-row result next to a row-major matrix, where even the very same block would be wrong). */
export function separate(fn: string, name: string, a: HeapArray<"f32" | "i32">, others: Record<string, HeapArray<"f32" | "i32"> | undefined>): void {
  if (a.length === 0) return;
  const pa = a.ptr;
  for (const nb in others) {
    const b = others[nb];
    if (b === undefined || b.length === 0) continue;
    const pb = b.ptr;
    if (pa < pb + b.length * 4 && pb < pa + a.length * 4) throw new TinyLMError("BAD_ARGUMENT", `${fn}: ${name} and ${nb} must not share memory`);
  }
}

/** Throws BAD_ARGUMENT unless `v` is a finite number (and, when given, within [lo, hi]). */
export function finite(fn: string, name: string, v: unknown, lo = -Infinity, hi = Infinity): number {
  check(typeof v === "number" && Number.isFinite(v) && v >= lo && v <= hi, "BAD_ARGUMENT",
    () => `${fn}: ${name} must be a finite number${lo > -Infinity || hi < Infinity ? ` in [${lo}, ${hi}]` : ""}, got ${String(v)}`);
  return v;
}

/** Throws BAD_ARGUMENT unless `opts` is undefined or a plain object. */
export function options<T extends object>(fn: string, opts: T | undefined): Partial<T> {
  check(opts === undefined || (typeof opts === "object" && opts !== null), "BAD_ARGUMENT", () => `${fn}: options must be an object`);
  return opts ?? {};
}
