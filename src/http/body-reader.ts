// Message body framing (RFC 9112 §6–7) as a resumable state machine over the socket's chunks:
// it finds where a body ends — after Content-Length bytes, after the last chunk and trailers, or
// at the connection's end — so the next message starts at the right byte. Chunked bodies are
// validated byte by byte in the size lines and trailers and skipped in bulk over the data.
//
// Three ways to use a body once validated:
// - read(…, null): the caller forwards the input bytes as they came (the proxy does so for
//   Content-Length and close-delimited bodies only);
// - read(…, sink): payload spans only (an HTTP/1.0 client of a chunked response);
// - forward(…, out): the reader re-frames the body; the proxy sends every chunked body this way,
//   in both directions (http-proxy.ts, upstream-connection.ts). A chunked body goes out in
//   canonical chunked form — lowercase hex sizes without leading zeros, no chunk extensions,
//   output chunks of at most 2^31−1 bytes, only the trailer fields trailers.ts lets through and
//   the message's Connection does not name — so no peer ever sees the size spellings, extensions
//   or trailers another parser might read differently (issue 13, rows 5 and 6). Other bodies go
//   out as they came.
// One reader per connection, reset per message: nothing is allocated per socket chunk; forward()
// makes one small framing string per chunk and holds the trailer section (bounded) until it ends.

import { fieldValueByte, TCHAR } from './message-head.ts';
import { forwardableTrailer } from './trailers.ts';

/** No body / Content-Length / chunked / until the connection closes (responses only). */
export const NONE = 0;
export const LENGTH = 1;
export const CHUNKED = 2;
export const UNTIL_CLOSE = 3;
export type BodyMode = typeof NONE | typeof LENGTH | typeof CHUNKED | typeof UNTIL_CLOSE;

/** Receives payload bytes when a body is decoded rather than forwarded as is. */
export interface BodySink {
  onBodyData(buf: Buffer, start: number, end: number): void;
}

/**
 * Receives the body as forward() re-frames it. Implement it once, as a prototype method of the
 * per-request (or per-connection) object: forward() allocates no callback per chunk.
 */
export interface ChunkedOut {
  /**
   * Write `framing` (latin1 text, possibly '') and then the input bytes `buf[start, end)` (possibly
   * empty), in that order, after everything delivered before. Called synchronously inside
   * forward(), once per data span with all the framing that precedes it (e.g. `"\r\n1f4\r\n"` then
   * 500 payload bytes), plus at most once more with an empty span for the framing that closes the
   * call (a chunk's CRLF, or `0\r\n<trailers>\r\n` at the end). The span is a view of the caller's
   * input buffer (zero copy): write it or copy it before that buffer is reused. Nothing is held
   * back between calls except the trailer section, so a caller may gather one forward() call's
   * pieces and write them once after forward() returns.
   */
  onForward(framing: string, buf: Buffer, start: number, end: number): void;
}

// chunked states. Those up to EXT_END are inside a chunk size line.
const SIZE_FIRST = 0; // at least one hex digit
const SIZE = 1; // more hex digits, or BWS / ';' / CR
const EXT_BWS = 2; // whitespace after the size or a value: only more of it or ';' may follow
const EXT_NAME_START = 3; // after ';': BWS, then the first byte of the name
const EXT_NAME = 4; // more of the name, or BWS / '=' / ';' / CR
const EXT_NAME_BWS = 5; // whitespace after a name: more of it, '=' or ';'
const EXT_VALUE_START = 6; // after '=': BWS, then a token or a quoted-string
const EXT_VALUE = 7; // more of a token value, or BWS / ';' / CR
const EXT_QUOTED = 8; // inside a quoted-string value
const EXT_QUOTED_PAIR = 9; // after a backslash inside a quoted-string
const EXT_END = 10; // after a quoted-string: BWS / ';' / CR
const SIZE_LF = 11;
const DATA = 12;
const DATA_CR = 13;
const DATA_LF = 14;
const TRAILER_START = 15; // a trailer field line or the final CRLF
const TRAILER = 16; // the field name, up to the colon
const TRAILER_VALUE = 17; // after the colon, up to CR
const TRAILER_LF = 18;
const FINAL_LF = 19;

/** A chunk size past this is refused (2^48 bytes: no real body, and safe integer arithmetic). */
const MAX_CHUNK = 2 ** 48;
/**
 * Bytes allowed in one chunk size line, size and extensions, without its CRLF. Extensions are
 * never used by anything we proxy, but unbounded ones let a peer stream bytes no body limit sees
 * (CVE-2024-22019). 4 KiB per line is Twisted's limit; Node caps extensions at 16 KiB per message.
 */
export const MAX_SIZE_LINE = 4096;
/**
 * forward() splits larger chunks: every size it writes fits in 8 hex digits and a signed 32-bit
 * integer, so a peer with a 32-bit or digit-limited size parser reads what we mean (issue 13, row 6).
 */
export const MAX_OUT_CHUNK = 2 ** 31 - 1;
/** Trailer section bytes allowed (a second head, as large as heads may be). */
const MAX_TRAILERS = 64 * 1024;

const CRLF = '\r\n';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** RFC 9110 §5.6.4 qdtext: HTAB, SP, VCHAR except DQUOTE and backslash, obs-text. */
function qdtext(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 34 && c !== 92 && c !== 127);
}

export class BodyReader {
  mode: BodyMode = NONE;
  /** Bytes left of the Content-Length body or of the current chunk's data. */
  remaining = 0;
  done = true;
  error: string | null = null;
  #state = SIZE_FIRST;
  #lineBytes = 0;
  #trailerBytes = 0;
  #nameStarted = false;
  /** forward(): bytes left of the output chunk being written (≤ MAX_OUT_CHUNK). */
  #outLeft = 0;
  /** forward(): the trailer lines kept so far, each with its CRLF. */
  #trailers = '';
  /** forward(): the start of the trailer line in progress, read in an earlier call. */
  #line = '';
  /** forward(): names the message's Connection header lists, dropped from its trailers too. */
  #connectionNames: ReadonlySet<string> | null = null;

  /**
   * Starts a new message body. `length` is the Content-Length for LENGTH. `connectionNames`: the
   * lowercase field names the message's Connection header lists (the head parsers collect them):
   * hop-by-hop for this message (RFC 9110 §7.6.1), so forward() drops trailer fields of those names.
   */
  reset(mode: BodyMode, length = 0, connectionNames: ReadonlySet<string> | null = null): void {
    this.mode = mode;
    this.#connectionNames = connectionNames;
    this.remaining = length;
    this.error = null;
    this.#state = SIZE_FIRST;
    this.#lineBytes = 0;
    this.#trailerBytes = 0;
    this.#outLeft = 0;
    this.#trailers = '';
    this.#line = '';
    this.done = mode === NONE || (mode === LENGTH && length === 0);
  }

  /**
   * Consumes body bytes from `buf[start, end)`. Returns the index just past the last byte that
   * belongs to this body (`end` when it wants more); `done` is set when the body is complete. On
   * malformed framing returns -1 with `error` set. With a `sink`, payload spans go to it.
   */
  read(buf: Buffer, start: number, end: number, sink: BodySink | null): number {
    if (this.done) return start;
    switch (this.mode) {
      case LENGTH: {
        const n = Math.min(this.remaining, end - start);
        this.remaining -= n;
        if (sink !== null && n > 0) sink.onBodyData(buf, start, start + n);
        if (this.remaining === 0) this.done = true;
        return start + n;
      }
      case UNTIL_CLOSE:
        if (sink !== null && end > start) sink.onBodyData(buf, start, end);
        return end;
      case CHUNKED:
        return this.#chunked(buf, start, end, sink, null);
      default:
        return start;
    }
  }

  /**
   * Consumes body bytes from `buf[start, end)` like read() — same return value, `done` and
   * `error` — and hands what to send on to `out` (see ChunkedOut for the contract). A chunked
   * body is re-framed canonically; a Content-Length or close-delimited one is passed through as
   * spans with no framing. Validation, limits and errors are read()'s: for the same input, forward()
   * and read() return the same indexes and fail at the same byte. On -1 the pieces delivered so far
   * are a prefix of a body that will never end: abort the message.
   */
  forward(buf: Buffer, start: number, end: number, out: ChunkedOut): number {
    if (this.done) return start;
    switch (this.mode) {
      case LENGTH: {
        const n = Math.min(this.remaining, end - start);
        this.remaining -= n;
        if (n > 0) out.onForward('', buf, start, start + n);
        if (this.remaining === 0) this.done = true;
        return start + n;
      }
      case UNTIL_CLOSE:
        if (end > start) out.onForward('', buf, start, end);
        return end;
      case CHUNKED:
        return this.#chunked(buf, start, end, null, out);
      default:
        return start;
    }
  }

  /** The connection ended: a close-delimited body is complete there; any other is truncated. */
  finishAtEof(): boolean {
    if (this.mode === UNTIL_CLOSE) this.done = true;
    return this.done;
  }

  #chunked(buf: Buffer, start: number, end: number, sink: BodySink | null, out: ChunkedOut | null): number {
    let i = start;
    /** forward(): framing decided since the last data span, written before the next one. */
    let framing = '';
    /** forward(): where the trailer line in progress starts in `buf`. */
    let lineStart = start;
    while (i < end) {
      const state = this.#state;
      // chunk-size [ chunk-ext ] has a length limit (+1: the CR ending it is read here too)
      if (state <= EXT_END && ++this.#lineBytes > MAX_SIZE_LINE + 1) return this.#fail('chunk size line too long');
      switch (state) {
        case DATA: {
          let n = Math.min(this.remaining, end - i);
          if (out !== null) {
            n = Math.min(n, this.#outLeft);
            out.onForward(framing, buf, i, i + n);
            framing = '';
            this.#outLeft -= n;
          } else if (sink !== null) sink.onBodyData(buf, i, i + n);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.#state = DATA_CR;
          else if (out !== null && this.#outLeft === 0) framing = CRLF + this.#startOutChunk() + CRLF;
          continue;
        }
        case SIZE_FIRST: {
          const v = hexValue(buf[i]!);
          if (v < 0) return this.#fail('malformed chunk size');
          this.remaining = v;
          this.#state = SIZE;
          break;
        }
        case SIZE: {
          const c = buf[i]!;
          const v = hexValue(c);
          if (v >= 0) {
            this.remaining = this.remaining * 16 + v;
            if (this.remaining >= MAX_CHUNK) return this.#fail('chunk size too large');
          } else if (c === 13) this.#state = SIZE_LF;
          else if (c === 59 /* ; */) this.#state = EXT_NAME_START;
          else if (c === 32 || c === 9) this.#state = EXT_BWS;
          else return this.#fail('malformed chunk size');
          break;
        }
        // chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112
        // §7.1.1), names tokens, values tokens or quoted-strings. Checked to the letter even though
        // forward() drops extensions: read(…, null) would pass them on, and a peer that reads a
        // malformed one differently is how chunk smuggling works (a bare LF here is the classic).
        case EXT_BWS: {
          const c = buf[i]!;
          if (c === 59) this.#state = EXT_NAME_START;
          else if (c !== 32 && c !== 9) return this.#failExt(c, 'malformed chunk size');
          break;
        }
        case EXT_NAME_START: {
          const c = buf[i]!;
          if (TCHAR[c] === 1) this.#state = EXT_NAME;
          else if (c !== 32 && c !== 9) return this.#failExt(c, 'malformed chunk extension');
          break;
        }
        case EXT_NAME: {
          const c = buf[i]!;
          if (TCHAR[c] === 1) break;
          if (c === 13) this.#state = SIZE_LF;
          else if (c === 61 /* = */) this.#state = EXT_VALUE_START;
          else if (c === 59) this.#state = EXT_NAME_START;
          else if (c === 32 || c === 9) this.#state = EXT_NAME_BWS;
          else return this.#failExt(c, 'malformed chunk extension');
          break;
        }
        case EXT_NAME_BWS: {
          const c = buf[i]!;
          if (c === 61) this.#state = EXT_VALUE_START;
          else if (c === 59) this.#state = EXT_NAME_START;
          else if (c !== 32 && c !== 9) return this.#failExt(c, 'malformed chunk extension');
          break;
        }
        case EXT_VALUE_START: {
          const c = buf[i]!;
          if (TCHAR[c] === 1) this.#state = EXT_VALUE;
          else if (c === 34 /* " */) this.#state = EXT_QUOTED;
          else if (c !== 32 && c !== 9) return this.#failExt(c, 'malformed chunk extension');
          break;
        }
        case EXT_VALUE:
        case EXT_END: {
          const c = buf[i]!;
          if (state === EXT_VALUE && TCHAR[c] === 1) break;
          if (c === 13) this.#state = SIZE_LF;
          else if (c === 59) this.#state = EXT_NAME_START;
          else if (c === 32 || c === 9) this.#state = EXT_BWS;
          else return this.#failExt(c, 'malformed chunk extension');
          break;
        }
        case EXT_QUOTED: {
          const c = buf[i]!;
          if (c === 34) this.#state = EXT_END;
          else if (c === 92 /* \ */) this.#state = EXT_QUOTED_PAIR;
          else if (!qdtext(c)) return this.#failExt(c, 'malformed chunk extension');
          break;
        }
        case EXT_QUOTED_PAIR: {
          const c = buf[i]!;
          if (!fieldValueByte(c)) return this.#failExt(c, 'malformed chunk extension');
          this.#state = EXT_QUOTED;
          break;
        }
        case SIZE_LF:
          if (buf[i] !== 10) return this.#fail('chunk size line not ended by CRLF');
          this.#lineBytes = 0;
          if (this.remaining === 0) this.#state = TRAILER_START;
          else {
            this.#state = DATA;
            if (out !== null) framing += this.#startOutChunk() + CRLF;
          }
          break;
        case DATA_CR:
          if (buf[i] !== 13) return this.#fail('chunk data longer than its size');
          this.#state = DATA_LF;
          break;
        case DATA_LF:
          if (buf[i] !== 10) return this.#fail('chunk data not ended by CRLF');
          this.#state = SIZE_FIRST;
          if (out !== null) framing += CRLF;
          break;
        case TRAILER_START: {
          const c = buf[i]!;
          if (c === 13) this.#state = FINAL_LF;
          else if (c === 32 || c === 9) return this.#fail('obs-fold in trailers');
          else {
            this.#state = TRAILER;
            this.#nameStarted = false;
            lineStart = i;
            continue; // the same byte is validated as part of the line
          }
          break;
        }
        case TRAILER: {
          // the same rules as a head's field line: a token name right before the colon
          const c = buf[i]!;
          if (c === 13) return this.#fail('trailer line without a colon');
          if (c < 32 || c === 127) return this.#fail('control character in trailers');
          if (c === 58) {
            if (!this.#nameStarted) return this.#fail('malformed trailer field name');
            this.#state = TRAILER_VALUE;
          } else if (TCHAR[c] !== 1) return this.#fail('malformed trailer field name');
          this.#nameStarted = true;
          if (++this.#trailerBytes > MAX_TRAILERS) return this.#fail('trailers too large');
          break;
        }
        case TRAILER_VALUE: {
          const c = buf[i]!;
          if (c === 13) this.#state = TRAILER_LF;
          else if (!fieldValueByte(c)) return this.#fail('control character in trailers');
          if (++this.#trailerBytes > MAX_TRAILERS) return this.#fail('trailers too large');
          break;
        }
        case TRAILER_LF:
          this.#trailerBytes++;
          if (buf[i] !== 10) return this.#fail('trailer line not ended by CRLF');
          this.#state = TRAILER_START;
          if (out !== null) this.#keepTrailer(this.#line + buf.toString('latin1', lineStart, i + 1));
          break;
        case FINAL_LF:
          if (buf[i] !== 10) return this.#fail('chunked body not ended by CRLF');
          this.done = true;
          if (out !== null) {
            // the last chunk, the kept trailers and the final CRLF: one piece, once all is known
            out.onForward(framing + '0\r\n' + this.#trailers + CRLF, buf, i + 1, i + 1);
            this.#trailers = '';
          }
          return i + 1;
      }
      i++;
    }
    if (out !== null) {
      if (framing !== '') out.onForward(framing, buf, end, end);
      // a trailer line cut by the end of this input: keep its start for the next call
      const s = this.#state;
      if (s === TRAILER || s === TRAILER_VALUE || s === TRAILER_LF) this.#line += buf.toString('latin1', lineStart, end);
    }
    return i;
  }

  /** The size line of the next output chunk: at most MAX_OUT_CHUNK of the input chunk's remaining bytes. */
  #startOutChunk(): string {
    const n = this.remaining < MAX_OUT_CHUNK ? this.remaining : MAX_OUT_CHUNK;
    this.#outLeft = n;
    return n.toString(16);
  }

  /** One complete trailer line (with its CRLF): kept if trailers.ts allows its name and Connection does not list it. */
  #keepTrailer(line: string): void {
    this.#line = '';
    const name = line.slice(0, line.indexOf(':')).toLowerCase();
    const named = this.#connectionNames;
    if (forwardableTrailer(name) && (named === null || !named.has(name))) this.#trailers += line;
  }

  /** A byte that breaks the extension grammar: a control character (a bare LF above all) is named as such. */
  #failExt(c: number, error: string): number {
    return this.#fail((c < 32 && c !== 9 && c !== 13) || c === 127 ? 'control character in chunk extension' : error);
  }

  #fail(error: string): number {
    this.error = error;
    return -1;
  }
}
