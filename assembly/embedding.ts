// Token embedding lookup and its gradient. Token ids are validated on the TypeScript side (an id outside the
// vocabulary would read or write outside the table).

// out (N, C) ← rows ids[n] of wte (V, C); ids (N,) int32.
export function embedding_forward(out: usize, ids: usize, wte: usize, N: i32, C: i32): void {
  const rowBytes = <usize>C * 4;
  for (let n = 0; n < N; n++) {
    const id = load<i32>(ids + <usize>n * 4);
    memory.copy(out + <usize>n * rowBytes, wte + <usize>id * rowBytes, rowBytes);
  }
}

// dwte (V, C) += dout (N, C) scattered to rows ids[n]; a token that occurs twice gets both rows added.
export function embedding_backward(dwte: usize, dout: usize, ids: usize, N: i32, C: i32): void {
  const rowBytes = <usize>C * 4;
  for (let n = 0; n < N; n++) {
    const dst = dwte + <usize>load<i32>(ids + <usize>n * 4) * rowBytes;
    const src = dout + <usize>n * rowBytes;
    let j = 0;
    for (; j + 4 <= C; j += 4) {
      const o = <usize>j * 4;
      v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
    }
    for (; j < C; j++) {
      const o = <usize>j * 4;
      store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
    }
  }
}
