// The server name of a TLS ClientHello, read without terminating TLS (SNI passthrough routing:
// HAProxy's req.ssl_sni, Traefik's HostSNI). The bytes are only looked at, never changed: the
// caller forwards them as they came.
//
//   record:    type 0x16 | version(2) | length(2) | fragment          (RFC 8446 §5.1)
//   handshake: type 0x01 | length(3) | ClientHello                    (§4, may span records)
//   ClientHello: version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
//                compression_methods<1..2^8-1> extensions<8..2^16-1>  (§4.1.2)
//   server_name extension (type 0): list<1..2^16-1> of { name_type(1) = 0, host_name<1..2^16-1> }
//                                                                      (RFC 6066 §3)
//
// Every length is checked against what contains it; anything that does not add up is an error,
// which the caller treats like a ClientHello without SNI (default pool) or closes.

export type ClientHelloResult =
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'ok'; readonly servername: string | null }
  | { readonly kind: 'error'; readonly reason: string };

/** A ClientHello larger than this is refused (real ones, post-quantum key shares included, stay under 4 KiB). */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

const INCOMPLETE: ClientHelloResult = { kind: 'incomplete' };
const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
/** A DNS name: letters, digits, hyphens, dots (RFC 6066 §3: "HostName" is an ASCII DNS name, no trailing dot). */
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

function fail(reason: string): ClientHelloResult {
  return { kind: 'error', reason };
}

/**
 * Reads the bytes a client sent first. `incomplete` until the whole ClientHello has arrived (it may
 * come in several segments, and in several TLS records).
 */
export function parseClientHello(buf: Buffer): ClientHelloResult {
  // Reassemble the handshake message from the records' fragments.
  let hello: Buffer | null = null;
  let needed = -1; // handshake body length, once known
  let have = 0;
  const parts: Buffer[] = [];
  let p = 0;
  for (;;) {
    if (buf.length - p < 5) return INCOMPLETE;
    if (buf[p] !== RECORD_HANDSHAKE) return fail(p === 0 ? 'not a TLS handshake record' : 'a non-handshake record inside the ClientHello');
    if (buf[p + 1] !== 0x03) return fail('not a TLS record version');
    const len = buf.readUInt16BE(p + 3);
    if (len === 0 || len > 16384) return fail('bad record length');
    if (buf.length - p - 5 < len) return INCOMPLETE;
    parts.push(buf.subarray(p + 5, p + 5 + len));
    have += len;
    p += 5 + len;
    if (needed < 0 && have >= 4) {
      const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return fail('the first handshake message is not a ClientHello');
      needed = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (needed > MAX_CLIENT_HELLO_BYTES) return fail('ClientHello too large');
    }
    if (needed >= 0 && have >= 4 + needed) {
      const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      hello = all.subarray(4, 4 + needed);
      break;
    }
    if (have > MAX_CLIENT_HELLO_BYTES + 4) return fail('ClientHello too large');
  }
  return serverName(hello);
}

/** The server_name of a complete ClientHello body. */
function serverName(h: Buffer): ClientHelloResult {
  let p = 2 + 32; // legacy_version, random
  if (h.length < p + 1) return fail('ClientHello truncated');
  p += 1 + h[p]!; // session id
  if (h.length < p + 2) return fail('ClientHello truncated');
  const suites = h.readUInt16BE(p);
  if (suites < 2 || suites % 2 !== 0) return fail('bad cipher_suites length');
  p += 2 + suites;
  if (h.length < p + 1) return fail('ClientHello truncated');
  const compression = h[p]!;
  if (compression < 1) return fail('bad compression_methods length');
  p += 1 + compression;
  if (p === h.length) return { kind: 'ok', servername: null }; // no extensions at all (TLS 1.2 allows it)
  if (h.length < p + 2) return fail('ClientHello truncated');
  const extEnd = p + 2 + h.readUInt16BE(p);
  if (extEnd !== h.length) return fail('extensions length does not match the ClientHello');
  p += 2;
  let name: string | null = null;
  let seen = false;
  while (p < extEnd) {
    if (extEnd - p < 4) return fail('extension header truncated');
    const type = h.readUInt16BE(p);
    const len = h.readUInt16BE(p + 2);
    p += 4;
    if (extEnd - p < len) return fail('extension longer than the extensions block');
    if (type === EXT_SERVER_NAME) {
      if (seen) return fail('two server_name extensions');
      seen = true;
      const r = hostName(h, p, p + len);
      if (typeof r !== 'string' && r !== null) return r;
      name = r;
    }
    p += len;
  }
  return { kind: 'ok', servername: name };
}

/** The host_name in a server_name extension's data [start, end), lowercased. */
function hostName(h: Buffer, start: number, end: number): string | null | ClientHelloResult {
  if (end - start < 2) return fail('server_name truncated');
  const listEnd = start + 2 + h.readUInt16BE(start);
  if (listEnd !== end) return fail('server_name list length does not match');
  let p = start + 2;
  let name: string | null = null;
  while (p < listEnd) {
    if (listEnd - p < 3) return fail('server_name entry truncated');
    const type = h[p]!;
    const len = h.readUInt16BE(p + 1);
    p += 3;
    if (listEnd - p < len || len === 0) return fail('bad server_name entry length');
    if (type === 0) {
      if (name !== null) return fail('two host_name entries'); // RFC 6066 §3: at most one per type
      const text = h.toString('latin1', p, p + len);
      if (!HOST_NAME.test(text)) return fail('host_name is not a DNS name');
      name = text.toLowerCase();
    }
    p += len;
  }
  return name;
}
