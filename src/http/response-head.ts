// A server's response head, checked and filtered on its bytes: the status line and every field
// line are validated as message-head.ts does for requests (RFC 9112: CRLF only, no obs-fold, token
// names, no control characters), the framing fields are read (Content-Length, Transfer-Encoding,
// Connection, Keep-Alive), hop-by-hop lines are dropped, and the lines to forward are kept as byte
// ranges of the received buffer. The client's head is then one copy of those ranges plus the
// proxy's own lines — no string per field and no array of pairs per response (the allocation rate
// drives the GC pauses that show in p99 latency: bench S7).
//
// The fields the proxy frames with are never kept ranges: Content-Length is written by the proxy
// as the number it frames the body by (RFC 9112 §6.3; `0005` reaches no client verbatim), and
// Transfer-Encoding, Connection, Keep-Alive and Via are the proxy's own lines (http-proxy.ts). So
// a server's `Connection: content-length` cannot strip the framing of a response the proxy
// forwards by that length (issue 13 row 2: the client read the next pipelined response as body).
// Connection options name fields of the hop they arrived on (RFC 9110 §7.6.1); the client hop's
// framing is the proxy's, stated by the proxy, so keeping it is right and no close is needed.
//
// One ResponseHead per server connection, reused for every response.

import { fieldValueByte, MAX_FIELDS, TCHAR } from './message-head.ts';
import { HOP_BY_HOP } from './headers.ts';

// Names the head pass acts on, lowercase bytes. The rest of the hop-by-hop set (headers.ts) is
// dropped as it is.
const CONTENT_LENGTH = Buffer.from('content-length');
const TRANSFER_ENCODING = Buffer.from('transfer-encoding');
const CONNECTION = Buffer.from('connection');
const KEEP_ALIVE = Buffer.from('keep-alive');
const VIA = Buffer.from('via');
const UPGRADE = Buffer.from('upgrade');
const DROPPED = [...HOP_BY_HOP].filter((n) => n !== 'connection' && n !== 'keep-alive' && n !== 'transfer-encoding').map((n) => Buffer.from(n));
const CLOSE = Buffer.from('close');
const CHUNKED = Buffer.from('chunked');
const KEEP_ALIVE_TIMEOUT = /(?:^|[\s,;])timeout\s*=\s*(\d+)/i;

const CL_NAME = 'content-length: ';

/** `buf[s, e)` equals `lower` ignoring ASCII case (lower holds lowercase letters and '-'). */
function sameName(buf: Buffer, s: number, e: number, lower: Buffer): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if ((buf[s + i]! | 0x20) !== lower[i]) return false;
  return true;
}

export class ResponseHead {
  status = 0;
  minor: 0 | 1 = 1;
  /** Content-Length, -1 when absent, -2 when malformed, conflicting, or beside Transfer-Encoding. */
  contentLength = -1;
  transferEncoding = false;
  /** chunked is the final transfer coding. */
  chunked = false;
  close = false;
  keepAlive = false;
  /** Keep-Alive: timeout=N from the server, in ms (0 = not given). */
  keepAliveTimeoutMs = 0;
  /** Via values received, joined (null when none: the common case). */
  via: string | null = null;
  /** Upgrade values received, joined (null when none): what a 101 switches to (dropped from the client's head as hop-by-hop). */
  upgrade: string | null = null;
  /** Field names the Connection header lists (lowercase, close and keep-alive aside), or null: dropped from the head, and from a chunked body's trailers. */
  connectionNames: Set<string> | null = null;
  error: string | null = null;
  /** The bytes scanned; the ranges below point into it until the next scan. */
  #buf: Buffer = Buffer.alloc(0);
  #reasonStart = 0;
  #reasonEnd = 0;
  /** Kept field lines, flat [start, end) pairs including their CRLF. */
  readonly #keep: number[] = [];
  #keptBytes = 0;

  /** Scans the head in `buf[start, end)` (`end` just past its CRLFCRLF). False with `error` set when malformed. */
  scan(buf: Buffer, start: number, end: number): boolean {
    this.#buf = buf;
    this.contentLength = -1;
    this.transferEncoding = false;
    this.chunked = false;
    this.close = false;
    this.keepAlive = false;
    this.keepAliveTimeoutMs = 0;
    this.via = null;
    this.upgrade = null;
    this.connectionNames = null;
    this.error = null;
    this.#keep.length = 0;
    this.#keptBytes = 0;
    const eol = buf.indexOf(13, start);
    if (!this.#statusLine(buf, start, eol)) return false;
    let fields = 0;
    let pos = eol + 2;
    while (pos < end - 2) {
      const lineEnd = buf.indexOf(13, pos);
      if (buf[lineEnd + 1] !== 10) return this.#fail('bare CR in a field line');
      if (++fields > MAX_FIELDS) return this.#fail('too many header fields');
      const c0 = buf[pos]!;
      if (c0 === 32 || c0 === 9) return this.#fail('obs-fold or whitespace before a field name');
      let colon = pos;
      while (colon < lineEnd && TCHAR[buf[colon]!] === 1) colon++;
      if (colon === pos || colon === lineEnd || buf[colon] !== 58) return this.#fail('malformed field name');
      let vs = colon + 1;
      for (let i = vs; i < lineEnd; i++) if (!fieldValueByte(buf[i]!)) return this.#fail('control character in a field value');
      let ve = lineEnd;
      while (vs < ve && (buf[vs] === 32 || buf[vs] === 9)) vs++;
      while (ve > vs && (buf[ve - 1] === 32 || buf[ve - 1] === 9)) ve--;
      const next = lineEnd + 2;
      const len = colon - pos;
      if (len === 14 && sameName(buf, pos, colon, CONTENT_LENGTH)) {
        this.#contentLength(buf, vs, ve); // written by writeTo as the number, once
      } else if (len === 17 && sameName(buf, pos, colon, TRANSFER_ENCODING)) {
        this.transferEncoding = true;
        this.chunked = lastTokenIs(buf, vs, ve, CHUNKED);
      } else if (len === 10 && sameName(buf, pos, colon, CONNECTION)) {
        this.#connection(buf, vs, ve);
      } else if (len === 10 && sameName(buf, pos, colon, KEEP_ALIVE)) {
        const m = KEEP_ALIVE_TIMEOUT.exec(buf.toString('latin1', vs, ve));
        if (m !== null) this.keepAliveTimeoutMs = Number(m[1]) * 1000;
      } else if (len === 3 && sameName(buf, pos, colon, VIA)) {
        const v = buf.toString('latin1', vs, ve);
        this.via = this.via === null ? v : `${this.via}, ${v}`;
      } else if (len === 7 && sameName(buf, pos, colon, UPGRADE)) {
        const v = buf.toString('latin1', vs, ve); // dropped below as hop-by-hop; kept for a 101
        this.upgrade = this.upgrade === null ? v : `${this.upgrade}, ${v}`;
      } else if (!isDropped(buf, pos, colon)) this.#keepLine(pos, next);
      pos = next;
    }
    // Both framings at once: not trusted with the connection (RFC 9112 §6.3 lets TE win; we refuse).
    if (this.transferEncoding && this.contentLength !== -1) this.contentLength = -2;
    if (this.connectionNames !== null) this.#dropNamed(this.connectionNames);
    return true;
  }

  /** Bytes the client's head takes: status line, kept lines, then `extra` (the proxy's lines and the final CRLF). */
  byteLength(extra: string): number {
    return 9 + 3 + 1 + (this.#reasonEnd - this.#reasonStart) + 2 + this.#keptBytes + this.#contentLengthBytes() + extra.length;
  }

  /**
   * The `content-length: N` line the client gets: only for a valid length (-1 absent; -2 only
   * reaches writeTo for a 1xx, HEAD, 204 or 304, which have no body whatever it says, so a
   * malformed value is not passed on).
   */
  #contentLengthBytes(): number {
    const n = this.contentLength;
    return n < 0 ? 0 : CL_NAME.length + digits(n) + 2;
  }

  /** Writes the client's head (always HTTP/1.1) into `out` at `at`; returns the offset after it. */
  writeTo(out: Buffer, at: number, extra: string): number {
    let o = at + out.write('HTTP/1.1 ', at, 'latin1');
    out[o++] = 48 + Math.floor(this.status / 100);
    out[o++] = 48 + (Math.floor(this.status / 10) % 10);
    out[o++] = 48 + (this.status % 10);
    out[o++] = 32;
    const buf = this.#buf;
    o += buf.copy(out, o, this.#reasonStart, this.#reasonEnd);
    out[o++] = 13;
    out[o++] = 10;
    const keep = this.#keep;
    for (let i = 0; i < keep.length; i += 2) o += buf.copy(out, o, keep[i]!, keep[i + 1]!);
    let n = this.contentLength;
    if (n >= 0) {
      o += out.write(CL_NAME, o, 'latin1');
      // Digits written right to left straight into the buffer: no string per response.
      const len = digits(n);
      for (let i = o + len - 1; i >= o; i--) {
        out[i] = 48 + (n % 10);
        n = Math.floor(n / 10);
      }
      o += len;
      out[o++] = 13;
      out[o++] = 10;
    }
    return o + out.write(extra, o, 'latin1');
  }

  // HTTP/1.x SP 3DIGIT [SP reason] — some servers omit the SP before an empty reason.
  #statusLine(buf: Buffer, s: number, eol: number): boolean {
    if (eol < 0 || buf[eol + 1] !== 10) return this.#fail('malformed status line');
    if (eol - s < 12) return this.#fail('malformed status line');
    if (!(buf[s] === 72 && buf[s + 1] === 84 && buf[s + 2] === 84 && buf[s + 3] === 80 && buf[s + 4] === 47 && buf[s + 5] === 49 && buf[s + 6] === 46)) return this.#fail('malformed status line');
    const m = buf[s + 7]!;
    if ((m !== 48 && m !== 49) || buf[s + 8] !== 32) return this.#fail('malformed status line');
    this.minor = m === 49 ? 1 : 0;
    const d0 = buf[s + 9]! - 48;
    const d1 = buf[s + 10]! - 48;
    const d2 = buf[s + 11]! - 48;
    if (!(d0 >= 1 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || (eol > s + 12 && buf[s + 12] !== 32)) return this.#fail('malformed status code');
    this.status = d0 * 100 + d1 * 10 + d2;
    this.#reasonStart = Math.min(s + 13, eol);
    this.#reasonEnd = eol;
    for (let i = this.#reasonStart; i < eol; i++) if (!fieldValueByte(buf[i]!)) return this.#fail('malformed reason phrase');
    return true;
  }

  #contentLength(buf: Buffer, vs: number, ve: number): void {
    let n = 0;
    for (let i = vs; i < ve; i++) {
      const d = buf[i]! - 48;
      n = n * 10 + d;
      // Checked after the step: 2^53 itself (9007199254740992) passed a check made before it.
      if (d < 0 || d > 9 || n > Number.MAX_SAFE_INTEGER) {
        this.contentLength = -2;
        return;
      }
    }
    if (ve === vs) n = -2;
    this.contentLength = this.contentLength === -1 || this.contentLength === n ? n : -2;
  }

  /** Connection options: close / keep-alive set flags; other names are fields to drop (rare: strings). */
  #connection(buf: Buffer, vs: number, ve: number): void {
    let s = vs;
    while (s <= ve) {
      let e = buf.indexOf(44, s);
      if (e < 0 || e > ve) e = ve;
      let a = s;
      let b = e;
      while (a < b && (buf[a] === 32 || buf[a] === 9)) a++;
      while (b > a && (buf[b - 1] === 32 || buf[b - 1] === 9)) b--;
      if (b - a === 5 && sameName(buf, a, b, CLOSE)) this.close = true;
      else if (b - a === 10 && sameName(buf, a, b, KEEP_ALIVE)) this.keepAlive = true;
      else if (b > a) (this.connectionNames ??= new Set()).add(buf.toString('latin1', a, b).toLowerCase());
      s = e + 1;
    }
  }

  #keepLine(s: number, e: number): void {
    this.#keep.push(s, e);
    this.#keptBytes += e - s;
  }

  /**
   * Drops kept lines whose name the Connection header listed. Content-Length, Transfer-Encoding,
   * Connection, Keep-Alive and Via are never kept lines (see the top of this file), so no name
   * in Connection can remove what the client's framing rests on.
   */
  #dropNamed(named: ReadonlySet<string>): void {
    const keep = this.#keep;
    const buf = this.#buf;
    let w = 0;
    this.#keptBytes = 0;
    for (let r = 0; r < keep.length; r += 2) {
      const s = keep[r]!;
      const e = keep[r + 1]!;
      const name = buf.toString('latin1', s, buf.indexOf(58, s)).toLowerCase();
      if (named.has(name)) continue;
      keep[w++] = s;
      keep[w++] = e;
      this.#keptBytes += e - s;
    }
    keep.length = w;
  }

  #fail(error: string): false {
    this.error = error;
    return false;
  }
}

/** Decimal digits of a non-negative safe integer. */
function digits(n: number): number {
  let d = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    d++;
  }
  return d;
}

function isDropped(buf: Buffer, s: number, e: number): boolean {
  for (const name of DROPPED) if (sameName(buf, s, e, name)) return true;
  return false;
}

/** The last comma-separated token of `buf[vs, ve)` is `lower` (ignoring case and OWS). */
function lastTokenIs(buf: Buffer, vs: number, ve: number, lower: Buffer): boolean {
  let b = ve;
  while (b > vs && (buf[b - 1] === 32 || buf[b - 1] === 9)) b--;
  let a = b;
  while (a > vs && buf[a - 1] !== 44) a--;
  while (a < b && (buf[a] === 32 || buf[a] === 9)) a++;
  return sameName(buf, a, b, lower);
}
