// Message body framing (RFC 9112 §6–7) as a resumable state machine over the socket's chunks:
// it finds where a body ends — after Content-Length bytes, after the last chunk and trailers, or
// at the connection's end — so the next message starts at the right byte. Chunked bodies are
// validated byte by byte in the size lines and trailers and skipped in bulk over the data.
//
// The proxy forwards the validated bytes as they came (chunked stays chunked) or, for an HTTP/1.0
// client, asks for the payload spans only (a sink). One reader per connection, reset per message:
// nothing is allocated per chunk.

import { fieldValueByte, TCHAR } from './message-head.ts';

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

// chunked states
const SIZE_FIRST = 0; // at least one hex digit
const SIZE = 1; // more hex digits, or BWS / ';' / CR
const EXT = 2; // chunk extension up to CR
const EXT_BWS = 11; // whitespace after the size: only more of it or ';' may follow
const SIZE_LF = 3;
const DATA = 4;
const DATA_CR = 5;
const DATA_LF = 6;
const TRAILER_START = 7; // a trailer field line or the final CRLF
const TRAILER = 8; // the field name, up to the colon
const TRAILER_LF = 9;
const TRAILER_VALUE = 12; // after the colon, up to CR
const FINAL_LF = 10;

/** A chunk size past this is refused (2^48 bytes: no real body, and safe integer arithmetic). */
const MAX_CHUNK = 2 ** 48;
/** Trailer section bytes allowed (a second head, as large as heads may be). */
const MAX_TRAILERS = 64 * 1024;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

export class BodyReader {
  mode: BodyMode = NONE;
  /** Bytes left of the Content-Length body or of the current chunk's data. */
  remaining = 0;
  done = true;
  error: string | null = null;
  #state = SIZE_FIRST;
  #trailerBytes = 0;
  #nameStarted = false;

  /** Starts a new message body. `length` is the Content-Length for LENGTH. */
  reset(mode: BodyMode, length = 0): void {
    this.mode = mode;
    this.remaining = length;
    this.error = null;
    this.#state = SIZE_FIRST;
    this.#trailerBytes = 0;
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
        return this.#chunked(buf, start, end, sink);
      default:
        return start;
    }
  }

  /** The connection ended: a close-delimited body is complete there; any other is truncated. */
  finishAtEof(): boolean {
    if (this.mode === UNTIL_CLOSE) this.done = true;
    return this.done;
  }

  #chunked(buf: Buffer, start: number, end: number, sink: BodySink | null): number {
    let i = start;
    while (i < end) {
      switch (this.#state) {
        case DATA: {
          const n = Math.min(this.remaining, end - i);
          if (sink !== null) sink.onBodyData(buf, i, i + n);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.#state = DATA_CR;
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
          else if (c === 59 /* ; */) this.#state = EXT;
          else if (c === 32 || c === 9) this.#state = EXT_BWS;
          else return this.#fail('malformed chunk size');
          break;
        }
        case EXT_BWS: {
          const c = buf[i]!;
          if (c === 59) this.#state = EXT;
          else if (c !== 32 && c !== 9) return this.#fail('malformed chunk size');
          break;
        }
        case EXT: {
          // chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ): forwarded as is, so it only
          // has to be free of line breaks and controls (a bare LF here is a smuggling classic).
          const c = buf[i]!;
          if (c === 13) this.#state = SIZE_LF;
          else if (!fieldValueByte(c)) return this.#fail('control character in chunk extension');
          break;
        }
        case SIZE_LF:
          if (buf[i] !== 10) return this.#fail('chunk size line not ended by CRLF');
          this.#state = this.remaining === 0 ? TRAILER_START : DATA;
          break;
        case DATA_CR:
          if (buf[i] !== 13) return this.#fail('chunk data longer than its size');
          this.#state = DATA_LF;
          break;
        case DATA_LF:
          if (buf[i] !== 10) return this.#fail('chunk data not ended by CRLF');
          this.#state = SIZE_FIRST;
          break;
        case TRAILER_START: {
          const c = buf[i]!;
          if (c === 13) this.#state = FINAL_LF;
          else if (c === 32 || c === 9) return this.#fail('obs-fold in trailers');
          else {
            this.#state = TRAILER;
            this.#nameStarted = false;
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
          break;
        case FINAL_LF:
          if (buf[i] !== 10) return this.#fail('chunked body not ended by CRLF');
          this.done = true;
          return i + 1;
      }
      i++;
    }
    return i;
  }

  #fail(error: string): number {
    this.error = error;
    return -1;
  }
}
