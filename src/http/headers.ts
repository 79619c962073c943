// Request header copying in one pass over the parsed field list (flat [name, value, ...]): RFC 9112 framing checks (duplicate Host, TE in HTTP/1.0, TE other than
// plain chunked, CL+TE, conflicting CL), hop-by-hop stripping (RFC 9110 §7.6.1, and every name
// listed in Connection), then the headers the proxy adds (X-Forwarded-*, Via) — added after
// stripping, so nothing named in Connection can remove them (SPEC "Decisions"). Connection can
// never remove Host or a framing field either: Host is copied where it stood (an absolute-form
// target's authority written into that very slot), Content-Length is re-serialized as the number
// (RFC 9112 §6.3: `0005` and 44-digit padded values reach no server verbatim) and chunked is
// re-added as the only framing (issue 13 rows 3, 7). Field names holding `_` are dropped unless
// the listener keeps them (nginx's `underscores_in_headers off`: CGI, WSGI and PHP map
// `X_Forwarded_For` and `X-Forwarded-For` to the same HTTP_X_FORWARDED_FOR; issue 13 row 8).
// The same pass collects what the connection handling needs (framing, Connection options,
// Upgrade, Expect).
import type { ForwardedPolicy } from './forwarded.ts';
import type { ClientInfo } from '../pool/connector.ts';
import type { UnderscoresInHeaders } from '../config/schema.ts';

/** RFC 9110 §7.6.1 plus the RFC 2616 list operators expect a proxy to drop. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** Headers the proxy sets itself on the way to the server. */
const REPLACED_ON_REQUEST = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'expect']);

/** Our Via entry (RFC 9110 §7.6.3). */
export const VIA = '1.1 fullproxy';
const DIGITS = /^[0-9]+$/;
/** Host = uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986): an IP literal or a reg-name; no userinfo. */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?$/;

/** What the header pass needs of the client connection: fixed for its life, built once per connection. */
export interface ForwardingContext {
  readonly policy: ForwardedPolicy;
  /** The client's address (X-Forwarded-For). */
  readonly peer: string;
  readonly proto: string;
  /** X-Forwarded-Port, as text. */
  readonly port: string;
  /** Drop request fields whose name holds `_` (listeners[].underscoresInHeaders "drop", the default). */
  readonly dropUnderscores: boolean;
  /** The address the client connected to (`host:port`, IPv6 in brackets): the Host of an HTTP/1.0 request without one. */
  readonly connectedTo: string;
}

export function forwardingContext(policy: ForwardedPolicy, info: ClientInfo, proto: string, underscores: UnderscoresInHeaders = 'drop'): ForwardingContext {
  const local = info.localAddress.includes(':') ? `[${info.localAddress}]` : info.localAddress;
  return { policy, peer: info.clientAddress, proto, port: String(info.localPort), dropUnderscores: underscores === 'drop', connectedTo: `${local}:${info.localPort}` };
}

/** Connection options of one message: the names it lists, and close / keep-alive / upgrade. */
interface ConnectionOptions {
  named: Set<string> | null;
  close: boolean;
  keepAlive: boolean;
  upgrade: boolean;
}

export interface RequestHead {
  /** Flat [name, value, ...] for the server, or null with `error` set when the request must get 400. */
  headers: string[] | null;
  error: string | null;
  /** The request carries a body (Content-Length > 0 or chunked). */
  hasBody: boolean;
  chunked: boolean;
  /** Content-Length, or 0 when absent. */
  contentLength: number;
  host: string;
  /** Connection: close (or HTTP/1.0 without keep-alive): the client connection ends after the response. */
  close: boolean;
  /** The Upgrade value when Connection lists "upgrade" (a WebSocket or other tunnel), else null. */
  upgrade: string | null;
  /** Expect: 100-continue was sent. */
  expectContinue: boolean;
  /** Field names the Connection header lists (lowercase, close and keep-alive aside), or null: hop-by-hop, dropped from trailers too. */
  connectionNames: ReadonlySet<string> | null;
}

/** Names listed in Connection headers, lowercased, and the three options a proxy acts on. */
function connectionOptions(raw: readonly string[]): ConnectionOptions {
  const opts: ConnectionOptions = { named: null, close: false, keepAlive: false, upgrade: false };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1]!.split(',')) {
      const tok = t.trim().toLowerCase();
      if (tok === 'close') opts.close = true;
      else if (tok === 'keep-alive') opts.keepAlive = true;
      else if (tok !== '') {
        if (tok === 'upgrade') opts.upgrade = true;
        (opts.named ??= new Set()).add(tok);
      }
    }
  }
  return opts;
}

/**
 * `authority`: the host of an absolute-form target (request-target.ts), which replaces the Host
 * value (RFC 9112 §3.2.2); null keeps the received Host.
 */
export function buildRequestHeaders(raw: readonly string[], httpVersion: string, authority: string | null, fc: ForwardingContext): RequestHead {
  const conn = connectionOptions(raw);
  const named = conn.named;
  const out: string[] = [];
  let hosts = 0;
  let host = '';
  /** Index in `out` of the Host value: the slot an absolute-form authority overwrites. */
  let hostValueAt = -1;
  let te: string | null = null;
  let cl: string | null = null;
  let xff: string | null = null;
  let via: string | null = null;
  let upgrade: string | null = null;
  let expectContinue = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        // Copied here, before any Connection check: a request routed by its Host reaches the
        // server with that Host, whatever Connection names (SPEC "Decisions"). Recording the
        // slot as it is written keeps the authority below from landing in another field.
        hosts++;
        host = value;
        hostValueAt = out.length + 1;
        out.push(name, value);
        continue;
      case 'content-length':
        if (!DIGITS.test(value) || (cl !== null && cl !== value)) return bad('conflicting or malformed Content-Length');
        cl = value;
        continue; // re-added once below
      case 'transfer-encoding':
        if (te !== null) return bad('more than one Transfer-Encoding');
        te = value;
        continue;
      case 'x-forwarded-for':
        xff = xff === null ? value : `${xff}, ${value}`;
        continue;
      case 'via':
        via = via === null ? value : `${via}, ${value}`;
        continue;
      case 'upgrade':
        upgrade = value;
        continue;
      case 'expect':
        if (value.toLowerCase() === '100-continue') expectContinue = true;
        continue;
    }
    if (HOP_BY_HOP.has(lower) || REPLACED_ON_REQUEST.has(lower) || (named !== null && named.has(lower))) continue;
    // nginx `underscores_in_headers off`: a name with `_` is rare, so one indexOf on the common path.
    if (fc.dropUnderscores && name.indexOf('_') !== -1) continue;
    out.push(name, value);
  }
  // RFC 9112 §3.2: one valid Host, even when an absolute-form target then overrides it. An
  // HTTP/1.0 request may omit it (SPEC "Decisions"; nginx and HAProxy accept it too): the server
  // gets the address the client connected to, or the absolute-form authority, so every request
  // a server sees has exactly one Host. Such a request matches no host route.
  if (hosts === 0 && httpVersion === '1.0') {
    hosts = 1;
    host = fc.connectedTo;
    hostValueAt = out.length + 1;
    out.push('host', host);
  }
  if (hosts !== 1) return bad(hosts === 0 ? 'no Host header' : 'more than one Host header');
  if (!HOST_VALUE.test(host)) return bad('malformed Host header');
  if (authority !== null) {
    if (!HOST_VALUE.test(authority)) return bad('malformed host in request target');
    host = authority;
    out[hostValueAt] = authority;
  }
  if (te !== null) {
    if (httpVersion === '1.0') return bad('Transfer-Encoding in HTTP/1.0');
    if (te.toLowerCase() !== 'chunked') return bad('Transfer-Encoding other than chunked');
    if (cl !== null) return bad('both Content-Length and Transfer-Encoding');
  }
  const contentLength = cl === null ? 0 : Number(cl);
  if (!Number.isSafeInteger(contentLength)) return bad('conflicting or malformed Content-Length');
  // The number, not the digits as received (issue 13 row 7): a server with digit-limited or
  // octal-minded parsing reads `0005` or a 44-digit value differently. Canonical values (the
  // common case) are forwarded as the same string, no allocation.
  if (cl !== null) out.push('content-length', cl.length === 1 || cl.charCodeAt(0) !== 48 ? cl : String(contentLength));
  // The chunked body is forwarded as received (validated by body-reader.ts), so it keeps its framing.
  else if (te !== null) out.push('transfer-encoding', 'chunked');
  const forwardedFor = fc.policy.forwardedFor(xff, fc.peer);
  if (forwardedFor !== null) out.push('x-forwarded-for', forwardedFor);
  else if (xff !== null) out.push('x-forwarded-for', xff); // policy "off": passed through untouched
  out.push('x-forwarded-proto', fc.proto, 'x-forwarded-port', fc.port, 'via', via === null ? VIA : `${via}, ${VIA}`);
  return {
    headers: out,
    error: null,
    hasBody: te !== null || contentLength > 0,
    chunked: te !== null,
    contentLength,
    host,
    close: httpVersion === '1.0' ? !conn.keepAlive || conn.close : conn.close,
    upgrade: conn.upgrade && upgrade !== null ? upgrade : null,
    expectContinue,
    connectionNames: named,
  };
}

function bad(error: string): RequestHead {
  return { headers: null, error, hasBody: false, chunked: false, contentLength: 0, host: '', close: true, upgrade: null, expectContinue: false, connectionNames: null };
}

/** Serializes a flat [name, value, ...] list as field lines. */
export function fieldLines(fields: readonly string[]): string {
  let s = '';
  for (let i = 0; i < fields.length; i += 2) s += `${fields[i]}: ${fields[i + 1]}\r\n`;
  return s;
}
