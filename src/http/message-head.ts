// HTTP/1.1 request heads (request line, then field lines) parsed from raw socket
// bytes, strictly per RFC 9112: CRLF line ends only (a bare LF or CR is an error, not a line end),
// no obs-fold, no whitespace between a field name and its colon, field names are tokens, field
// values hold no control characters. Everything a lenient parser would "repair" is refused, since
// the server behind us might repair it differently (request smuggling). Bodies are body-reader.ts.
//
// The head is decoded once as latin1 (one byte per char, so offsets match the bytes) and cut
// with indexOf; the result keeps the names as sent, flat [name, value, ...] like Node's rawHeaders.
// (Server response heads are checked on their bytes instead: response-head.ts.)

const HEAD_END = Buffer.from('\r\n\r\n');
const LF_LF = Buffer.from('\n\n');

/** RFC 9110 token (method, field name). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 field-value: VCHAR, obs-text, SP, HTAB — never CR, LF, NUL or other controls. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** request-target: visible characters (and obs-text, as nginx and HAProxy accept UTF-8 bytes there). */
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;

/** More field lines than this is refused like an oversized head (HAProxy's default is 101). */
export const MAX_FIELDS = 128;

/** TOKEN as a byte table, for the parsers that walk bytes (body-reader.ts, response-head.ts). */
export const TCHAR = new Uint8Array(256);
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[ch.charCodeAt(0)] = 1;

/** FIELD_VALUE by byte: HTAB, SP, VCHAR, obs-text (not CR, LF, NUL, other controls, DEL). */
export function fieldValueByte(c: number): boolean {
  return c === 9 || (c >= 32 && c !== 127);
}

/** Where a head ends in `buf` (searching from `from`): the index just past CRLFCRLF, or -1. */
export function findHeadEnd(buf: Buffer, from: number): number {
  const i = buf.indexOf(HEAD_END, from);
  return i < 0 ? -1 : i + 4;
}

/** An incomplete head that already shows a bare-LF empty line can never become valid. */
export function hasBareLfHeadEnd(buf: Buffer): boolean {
  return buf.indexOf(LF_LF) >= 0;
}

/** Leading CRLFs before a request line (RFC 9112 §2.2: a recipient SHOULD ignore them). */
export function skipEmptyLines(buf: Buffer, start: number): number {
  let i = start;
  while (i + 1 < buf.length && buf[i] === 13 && buf[i + 1] === 10) i += 2;
  return i;
}

export interface RequestLine {
  method: string;
  target: string;
  /** Minor version: HTTP/1.0 or HTTP/1.1. */
  minor: 0 | 1;
  /** Flat [name, value, ...], names as sent, values without surrounding whitespace. */
  fields: string[];
}

/** What went wrong, for the log and the status: `too-many-fields` gets 431, the rest 400/502. */
export type HeadError = { error: string; tooLarge: boolean };

function fail(error: string, tooLarge = false): HeadError {
  return { error, tooLarge };
}

function minorOf(v: string): 0 | 1 | -1 {
  if (v === 'HTTP/1.1') return 1;
  if (v === 'HTTP/1.0') return 0;
  return -1;
}

/**
 * Parses the request head in `buf[start, end)`, `end` just past its CRLFCRLF (findHeadEnd).
 * Returns the request or the reason it is malformed.
 */
export function parseRequestHead(buf: Buffer, start: number, end: number): RequestLine | HeadError {
  const text = buf.toString('latin1', start, end - 2);
  const eol = text.indexOf('\r\n');
  const line = text.slice(0, eol);
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || line.indexOf(' ', sp2 + 1) >= 0) return fail('malformed request line');
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const minor = minorOf(line.slice(sp2 + 1));
  if (minor < 0) return fail('unsupported HTTP version');
  if (!TOKEN.test(method)) return fail('malformed method');
  if (!TARGET.test(target)) return fail('malformed request target');
  const fields = parseFields(text, eol + 2);
  if (!Array.isArray(fields)) return fields;
  return { method, target, minor: minor as 0 | 1, fields };
}

/** Field lines of `text` from `pos` to its end (the text ends with the last field's CRLF). */
function parseFields(text: string, pos: number): string[] | HeadError {
  const fields: string[] = [];
  while (pos < text.length) {
    const eol = text.indexOf('\r\n', pos);
    const c0 = text.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) return fail('obs-fold or whitespace before a field name');
    const colon = text.indexOf(':', pos);
    if (colon < 0 || colon > eol) return fail('field line without a colon');
    const name = text.slice(pos, colon);
    if (!TOKEN.test(name)) return fail('malformed field name');
    const raw = text.slice(colon + 1, eol);
    if (!FIELD_VALUE.test(raw)) return fail(`control character in field ${name}`);
    if (fields.length >= MAX_FIELDS * 2) return fail('too many header fields', true);
    fields.push(name, trimOws(raw));
    pos = eol + 2;
  }
  return fields;
}

/** Strips SP/HTAB only (String.trim would also eat U+00A0, a legal obs-text byte here). */
function trimOws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

export function isHeadError(x: object): x is HeadError {
  return 'error' in x;
}
