// SGEMM: C = alpha·op(A)·op(B) + beta·C, row-major, leading dimensions in elements.
//   op(A) is (M,K): A is (M,lda≥K), or with transA (K,lda≥M).
//   op(B) is (K,N): B is (K,ldb≥N), or with transB (N,ldb≥K) — the layout of a Linear weight (out, in).
//
// Goto/BLIS structure. For each (KC × NC) block of op(B), pack it into panels of NR = 8 columns; for each
// (MC × KC) block of op(A), pack it (times alpha) into panels of MR = 4 rows; then the 4×8 micro-kernel walks the
// panels. Packing makes the micro-kernel independent of the transposes and turns every load into a unit-stride
// vector load. Performance notes:
// - 4×8 is the largest tile whose 8 accumulators + 2 B vectors + A splats fit the 15 vector registers V8 gives
//   wasm; a 6×8 tile spills and runs at about half the speed.
// - A values are broadcast with load32_splat straight from the packed panel (no shuffles).
// - KC·NR floats of B (8 KB) stay in L1 while the MC·KC block of A (64 KB) streams from L2.
// - M = 1 (generation) skips packing: a row-dot kernel with 4 accumulators per row of B reads the weights once.
//   One row at a time: reading two adjacent rows in one loop defeats the hardware prefetcher on cold weights.
import { madd, hsum } from "./simd";

const MR = 4;
const NR = 8;
const MC = 64;
const KC = 256;
const NC = 512;

/** Floats of workspace sgemm needs (packed A block + packed B block). */
export function sgemm_workspace_floats(): i32 {
  return MC * KC + KC * NC;
}

// The edge-tile scratch: a 4×8 tile computed in full, of which the valid part is added to C.
const edge = memory.data(MR * NR * 4, 16);

// C (M,N) ← alpha·op(A)·op(B) + beta·C; work holds sgemm_workspace_floats() floats.
export function sgemm(
  C: usize, ldc: i32, A: usize, lda: i32, B: usize, ldb: i32,
  M: i32, N: i32, K: i32, transA: bool, transB: bool, alpha: f32, beta: f32, work: usize,
): void {
  if (M == 0 || N == 0) return;
  if (beta != 1) scaleC(C, ldc, M, N, beta);
  if (K == 0 || alpha == 0) return;
  if (M == 1) {
    gemv(C, A, transA ? lda : 1, B, ldb, N, K, transB, alpha, work);
    return;
  }
  const packedA = work;
  const packedB = work + <usize>(MC * KC * 4);
  for (let n0 = 0; n0 < N; n0 += NC) {
    const nc = min(NC, N - n0);
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = min(KC, K - k0);
      packB(packedB, B, ldb, transB, k0, kc, n0, nc);
      for (let m0 = 0; m0 < M; m0 += MC) {
        const mc = min(MC, M - m0);
        packA(packedA, A, lda, transA, m0, mc, k0, kc, alpha);
        for (let j = 0; j < nc; j += NR) {
          const bp = packedB + <usize>(j * kc * 4);
          const nr = min(NR, nc - j);
          for (let i = 0; i < mc; i += MR) {
            const ap = packedA + <usize>(i * kc * 4);
            const c = C + (<usize>(m0 + i) * ldc + n0 + j) * 4;
            const mr = min(MR, mc - i);
            if (mr == MR && nr == NR) micro(kc, ap, bp, c, ldc);
            else microEdge(kc, ap, bp, c, ldc, mr, nr);
          }
        }
      }
    }
  }
}

function scaleC(C: usize, ldc: i32, M: i32, N: i32, beta: f32): void {
  // beta = 0 overwrites: C may hold garbage or NaN that must not leak through 0·NaN (the BLAS convention).
  const vb = f32x4.splat(beta);
  for (let i = 0; i < M; i++) {
    const row = C + <usize>i * ldc * 4;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const p = row + <usize>j * 4;
      v128.store(p, beta == 0 ? f32x4.splat(0) : f32x4.mul(v128.load(p), vb));
    }
    for (; j < N; j++) {
      const p = row + <usize>j * 4;
      store<f32>(p, beta == 0 ? 0 : load<f32>(p) * beta);
    }
  }
}

// packed (ceil(nc/NR), kc, NR) ← op(B)[k0:k0+kc, n0:n0+nc], zero-padded to whole panels.
function packB(dst: usize, B: usize, ldb: i32, transB: bool, k0: i32, kc: i32, n0: i32, nc: i32): void {
  for (let j = 0; j < nc; j += NR) {
    const nr = min(NR, nc - j);
    const panel = dst + <usize>(j * kc * 4);
    let p0 = 0;
    if (!transB && nr == NR) {
      for (; p0 < kc; p0++) {
        const src = B + (<usize>(k0 + p0) * ldb + n0 + j) * 4;
        const d = panel + <usize>(p0 * NR * 4);
        v128.store(d, v128.load(src));
        v128.store(d, v128.load(src, 16), 16);
      }
    } else if (transB && nr == NR) {
      // Rows of B are columns of op(B): transpose 4×4 blocks in registers.
      const ld = <usize>ldb * 4;
      for (; p0 + 4 <= kc; p0 += 4) {
        const src = B + (<usize>(n0 + j) * ldb + k0 + p0) * 4;
        const d = panel + <usize>(p0 * NR * 4);
        transpose4(d, NR * 4, src, ld, f32x4.splat(1));
        transpose4(d + 16, NR * 4, src + 4 * ld, ld, f32x4.splat(1));
      }
    }
    for (let c = 0; c < NR; c++) {
      for (let p = p0; p < kc; p++) {
        let v: f32 = 0;
        if (c < nr) {
          const n = n0 + j + c;
          const k = k0 + p;
          v = transB ? load<f32>((<usize>n * ldb + k) * 4 + B) : load<f32>((<usize>k * ldb + n) * 4 + B);
        }
        store<f32>(panel + <usize>((p * NR + c) * 4), v);
      }
    }
  }
}

// packed (ceil(mc/MR), kc, MR) ← alpha·op(A)[m0:m0+mc, k0:k0+kc], zero-padded to whole panels.
function packA(dst: usize, A: usize, lda: i32, transA: bool, m0: i32, mc: i32, k0: i32, kc: i32, alpha: f32): void {
  for (let i = 0; i < mc; i += MR) {
    const mr = min(MR, mc - i);
    const panel = dst + <usize>(i * kc * 4);
    const va = f32x4.splat(alpha);
    let p0 = 0;
    if (transA && mr == MR) {
      for (; p0 < kc; p0++) {
        const src = A + (<usize>(k0 + p0) * lda + m0 + i) * 4;
        v128.store(panel + <usize>(p0 * MR * 4), f32x4.mul(v128.load(src), va));
      }
    } else if (mr == MR) {
      for (; p0 + 4 <= kc; p0 += 4) {
        transpose4(panel + <usize>(p0 * MR * 4), MR * 4, A + (<usize>(m0 + i) * lda + k0 + p0) * 4, <usize>lda * 4, va);
      }
    }
    for (let r = 0; r < MR; r++) {
      const m = m0 + i + r;
      for (let p = p0; p < kc; p++) {
        const k = k0 + p;
        let v: f32 = 0;
        if (r < mr) v = alpha * (transA ? load<f32>((<usize>k * lda + m) * 4 + A) : load<f32>((<usize>m * lda + k) * 4 + A));
        store<f32>(panel + <usize>((p * MR + r) * 4), v);
      }
    }
  }
}

// dst rows 0..3 (byte stride ds) ← scale · transpose of the 4×4 block at src (byte stride ss).
// @ts-ignore: decorator
@inline function transpose4(dst: usize, ds: usize, src: usize, ss: usize, scale: v128): void {
  const r0 = v128.load(src), r1 = v128.load(src + ss), r2 = v128.load(src + 2 * ss), r3 = v128.load(src + 3 * ss);
  const t0 = i32x4.shuffle(r0, r1, 0, 4, 1, 5), t1 = i32x4.shuffle(r2, r3, 0, 4, 1, 5);
  const t2 = i32x4.shuffle(r0, r1, 2, 6, 3, 7), t3 = i32x4.shuffle(r2, r3, 2, 6, 3, 7);
  v128.store(dst, f32x4.mul(i32x4.shuffle(t0, t1, 0, 1, 4, 5), scale));
  v128.store(dst + ds, f32x4.mul(i32x4.shuffle(t0, t1, 2, 3, 6, 7), scale));
  v128.store(dst + 2 * ds, f32x4.mul(i32x4.shuffle(t2, t3, 0, 1, 4, 5), scale));
  v128.store(dst + 3 * ds, f32x4.mul(i32x4.shuffle(t2, t3, 2, 3, 6, 7), scale));
}

// C[0:4, 0:8] += Apanel (kc,4)ᵀ · Bpanel (kc,8)
// @ts-ignore: decorator
@inline function accumulate(kc: i32, ap: usize, bp: usize, c: usize, ldc: usize): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += MR * 4;
    bp += NR * 4;
  }
  const r1 = c + ldc, r2 = r1 + ldc, r3 = r2 + ldc;
  v128.store(c, f32x4.add(v128.load(c), c00));
  v128.store(c, f32x4.add(v128.load(c, 16), c01), 16);
  v128.store(r1, f32x4.add(v128.load(r1), c10));
  v128.store(r1, f32x4.add(v128.load(r1, 16), c11), 16);
  v128.store(r2, f32x4.add(v128.load(r2), c20));
  v128.store(r2, f32x4.add(v128.load(r2, 16), c21), 16);
  v128.store(r3, f32x4.add(v128.load(r3), c30));
  v128.store(r3, f32x4.add(v128.load(r3, 16), c31), 16);
}

function micro(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32): void {
  accumulate(kc, ap, bp, c, <usize>ldc * 4);
}

// A ragged tile: the full 4×8 product goes to zeroed scratch, then the mr×nr valid part is added to C.
function microEdge(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, mr: i32, nr: i32): void {
  memory.fill(edge, 0, MR * NR * 4);
  accumulate(kc, ap, bp, edge, NR * 4);
  for (let r = 0; r < mr; r++) {
    for (let j = 0; j < nr; j++) {
      const p = c + (<usize>r * ldc + j) * 4;
      store<f32>(p, load<f32>(p) + load<f32>(edge + <usize>((r * NR + j) * 4)));
    }
  }
}

// y (1,N) += alpha·a (1,K)·op(B); a has stride incA; work holds K floats.
function gemv(y: usize, A: usize, incA: i32, B: usize, ldb: i32, N: i32, K: i32, transB: bool, alpha: f32, work: usize): void {
  for (let k = 0; k < K; k++) store<f32>(work + <usize>k * 4, alpha * load<f32>(A + <usize>k * incA * 4));
  if (transB) {
    // Rows n and n + half stream together: two far-apart streams keep two prefetchers busy, adjacent rows
    // would look like one stream with a stride and defeat it.
    const half = N >> 1;
    for (let n = 0; n < half; n++) dot2(y + <usize>n * 4, y + <usize>(n + half) * 4, work, B + <usize>n * ldb * 4, B + <usize>(n + half) * ldb * 4, K);
    if (N & 1) {
      const p = y + <usize>(N - 1) * 4;
      store<f32>(p, load<f32>(p) + dot(work, B + <usize>(N - 1) * ldb * 4, K));
    }
    return;
  }
  for (let k = 0; k < K; k++) {
    const va = v128.load32_splat(work + <usize>k * 4);
    const row = B + <usize>k * ldb * 4;
    let n = 0;
    for (; n + 4 <= N; n += 4) {
      const p = y + <usize>n * 4;
      v128.store(p, madd(va, v128.load(row + <usize>n * 4), v128.load(p)));
    }
    const s = load<f32>(work + <usize>k * 4);
    for (; n < N; n++) {
      const p = y + <usize>n * 4;
      store<f32>(p, load<f32>(p) + s * load<f32>(row + <usize>n * 4));
    }
  }
}

// The reductions below use mul + add even in the relaxed build: each accumulator is a dependency chain, and an add's
// 3-cycle latency beats a fused multiply-add's 4 (measured: 38 vs 35 GFLOP/s at 1×512×2048).
// @ts-ignore: decorator
@inline function mulAdd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}

// y0 += x·r0, y1 += x·r1 over n floats.
function dot2(y0: usize, y1: usize, x: usize, r0: usize, r1: usize, n: i32): void {
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s10 = f32x4.splat(0), s11 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i * 4;
    const x0 = v128.load(x + o), x1 = v128.load(x + o, 16);
    s00 = mulAdd(x0, v128.load(r0 + o), s00);
    s01 = mulAdd(x1, v128.load(r0 + o, 16), s01);
    s10 = mulAdd(x0, v128.load(r1 + o), s10);
    s11 = mulAdd(x1, v128.load(r1 + o, 16), s11);
  }
  let t0 = hsum(f32x4.add(s00, s01)), t1 = hsum(f32x4.add(s10, s11));
  for (; i < n; i++) {
    const xi = load<f32>(x + <usize>i * 4);
    t0 += xi * load<f32>(r0 + <usize>i * 4);
    t1 += xi * load<f32>(r1 + <usize>i * 4);
  }
  store<f32>(y0, load<f32>(y0) + t0);
  store<f32>(y1, load<f32>(y1) + t1);
}

// Σ x[i]·y[i] over n floats, 4 independent accumulators to hide the add latency.
export function dot(x: usize, y: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i * 4;
    s0 = mulAdd(v128.load(x + o), v128.load(y + o), s0);
    s1 = mulAdd(v128.load(x + o, 16), v128.load(y + o, 16), s1);
    s2 = mulAdd(v128.load(x + o, 32), v128.load(y + o, 32), s2);
    s3 = mulAdd(v128.load(x + o, 48), v128.load(y + o, 48), s3);
  }
  for (; i + 4 <= n; i += 4) s0 = mulAdd(v128.load(x + <usize>i * 4), v128.load(y + <usize>i * 4), s0);
  let s = hsum(f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3)));
  for (; i < n; i++) s += load<f32>(x + <usize>i * 4) * load<f32>(y + <usize>i * 4);
  return s;
}
