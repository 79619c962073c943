// CRC-32C (Castagnoli), the checksum the PROXY v2 PP2_TYPE_CRC32C TLV carries.
//
// Why our own: node:zlib's crc32() is the IEEE polynomial, not Castagnoli, and the npm
// packages for it are native or large. A PROXY header is at most a few hundred bytes
// (PROXY_HEADER_MAX_BYTES caps it at ~2 KB), so the byte-at-a-time table method is plenty:
// the cost is one table lookup per header byte, once per connection.
//
// Parameters (RFC 4960 Appendix B, referenced by proxy-protocol.txt §2.2.3): reflected
// polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF.
// Check value: crc32c("123456789") === 0xE3069283.

// Built at the first checksum, not at import: its 2,048 loop turns are enough for V8 to compile the
// loop with Maglev and TurboFan (OSR), which at start maps ~2 MB more of the node binary's code
// into every process, PROXY v2 or not (issue 18 §11).
let TABLE: Uint32Array | null = null;

function table(): Uint32Array {
  if (TABLE !== null) return TABLE;
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return (TABLE = t);
}

/** The running (not yet finalised) state to start a computation with. */
export const CRC32C_INIT = 0xffffffff;

/** Feeds bytes [start, end) of `data` into a running CRC state; returns the new state. */
export function crc32cUpdate(state: number, data: Uint8Array, start = 0, end = data.length): number {
  const t = table();
  let c = state;
  for (let i = start; i < end; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c;
}

/** Feeds `count` zero bytes into a running CRC state (the CRC32C TLV's value while verifying). */
export function crc32cZeros(state: number, count: number): number {
  const t = table();
  let c = state;
  for (let i = 0; i < count; i++) c = t[c & 0xff]! ^ (c >>> 8);
  return c;
}

/** Turns a running state into the checksum value (unsigned 32-bit). */
export function crc32cFinal(state: number): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** One-shot CRC-32C of `data`. */
export function crc32c(data: Uint8Array): number {
  return crc32cFinal(crc32cUpdate(CRC32C_INIT, data));
}
