// PROXY protocol v1/v2 wire format: parse the header a trusted peer sends first, build the one
// we send to servers. Reference: haproxy doc/proxy-protocol.txt (cited below as "pp §x").
//
// Why not proxy-protocol-js (the package the plan named): its parsers accept headers the
// spec says to reject (v1: any address text, ports > 65535 or with leading zeros, no 107-byte
// bound, no "PROXY UNKNOWN\r\n"; v2: truncated address blocks read as NaN, the length field
// is not honoured so TLVs and payload run together, no TLV or CRC32C checks), it cannot tell
// "wait for more bytes" from "invalid", and its v2 builder leaves TLVs out of the length
// field. The cases are listed in docs/proxy-protocol.md. So this file implements both
// directions itself; the package is only used by the tests, as an independent reader of the
// bytes we build.
//
// Address normalisation (one rule, used by the parser and both builders): an address pair is
// "tcp4" when both addresses are IPv4, counting IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4;
// otherwise it is "tcp6" and an IPv4 address in it is written mapped. IPv6 text is given in
// the form Node's own sockets report (libuv inet_ntop: RFC 5952, lowercase, with the
// ::ffff:a.b.c.d and ::a.b.c.d dotted forms), so a PROXY-given address and a socket peer
// address compare equal as strings (persistence keys, the PROXY reuse key, logs).
import { CRC32C_INIT, crc32cFinal, crc32cUpdate, crc32cZeros } from './crc32c.ts';
import { isMapped, parseIPv4, parseIPv6, v4Text, v6Text } from './ip-address.ts';

export interface ProxyAddresses {
  readonly family: 'tcp4' | 'tcp6';
  readonly sourceAddress: string;
  readonly sourcePort: number;
  readonly destinationAddress: string;
  readonly destinationPort: number;
}

export interface ProxyTlv {
  readonly type: number;
  /** A private copy: it does not pin the socket chunk the header arrived in. */
  readonly value: Buffer;
}

/**
 * `command: 'local'` means "use the connection's real addresses": v2 LOCAL, v2 PROXY with
 * AF_UNSPEC, and v1 "UNKNOWN" (pp §2.1: the receiver "SHOULD accept the connection and use
 * the real connection's parameters").
 */
export type ProxyHeader =
  | {
      readonly version: 1 | 2;
      readonly command: 'proxy';
      readonly addresses: ProxyAddresses;
      readonly tlvs: ReadonlyArray<ProxyTlv>;
    }
  | {
      readonly version: 1 | 2;
      readonly command: 'local';
      readonly addresses: null;
      readonly tlvs: ReadonlyArray<ProxyTlv>;
    };

export type ParseResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'ok'; readonly header: ProxyHeader; readonly consumed: number }
  | { readonly kind: 'error'; readonly reason: string };

/** Registered v2 TLV types (pp §2.2). */
export const PP2_TYPE = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
} as const;

/** Longest v1 line incl. CRLF: "PROXY UNKNOWN <39-char v6> <39-char v6> 65535 65535\r\n" (pp §2.1). */
export const PROXY_V1_MAX_BYTES = 107;

/**
 * Largest v2 length field (address block + TLVs) we accept. The wire allows 65535, but real
 * senders stay far below: HAProxy's SSL TLVs, AWS NLB's VPC-endpoint TLV and Azure's link id
 * are tens to a few hundred bytes. 2 KB leaves room for them and bounds the memory and the
 * CRC work an unauthenticated-until-verified peer can make us spend per connection.
 */
export const PROXY_V2_MAX_LENGTH = 2048;

/** Max bytes a header may occupy before we give up (the caller's buffer cap; v1 needs only 107). */
export const PROXY_HEADER_MAX_BYTES = 16 + PROXY_V2_MAX_LENGTH;

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V1_TCP4 = Buffer.from('TCP4 ', 'latin1');
const V1_TCP6 = Buffer.from('TCP6 ', 'latin1');
const V1_UNKNOWN = Buffer.from('UNKNOWN', 'latin1');
const V1_UNKNOWN_LINE = 'PROXY UNKNOWN\r\n';

/** pp §2.2: the 12-byte v2 signature. */
const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_HEADER_FIXED = 16;

const INCOMPLETE: ParseResult = Object.freeze({ kind: 'incomplete' });
const NO_TLVS: ReadonlyArray<ProxyTlv> = Object.freeze([]);

function fail(reason: string): ParseResult {
  return { kind: 'error', reason };
}

function hex2(b: number): string {
  return '0x' + b.toString(16).padStart(2, '0');
}

/**
 * Incremental: call with all bytes received so far. 'incomplete' means wait for more (the
 * caller enforces the timeout and PROXY_HEADER_MAX_BYTES); 'error' is decided as soon as the
 * bytes seen cannot begin a valid header; on 'ok', bytes from `consumed` on are payload.
 * Never throws.
 */
export function parseProxyHeader(buf: Buffer): ParseResult {
  if (buf.length === 0) return INCOMPLETE;
  const b0 = buf[0];
  if (b0 === 0x50) return parseV1(buf); // 'P'
  if (b0 === CR) return parseV2(buf);
  return fail(`not a PROXY header: first byte ${hex2(b0!)} is neither "P" (v1) nor CR (v2)`);
}

// ---------------------------------------------------------------------------------------------
// v1 (pp §2.1): "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP sport SP dport CRLF
//             | "PROXY" SP "UNKNOWN" [anything but CR/LF] CRLF
// Parsed left to right over the first 107 bytes; every field is checked as soon as it ends,
// and a byte that no valid header can have at that place is an error at once.

// Character classes for the address fields.
const C_DIGIT = 1;
const C_HEX = 2;
const C_DOT = 4;
const C_COLON = 8;
const CLASS = new Uint8Array(256);
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = C_DIGIT | C_HEX;
for (let c = 0x41; c <= 0x46; c++) CLASS[c] = C_HEX;
for (let c = 0x61; c <= 0x66; c++) CLASS[c] = C_HEX;
CLASS[0x2e] = C_DOT;
CLASS[0x3a] = C_COLON;
const V4_FIELD = C_DIGIT | C_DOT;
const V6_FIELD = C_HEX | C_DOT | C_COLON;
/** "255.255.255.255" */
const V4_FIELD_MAX = 15;
/** "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" (the line limit usually bites first). */
const V6_FIELD_MAX = 45;

// Scan outcomes (negative so that a position can be returned otherwise).
const NEED_MORE = -1;
const BAD = -2;

/** Matches `lit` at `pos`: the position after it, NEED_MORE, or BAD. */
function matchLiteral(buf: Buffer, pos: number, lim: number, lit: Buffer): number {
  for (let i = 0; i < lit.length; i++) {
    const p = pos + i;
    if (p >= lim) return NEED_MORE;
    if (buf[p] !== lit[i]) return BAD;
  }
  return pos + lit.length;
}

function parseV1(buf: Buffer): ParseResult {
  const n = buf.length;
  // pp §2.1: "If the CRLF sequence is not found in the first 107 characters, the receiver
  // should declare the line invalid." Nothing past byte 107 is ever looked at.
  const lim = n < PROXY_V1_MAX_BYTES ? n : PROXY_V1_MAX_BYTES;

  const afterPrefix = matchLiteral(buf, 0, lim, V1_PREFIX);
  if (afterPrefix === NEED_MORE) return v1NeedMore(n);
  if (afterPrefix === BAD) return fail('v1: bad signature (expected "PROXY ")');

  const t4 = matchLiteral(buf, afterPrefix, lim, V1_TCP4);
  const t6 = t4 >= 0 ? BAD : matchLiteral(buf, afterPrefix, lim, V1_TCP6);
  if (t4 < 0 && t6 < 0) {
    const tu = matchLiteral(buf, afterPrefix, lim, V1_UNKNOWN);
    if (tu >= 0) return parseV1Unknown(buf, tu, lim);
    if (t4 === NEED_MORE || t6 === NEED_MORE || tu === NEED_MORE) return v1NeedMore(n);
    return fail('v1: protocol is not TCP4, TCP6 or UNKNOWN (or not followed by one space)');
  }
  const v4 = t4 >= 0;
  const cls = v4 ? V4_FIELD : V6_FIELD;
  const max = v4 ? V4_FIELD_MAX : V6_FIELD_MAX;

  // Each address is validated as soon as its field ends (pp §2.1: "canonical format").
  const srcStart = v4 ? t4 : t6;
  const srcEnd = scanField(buf, srcStart, lim, cls, max);
  if (srcEnd === NEED_MORE) return v1NeedMore(n);
  if (srcEnd < 0) return fail(fieldError(buf, srcStart, lim, cls, max, 'source address'));
  // Safe to quote in a reason: the scan admitted only [0-9A-Fa-f.:], at most 45 of them.
  const src = buf.toString('latin1', srcStart, srcEnd);
  if (v4 ? !parseIPv4(src, 0, src.length, SCRATCH, 12) : !parseIPv6(src, SCRATCH, 0)) {
    return fail(`v1: source address "${src}" is not ${v4 ? 'a canonical IPv4' : 'an IPv6'} address`);
  }
  const dstStart = srcEnd + 1;
  const dstEnd = scanField(buf, dstStart, lim, cls, max);
  if (dstEnd === NEED_MORE) return v1NeedMore(n);
  if (dstEnd < 0) return fail(fieldError(buf, dstStart, lim, cls, max, 'destination address'));
  const dst = buf.toString('latin1', dstStart, dstEnd);
  if (v4 ? !parseIPv4(dst, 0, dst.length, SCRATCH, 28) : !parseIPv6(dst, SCRATCH, 16)) {
    return fail(`v1: destination address "${dst}" is not ${v4 ? 'a canonical IPv4' : 'an IPv6'} address`);
  }

  const spStart = dstEnd + 1;
  const spEnd = scanPort(buf, spStart, lim, SP);
  if (spEnd === NEED_MORE) return v1NeedMore(n);
  if (spEnd < 0) return fail(portError(buf, spStart, lim, SP, 'source port'));
  const dpStart = spEnd + 1;
  const dpEnd = scanPort(buf, dpStart, lim, CR);
  if (dpEnd === NEED_MORE) return v1NeedMore(n);
  if (dpEnd < 0) return fail(portError(buf, dpStart, lim, CR, 'destination port'));
  // buf[dpEnd] is CR; pp §2.1: "The receiver must not tolerate a single CR or LF".
  if (dpEnd + 1 >= lim) return v1NeedMore(n);
  if (buf[dpEnd + 1] !== LF) return fail('v1: CR not followed by LF');

  const sourcePort = decimal(buf, spStart, spEnd);
  const destinationPort = decimal(buf, dpStart, dpEnd);
  const addresses = v4
    ? makeAddresses(true, src, dst, sourcePort, destinationPort)
    : addressesFrom16(SCRATCH, 0, 16, sourcePort, destinationPort);
  return { kind: 'ok', header: { version: 1, command: 'proxy', addresses, tlvs: NO_TLVS }, consumed: dpEnd + 2 };
}

/** pp §2.1: after "UNKNOWN" the receiver "must ignore anything presented before the CRLF". */
function parseV1Unknown(buf: Buffer, pos: number, lim: number): ParseResult {
  if (pos >= lim) return v1NeedMore(buf.length);
  if (buf[pos] !== SP && buf[pos] !== CR) return fail('v1: protocol is not TCP4, TCP6 or UNKNOWN');
  for (let p = pos; p < lim; p++) {
    const c = buf[p];
    if (c === LF) return fail('v1: bare LF (line must end with CRLF)');
    if (c === CR) {
      if (p + 1 >= lim) return v1NeedMore(buf.length);
      if (buf[p + 1] !== LF) return fail('v1: CR not followed by LF');
      return { kind: 'ok', header: { version: 1, command: 'local', addresses: null, tlvs: NO_TLVS }, consumed: p + 2 };
    }
  }
  return v1NeedMore(buf.length);
}

/** Out of bytes mid-line: wait, unless 107 bytes are already here (then no CRLF can come in time). */
function v1NeedMore(n: number): ParseResult {
  return n >= PROXY_V1_MAX_BYTES ? fail('v1: no CRLF within the first 107 bytes') : INCOMPLETE;
}

/** Address field: 1..max bytes of class `cls`, then one SP. Returns the SP's position, NEED_MORE or BAD. */
function scanField(buf: Buffer, start: number, lim: number, cls: number, max: number): number {
  for (let p = start; p < lim; p++) {
    const c = buf[p]!;
    if (c === SP) return p > start ? p : BAD;
    if ((CLASS[c]! & cls) === 0 || p - start >= max) return BAD;
  }
  return NEED_MORE;
}

// fieldError/portError re-walk a field that scanField/scanPort found BAD, only to name the
// reason; keeping them apart leaves the scanners branch-light on the accepting path.
function fieldError(buf: Buffer, start: number, lim: number, cls: number, max: number, what: string): string {
  for (let p = start; p < lim; p++) {
    const c = buf[p]!;
    if (c === SP) return p > start ? `v1: ${what}: bad` : `v1: ${what} is empty (fields are separated by exactly one space)`;
    if ((CLASS[c]! & cls) === 0) return `v1: ${what}: unexpected byte ${hex2(c)}${c === LF ? ' (bare LF)' : c === CR ? ' (CR before end of line)' : ''}`;
    if (p - start >= max) return `v1: ${what} longer than ${max} characters`;
  }
  return `v1: ${what}: bad`;
}

/**
 * Port field: decimal 0..65535, no leading zero (pp §2.1), then `term`. Returns the
 * terminator's position, NEED_MORE or BAD; a leading zero or a value over 65535 is BAD as
 * soon as the offending digit arrives.
 */
function scanPort(buf: Buffer, start: number, lim: number, term: number): number {
  let value = 0;
  for (let p = start; p < lim; p++) {
    const c = buf[p]!;
    if (c === term) return p > start ? p : BAD;
    if (c < 0x30 || c > 0x39) return BAD;
    if (p > start && buf[start] === 0x30) return BAD;
    value = value * 10 + (c - 0x30);
    if (value > 65535) return BAD;
  }
  return NEED_MORE;
}

function portError(buf: Buffer, start: number, lim: number, term: number, what: string): string {
  let value = 0;
  for (let p = start; p < lim; p++) {
    const c = buf[p]!;
    if (c === term) return `v1: ${what} is empty`;
    if (c < 0x30 || c > 0x39) {
      const hint = c === LF ? ' (bare LF)' : c === CR ? ' (CR before end of line)' : c === SP ? ' (extra space or field)' : '';
      return `v1: ${what}: unexpected byte ${hex2(c)}${hint}`;
    }
    if (p > start && buf[start] === 0x30) return `v1: ${what} has a leading zero`;
    value = value * 10 + (c - 0x30);
    if (value > 65535) return `v1: ${what} is over 65535`;
  }
  return `v1: ${what}: bad`;
}

function decimal(buf: Buffer, start: number, end: number): number {
  let v = 0;
  for (let p = start; p < end; p++) v = v * 10 + (buf[p]! - 0x30);
  return v;
}

// ---------------------------------------------------------------------------------------------
// v2 (pp §2.2): sig[12] ver_cmd fam len16 | address block | TLVs, header = 16 + len bytes.

function parseV2(buf: Buffer): ParseResult {
  const n = buf.length;
  for (let i = 0; i < V2_SIG.length; i++) {
    if (i >= n) return INCOMPLETE;
    if (buf[i] !== V2_SIG[i]) return fail('v2: bad signature');
  }
  if (n < 13) return INCOMPLETE;
  const verCmd = buf[12]!;
  // pp §2.2: the version "must always be sent as \x2 and the receiver must only accept this value".
  if (verCmd >> 4 !== 2) return fail(`v2: version ${verCmd >> 4} (only 2 is defined)`);
  const cmd = verCmd & 0x0f;
  // pp §2.2: other commands "must drop connections presenting unexpected values".
  if (cmd > 1) return fail(`v2: unassigned command ${cmd}`);
  if (n < 14) return INCOMPLETE;
  const famByte = buf[13]!;
  const fam = famByte >> 4;
  const transport = famByte & 0x0f;
  // pp §2.2: other families/transports "must be rejected as invalid by receivers".
  if (fam > 3) return fail(`v2: unassigned address family ${fam}`);
  if (transport > 2) return fail(`v2: unassigned transport protocol ${transport}`);
  const addrLen = fam === 1 ? 12 : fam === 2 ? 36 : fam === 3 ? 216 : 0;
  let proxied = false;
  if (cmd === 1) {
    if (famByte === 0x11 || famByte === 0x21) proxied = true;
    // PROXY with UNSPEC: pp §2.2 lets the receiver "accept the connection anyway and use the
    // real endpoints addresses"; we do, as for v1 UNKNOWN.
    else if (famByte !== 0x00) {
      // pp §2.2 says unsupported *valid* combinations should fall back to UNSPEC. We reject
      // them instead: fullproxy accepts PROXY only on stream listeners, and falling back
      // would silently attribute every such client to the sending proxy's own address
      // (wrong ACL, persistence and X-Forwarded-For). Envoy rejects these too.
      if (transport === 2) return fail(`v2: datagram transport (${hex2(famByte)}) on a stream connection`);
      if (fam === 3) return fail('v2: AF_UNIX source addresses are not supported');
      return fail(`v2: invalid family/transport combination ${hex2(famByte)}`);
    }
  }
  // LOCAL: pp §2.2 "discard the protocol block including the family" — any valid family
  // byte is accepted and its address block skipped.
  if (n < V2_HEADER_FIXED) return INCOMPLETE;
  const len = (buf[14]! << 8) | buf[15]!;
  if (len > PROXY_V2_MAX_LENGTH) return fail(`v2: length ${len} over our limit of ${PROXY_V2_MAX_LENGTH}`);
  if (len < addrLen) return fail(`v2: length ${len} shorter than the ${addrLen}-byte address block`);
  const total = V2_HEADER_FIXED + len;
  // pp §2.2: "The receiver must not start to parse an address before the whole address block
  // is received."
  if (n < total) return INCOMPLETE;

  const tlvStart = V2_HEADER_FIXED + addrLen;
  let tlvs = NO_TLVS;
  if (tlvStart < total) {
    const parsed = parseTlvs(buf, tlvStart, total);
    if (typeof parsed === 'string') return fail(parsed);
    tlvs = parsed;
  }
  if (!proxied) return { kind: 'ok', header: { version: 2, command: 'local', addresses: null, tlvs }, consumed: total };

  let addresses: ProxyAddresses;
  if (fam === 1) {
    addresses = makeAddresses(
      true,
      v4Text(buf, 16),
      v4Text(buf, 20),
      (buf[24]! << 8) | buf[25]!,
      (buf[26]! << 8) | buf[27]!,
    );
  } else {
    addresses = addressesFrom16(buf, 16, 32, (buf[48]! << 8) | buf[49]!, (buf[50]! << 8) | buf[51]!);
  }
  return { kind: 'ok', header: { version: 2, command: 'proxy', addresses, tlvs }, consumed: total };
}

/**
 * TLVs in buf[start, end): each is type(1) len(2) value(len) and must end inside the header.
 * Returns the TLVs (values copied into one private buffer) or an error reason.
 */
function parseTlvs(buf: Buffer, start: number, end: number): ReadonlyArray<ProxyTlv> | string {
  const region = Buffer.allocUnsafe(end - start);
  buf.copy(region, 0, start, end);
  const out: ProxyTlv[] = [];
  let crcAt = -1;
  let p = 0;
  const size = region.length;
  while (p < size) {
    if (size - p < 3) return `v2: truncated TLV header (${size - p} byte(s) left)`;
    const type = region[p]!;
    const vlen = (region[p + 1]! << 8) | region[p + 2]!;
    const vstart = p + 3;
    if (vlen > size - vstart) return `v2: TLV ${hex2(type)} length ${vlen} runs past the header`;
    if (type === PP2_TYPE.CRC32C) {
      if (vlen !== 4) return `v2: CRC32C TLV has length ${vlen}, expected 4`;
      if (crcAt >= 0) return 'v2: more than one CRC32C TLV';
      crcAt = start + vstart;
    }
    out.push({ type, value: region.subarray(vstart, vstart + vlen) });
    p = vstart + vlen;
  }
  if (crcAt >= 0) {
    // pp §2.2.3: checksum of the whole header with the checksum field set to zeros.
    let c = crc32cUpdate(CRC32C_INIT, buf, 0, crcAt);
    c = crc32cZeros(c, 4);
    c = crc32cUpdate(c, buf, crcAt + 4, end);
    const expected = buf.readUInt32BE(crcAt);
    if (crc32cFinal(c) !== expected) return 'v2: CRC32C mismatch';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Builders (the sending side, pool/connector.ts). Inputs come from our own sockets, so a bad
// address or port is a programming error: RangeError.

/** v1 line; null → "PROXY UNKNOWN\r\n" (pp §2.1 short form). */
export function buildProxyV1(a: ProxyAddresses | null): Buffer {
  if (a === null) return Buffer.from(V1_UNKNOWN_LINE, 'latin1');
  const v4 = normalizeInput(a);
  const line = v4
    ? `PROXY TCP4 ${v4Text(SCRATCH, 12)} ${v4Text(SCRATCH, 28)} ${a.sourcePort} ${a.destinationPort}\r\n`
    : // All-hex IPv6 form: pp §2.1 describes v6 text as hex groups only, so we do not send
      // the dotted tail (::ffff:1.2.3.4) even though HAProxy's inet_pton would take it.
      `PROXY TCP6 ${v6Text(SCRATCH, 0, false)} ${v6Text(SCRATCH, 16, false)} ${a.sourcePort} ${a.destinationPort}\r\n`;
  return Buffer.from(line, 'latin1');
}

/** What a PP2_TYPE_SSL TLV says of the client's connection to us (pp §2.2.5). */
export interface ProxySsl {
  /** PP2_SUBTYPE_SSL_VERSION, e.g. "TLSv1.3". */
  readonly version: string;
  /** PP2_SUBTYPE_SSL_CIPHER (OpenSSL name), absent = not sent. */
  readonly cipher?: string | undefined;
}

/** PP2_CLIENT_SSL: the client connected over SSL/TLS (pp §2.2.5). */
const PP2_CLIENT_SSL = 0x01;
const PP2_SUBTYPE_SSL_VERSION = 0x21;
const PP2_SUBTYPE_SSL_CIPHER = 0x23;

export interface ProxyV2Options {
  /** PP2_TYPE_AUTHORITY (pp §2.2.2): the client's SNI / host name; empty or absent = not sent. */
  readonly authority?: string | undefined;
  /** PP2_TYPE_SSL (pp §2.2.5): the client's TLS connection; absent = not sent (plain TCP). */
  readonly ssl?: ProxySsl | undefined;
  /** Append a PP2_TYPE_CRC32C TLV (pp §2.2.3). */
  readonly crc32c?: boolean | undefined;
}

/** v2 header; null → LOCAL command with AF_UNSPEC and no address block. */
export function buildProxyV2(a: ProxyAddresses | null, opts?: ProxyV2Options): Buffer {
  let v4 = false;
  if (a !== null) v4 = normalizeInput(a);
  const addrLen = a === null ? 0 : v4 ? 12 : 36;
  const authority = opts?.authority !== undefined && opts.authority !== '' ? Buffer.from(opts.authority, 'utf8') : null;
  const ssl = opts?.ssl === undefined ? null : sslTlvValue(opts.ssl);
  const withCrc = opts?.crc32c === true;
  const len = addrLen + (authority === null ? 0 : 3 + authority.length) + (ssl === null ? 0 : 3 + ssl.length) + (withCrc ? 7 : 0);
  if (len > PROXY_V2_MAX_LENGTH) throw new RangeError(`PROXY v2 header would be ${V2_HEADER_FIXED + len} bytes, over ${PROXY_HEADER_MAX_BYTES}`);

  const out = Buffer.alloc(V2_HEADER_FIXED + len); // zero-filled: the CRC field starts as zeros
  V2_SIG.copy(out, 0);
  out[12] = a === null ? 0x20 : 0x21; // version 2 | LOCAL or PROXY
  out[13] = a === null ? 0x00 : v4 ? 0x11 : 0x21; // UNSPEC, TCP over IPv4, TCP over IPv6
  out.writeUInt16BE(len, 14);
  let p = V2_HEADER_FIXED;
  if (a !== null) {
    if (v4) {
      SCRATCH.copy(out, p, 12, 16);
      SCRATCH.copy(out, p + 4, 28, 32);
      p += 8;
    } else {
      SCRATCH.copy(out, p, 0, 32);
      p += 32;
    }
    out.writeUInt16BE(a.sourcePort, p);
    out.writeUInt16BE(a.destinationPort, p + 2);
    p += 4;
  }
  if (authority !== null) {
    out[p] = PP2_TYPE.AUTHORITY;
    out.writeUInt16BE(authority.length, p + 1);
    authority.copy(out, p + 3);
    p += 3 + authority.length;
  }
  if (ssl !== null) {
    out[p] = PP2_TYPE.SSL;
    out.writeUInt16BE(ssl.length, p + 1);
    ssl.copy(out, p + 3);
    p += 3 + ssl.length;
  }
  if (withCrc) {
    out[p] = PP2_TYPE.CRC32C;
    out.writeUInt16BE(4, p + 1);
    out.writeUInt32BE(crc32cFinal(crc32cUpdate(CRC32C_INIT, out)), p + 3);
  }
  return out;
}

/**
 * The PP2_TYPE_SSL value: client flags (1), verify (4), then sub-TLVs. We never ask clients for a
 * certificate, so `verify` is non-zero: pp §2.2.5 makes zero mean "presented a certificate and it
 * verified", and a receiver must not read that into a connection that had none. (HAProxy sends 0
 * here when no certificate was requested; the spec's reading is the safe one.)
 */
function sslTlvValue(ssl: ProxySsl): Buffer {
  const version = Buffer.from(ssl.version, 'latin1');
  const cipher = ssl.cipher === undefined || ssl.cipher === '' ? null : Buffer.from(ssl.cipher, 'latin1');
  const out = Buffer.alloc(5 + 3 + version.length + (cipher === null ? 0 : 3 + cipher.length));
  out[0] = PP2_CLIENT_SSL;
  out.writeUInt32BE(1, 1);
  let p = 5;
  out[p] = PP2_SUBTYPE_SSL_VERSION;
  out.writeUInt16BE(version.length, p + 1);
  version.copy(out, p + 3);
  p += 3 + version.length;
  if (cipher !== null) {
    out[p] = PP2_SUBTYPE_SSL_CIPHER;
    out.writeUInt16BE(cipher.length, p + 1);
    cipher.copy(out, p + 3);
  }
  return out;
}

/**
 * Validates `a` and writes both addresses as 16 bytes (IPv4 mapped) into SCRATCH[0..32).
 * Returns true when the pair is sent as TCP4. The `family` field is not trusted: it is
 * recomputed from the addresses (callers may pass Node's ::ffff:a.b.c.d form). A mixed pair
 * (one IPv4, one IPv6) is sent as TCP6 with the IPv4 one mapped — the PROXY header has a
 * single family for both.
 */
function normalizeInput(a: ProxyAddresses): boolean {
  if (!isPort(a.sourcePort)) throw new RangeError(`PROXY header: bad source port ${String(a.sourcePort)}`);
  if (!isPort(a.destinationPort)) throw new RangeError(`PROXY header: bad destination port ${String(a.destinationPort)}`);
  if (!addressInto(a.sourceAddress, SCRATCH, 0)) throw new RangeError(`PROXY header: bad source address "${a.sourceAddress}"`);
  if (!addressInto(a.destinationAddress, SCRATCH, 16)) throw new RangeError(`PROXY header: bad destination address "${a.destinationAddress}"`);
  return isMapped(SCRATCH, 0) && isMapped(SCRATCH, 16);
}

function isPort(p: number): boolean {
  return Number.isInteger(p) && p >= 0 && p <= 65535;
}

/** Any IPv4 or IPv6 text (a %zone suffix, which Node gives for link-local peers, is dropped: PROXY has no zone). */
function addressInto(text: string, out: Uint8Array, off: number): boolean {
  if (typeof text !== 'string') return false;
  if (text.includes(':')) {
    const pct = text.indexOf('%');
    return parseIPv6(pct >= 0 ? text.slice(0, pct) : text, out, off);
  }
  out.fill(0, off, off + 10);
  out[off + 10] = 0xff;
  out[off + 11] = 0xff;
  return parseIPv4(text, 0, text.length, out, off + 12);
}

// ---------------------------------------------------------------------------------------------
// The header's address pair (text <-> bytes: net/ip-address.ts). Shared scratch: JS is
// single-threaded and no function here yields between filling and reading it.
const SCRATCH = Buffer.alloc(32);

function makeAddresses(v4: boolean, sourceAddress: string, destinationAddress: string, sourcePort: number, destinationPort: number): ProxyAddresses {
  return { family: v4 ? 'tcp4' : 'tcp6', sourceAddress, sourcePort, destinationAddress, destinationPort };
}

/** Two 16-byte addresses at b[s..], b[d..] → normalised pair (tcp4 when both are IPv4-mapped). */
function addressesFrom16(b: Uint8Array, s: number, d: number, sourcePort: number, destinationPort: number): ProxyAddresses {
  if (isMapped(b, s) && isMapped(b, d)) return makeAddresses(true, v4Text(b, s + 12), v4Text(b, d + 12), sourcePort, destinationPort);
  return makeAddresses(false, v6Text(b, s, true), v6Text(b, d, true), sourcePort, destinationPort);
}
