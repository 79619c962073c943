// The request-target as the server gets it (RFC 9112 §3.2). fullproxy talks to origin servers,
// so a target in absolute-form (`GET http://host/path`, what clients send to a forward proxy)
// goes out in origin-form (`/path`), as §3.2.1 asks of a client talking to an origin server, and
// its authority replaces the Host value (§3.2.2: the target's host wins over Host). The router,
// the server and the logs then all see one host and one path; nginx does the same.
//
// Anything that is none of the four forms is a 400 here, before routing: a target like
// `example.com/x` or `GET *` means something different to every server that would "repair" it.

/** An absolute-form target as the server gets it: its Host value and origin-form target, or the reason for a 400 (authority null). */
export interface ForwardedTarget {
  authority: string | null;
  target: string;
  error: string | null;
}

const SCHEME = /^[A-Za-z][A-Za-z0-9+\-.]*:\/\//;

function forwarded(authority: string, target: string): ForwardedTarget {
  return { authority, target, error: null };
}

function invalid(error: string): ForwardedTarget {
  return { authority: null, target: '', error };
}

/**
 * `method` and `target` as received (message-head.ts has checked the characters). Null when the
 * target goes out as received with the received Host: origin-form (nearly every request, so
 * nothing is allocated for it), `OPTIONS *`, and CONNECT's authority-form (refused later).
 */
export function forwardedTarget(method: string, target: string): ForwardedTarget | null {
  if (target.charCodeAt(0) === 47 /* / */) return null;
  if (target === '*') return method === 'OPTIONS' ? null : invalid('asterisk-form target outside OPTIONS');
  if (method === 'CONNECT') return null;
  const m = SCHEME.exec(target);
  if (m === null) return invalid('malformed request target');
  const scheme = m[0].slice(0, -3).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return invalid(`unsupported scheme in request target: ${scheme}`);
  const start = m[0].length;
  let end = start;
  while (end < target.length) {
    const c = target.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) break;
    end++;
  }
  const authority = target.slice(start, end);
  // RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid; §4.2.4: userinfo is an error.
  if (authority === '' || authority.charCodeAt(0) === 58 /* : */) return invalid('request target without a host');
  if (authority.includes('@')) return invalid('userinfo in request target');
  // absolute-URI has no fragment (RFC 3986 §4.3); one sent anyway is not the server's business.
  const hash = target.indexOf('#', end);
  const rest = hash < 0 ? target.slice(end) : target.slice(end, hash);
  // §3.2.1: an empty path goes out as "/"; §3.2.4: as "*" for a server-wide OPTIONS.
  if (rest === '') return forwarded(authority, method === 'OPTIONS' ? '*' : '/');
  return forwarded(authority, rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest);
}
