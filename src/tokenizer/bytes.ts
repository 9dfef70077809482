// UTF-8 and GPT-2's byte↔character map, shared by the loaders, the BPE model and the decoders.

/** Encodes `s` as UTF-8 into `buf` (which must hold 3·s.length bytes) and returns the byte count. Lone surrogates
 *  become U+FFFD, as TextEncoder does. Hand-written because TextEncoder.encodeInto costs more than the copy for the
 *  short pieces BPE sees. */
export function utf8Into(buf: Uint8Array, s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[n++] = c;
    } else if (c < 0x800) {
      buf[n++] = 0xc0 | (c >> 6);
      buf[n++] = 0x80 | (c & 63);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[n++] = 0xf0 | (c >> 18);
          buf[n++] = 0x80 | ((c >> 12) & 63);
          buf[n++] = 0x80 | ((c >> 6) & 63);
          buf[n++] = 0x80 | (c & 63);
          continue;
        }
        c = 0xfffd;
      }
      buf[n++] = 0xe0 | (c >> 12);
      buf[n++] = 0x80 | ((c >> 6) & 63);
      buf[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

const encoder = new TextEncoder();
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}

/** Decodes UTF-8 the way Rust's from_utf8_lossy and TextDecoder do (maximal subparts → U+FFFD), keeping a BOM. */
export const utf8Decoder = new TextDecoder("utf-8", { ignoreBOM: true });
/** The string for `bytes` if they are valid UTF-8, else undefined. */
export function utf8Strict(bytes: Uint8Array): string | undefined {
  return validUtf8(bytes) ? utf8Decoder.decode(bytes) : undefined;
}

function validUtf8(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    let n: number;
    let min: number;
    if (c < 0x80) { i++; continue; }
    else if (c >= 0xc2 && c <= 0xdf) { n = 1; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { n = 2; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 3; min = 0x10000; }
    else return false;
    if (i + n >= b.length) return false;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

/** GPT-2's byte-level alphabet: printable bytes stand for themselves, the rest are shifted to U+0100 and up so that
 *  every byte is a visible character in vocab files. */
export const BYTE_TO_CHAR: string[] = [];
export const CHAR_TO_BYTE = new Map<string, number>();
{
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    const ch = String.fromCodePoint(printable ? b : 256 + shifted++);
    BYTE_TO_CHAR[b] = ch;
    CHAR_TO_BYTE.set(ch, b);
  }
}

/** Bytes → byte-level string ("Ġhello" for " hello"). */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]];
  return s;
}

// char code → byte for GPT-2's alphabet (every character of it is below U+0144), -1 elsewhere.
const CODE_TO_BYTE = new Int16Array(0x144).fill(-1);
CHAR_TO_BYTE.forEach((b, ch) => (CODE_TO_BYTE[ch.charCodeAt(0)] = b));

/** Byte-level string → bytes, or undefined if some character is outside the 256-character alphabet. */
export function byteLevelToBytes(s: string): Uint8Array | undefined {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const b = c < 0x144 ? CODE_TO_BYTE[c] : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

/** base64 → bytes without atob's Latin-1 string detour (runs in every runtime). */
const B64 = new Int16Array(128).fill(-1);
for (let i = 0; i < 64; i++) B64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;
export function base64Decode(s: string): Uint8Array | undefined {
  let len = s.length;
  if (len % 4 !== 0) return undefined;
  while (len > 0 && s.charCodeAt(len - 1) === 61) len--;
  if (s.length - len > 2) return undefined;
  const out = new Uint8Array((len * 3) >> 2);
  let acc = 0, bits = 0, n = 0;
  for (let i = 0; i < len; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? B64[c] : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 255;
    }
  }
  return out;
}

/** A hash set of byte strings → id, looked up by (bytes, start, end) without building a key string. */
const POLY = 0x01000193;
export class ByteTable {
  private readonly mask: number;
  private readonly slotId: Int32Array;
  private readonly slotHash: Int32Array;
  private readonly data: (Uint8Array | undefined)[] = [];

  constructor(capacity: number) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.mask = cap - 1;
    this.slotId = new Int32Array(cap).fill(-1);
    this.slotHash = new Int32Array(cap);
  }

  /** Σ b[i]·P^(end-1-i) mod 2³²: extendable one byte at either end, which fromRanks uses to hash every split
   *  of a token in linear time. */
  static poly(b: Uint8Array, start: number, end: number): number {
    let h = 0;
    for (let i = start; i < end; i++) h = (Math.imul(h, POLY) + b[i]) | 0;
    return h;
  }
  static mix(poly: number, len: number): number {
    const h = Math.imul(poly ^ Math.imul(len, 0x9e3779b1), 0x85ebca6b);
    return h ^ (h >>> 13);
  }
  static hash(b: Uint8Array, start: number, end: number): number {
    return ByteTable.mix(ByteTable.poly(b, start, end), end - start);
  }

  /** Adds `bytes` as `id`; returns the id already holding these bytes, or -1. */
  add(bytes: Uint8Array, id: number): number {
    const h = ByteTable.hash(bytes, 0, bytes.length);
    let s = h & this.mask;
    for (; this.slotId[s] !== -1; s = (s + 1) & this.mask) {
      if (this.slotHash[s] === h && equal(this.data[this.slotId[s]]!, bytes, 0, bytes.length)) return this.slotId[s];
    }
    this.slotId[s] = id;
    this.slotHash[s] = h;
    this.data[id] = bytes;
    return -1;
  }

  /** The id of bytes b[start..end), or -1; `h` is their hash if the caller has it. */
  find(b: Uint8Array, start: number, end: number, h = ByteTable.hash(b, start, end)): number {
    for (let s = h & this.mask; this.slotId[s] !== -1; s = (s + 1) & this.mask) {
      if (this.slotHash[s] === h && equal(this.data[this.slotId[s]]!, b, start, end)) return this.slotId[s];
    }
    return -1;
  }
}

function equal(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[start + i]) return false;
  return true;
}
