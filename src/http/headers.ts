// Request and response header copying in one pass over Node's flat rawHeaders: RFC 9112
// framing checks the parser leaves to us (duplicate Host, TE in HTTP/1.0, TE other than plain
// chunked, CL+TE, conflicting CL), hop-by-hop stripping (RFC 9110 §7.6.1, and every name listed
// in Connection), then the headers the proxy adds (X-Forwarded-*, Via) — added after stripping,
// so nothing named in Connection can remove them (SPEC "Decisions").
import type { ForwardedPolicy } from './forwarded.ts';

/** RFC 9110 §7.6.1 plus the RFC 2616 list operators expect a proxy to drop. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization']);

/** Headers the proxy sets itself on the way to the server. */
const REPLACED_ON_REQUEST = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-port', 'expect']);

const VIA = '1.1 fullproxy';
const DIGITS = /^[0-9]+$/;

export interface RequestHead {
  /** Flat [name, value, ...] for the server, or null with `error` set when the request must get 400. */
  headers: string[] | null;
  error: string | null;
  /** The request carries a body (Content-Length > 0 or chunked). */
  hasBody: boolean;
}

/** Names listed in Connection headers, lowercased (only allocated when present). */
function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 10 || name.toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1]!.split(',')) {
      const tok = t.trim().toLowerCase();
      if (tok !== '' && tok !== 'close' && tok !== 'keep-alive') (tokens ??= new Set()).add(tok);
    }
  }
  return tokens;
}

export function buildRequestHeaders(raw: readonly string[], httpVersion: string, policy: ForwardedPolicy, peer: string, proto: string, port: number): RequestHead {
  const named = connectionTokens(raw);
  const out: string[] = [];
  let hosts = 0;
  let te: string | null = null;
  let cl: string | null = null;
  let xff: string | null = null;
  let via: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    switch (lower) {
      case 'host':
        hosts++;
        break;
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
    }
    if (HOP_BY_HOP.has(lower) || REPLACED_ON_REQUEST.has(lower) || (named !== null && named.has(lower))) continue;
    out.push(name, value);
  }
  if (hosts !== 1) return bad(hosts === 0 ? 'no Host header' : 'more than one Host header');
  if (te !== null) {
    if (httpVersion === '1.0') return bad('Transfer-Encoding in HTTP/1.0');
    if (te.trim().toLowerCase() !== 'chunked') return bad('Transfer-Encoding other than chunked');
    if (cl !== null) return bad('both Content-Length and Transfer-Encoding');
  }
  if (cl !== null) out.push('content-length', cl);
  const forwardedFor = policy.forwardedFor(xff, peer);
  if (forwardedFor !== null) out.push('x-forwarded-for', forwardedFor);
  else if (xff !== null) out.push('x-forwarded-for', xff); // policy "off": passed through untouched
  out.push('x-forwarded-proto', proto, 'x-forwarded-port', String(port), 'via', via === null ? VIA : `${via}, ${VIA}`);
  return { headers: out, error: null, hasBody: te !== null || (cl !== null && cl !== '0') };
}

function bad(error: string): RequestHead {
  return { headers: null, error, hasBody: false };
}

/** Response headers for the client, from undici's raw Buffer pairs: hop-by-hop dropped, Via added. */
export function buildResponseHeaders(raw: readonly Buffer[]): string[] {
  const out: string[] = [];
  let named: Set<string> | null = null;
  let via: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    if (lower === 'connection') {
      for (const t of value.split(',')) (named ??= new Set()).add(t.trim().toLowerCase());
      continue;
    }
    if (lower === 'via') {
      via = via === null ? value : `${via}, ${value}`;
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    out.push(name, value);
  }
  if (named !== null) {
    let w = 0;
    for (let r = 0; r < out.length; r += 2) {
      if (named.has(out[r]!.toLowerCase())) continue;
      out[w++] = out[r]!;
      out[w++] = out[r + 1]!;
    }
    out.length = w;
  }
  out.push('via', via === null ? VIA : `${via}, ${VIA}`);
  return out;
}

/** Trailers from undici's raw pairs, for res.addTrailers. */
export function trailersToObject(raw: readonly Buffer[]): Record<string, string> {
  const obj: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) obj[raw[i]!.toString('latin1')] = raw[i + 1]!.toString('latin1');
  return obj;
}
