// Unparsed bytes that arrive in pieces (a request head sent byte by byte, pipelined requests, a
// slow response head). Appending copies into spare capacity that doubles as needed, so a head
// trickled one byte per packet costs O(n) copying, not the O(n²) of concatenating on every piece
// (at a 64 KiB head limit that is the difference between 64 KiB and 2 GiB of memcpy per
// connection). The common case — everything in one read — copies nothing.
export class ByteBuffer {
  /** The bytes held (a view; null when empty). */
  bytes: Buffer | null = null;
  /** Our own memory behind `bytes` once a copy was needed; appends fill its spare capacity. */
  #store: Buffer | null = null;

  get length(): number {
    return this.bytes === null ? 0 : this.bytes.length;
  }

  append(chunk: Buffer): Buffer {
    const cur = this.bytes;
    if (cur === null || cur.length === 0) {
      this.#store = null;
      return (this.bytes = chunk);
    }
    const need = cur.length + chunk.length;
    const store = this.#store;
    if (store !== null && cur.buffer === store.buffer) {
      const start = cur.byteOffset - store.byteOffset;
      if (start + need <= store.length) {
        chunk.copy(store, start + cur.length);
        return (this.bytes = store.subarray(start, start + need));
      }
    }
    // allocUnsafeSlow: memory of our own (pooled small buffers share one ArrayBuffer, which would
    // defeat the identity check above).
    const next = Buffer.allocUnsafeSlow(Math.max(need * 2, 1024));
    cur.copy(next, 0);
    chunk.copy(next, cur.length);
    this.#store = next;
    return (this.bytes = next.subarray(0, need));
  }

  /** Drops the first `n` bytes (consumed). */
  consume(n: number): void {
    const cur = this.bytes;
    if (cur === null) return;
    this.bytes = n >= cur.length ? null : cur.subarray(n);
  }

  clear(): void {
    this.bytes = null;
    this.#store = null;
  }
}
