// Content switching: routes (host, pathPrefix) → pool, first match wins, the listener's pool
// otherwise. Compiled once per config; match() compares strings only.
//
// What routing compares (issue 13, row 11). A route must not be escaped by spelling the same
// resource differently, so routing compares a normalized form of the request; what is forwarded
// is never changed by it (the server gets the target and Host exactly as received):
// - Host: without the port, without trailing dots (`api.example.com.` is the same name in DNS,
//   RFC 1034 §3.1) and in lowercase (RFC 9110 §4.2.3: the host is case-insensitive). A missing
//   Host (or one of dots only) matches no host route.
// - Path: the target up to the first `?` or `#` (the query never takes part; a pathPrefix with a
//   `?` in it therefore never matches), then normalized as RFC 3986 §6.2.2 does: percent-encoded
//   unreserved characters decoded (`%2e`/`%2E` are dots, `%61` is `a`), the hex digits of the other
//   triplets in uppercase, then dot-segments removed (§5.2.4: `/raw/../secret` is `/secret`,
//   `/raw/%2e%2e/secret` too, `/x/../raw/y` is `/raw/y`). `%2F` stays an encoded character
//   inside its segment, not a separator: `/raw%2F..%2Fsecret` is one segment (RFC 3986 §2.2: an
//   encoded reserved character is data; HAProxy's `normalize-uri` and Envoy's default treat it
//   the same). A server that decodes `%2F` before resolving dot-segments may see a different path
//   than routing did; in front of such servers, do not rely on a path route alone to keep
//   requests away from a pool. Repeated slashes are not merged (RFC 3986 keeps `//` distinct).
//   Targets not in origin-form (`*`) are compared as received.
// - A route's host (trailing dots, case) and pathPrefix (normalizePath) are normalized the same
//   way when the config is compiled.
//
// Cost: the common request (no `%`, no `.`/`..` segment, a lowercase Host without trailing dot)
// is scanned once and compared in place; nothing is allocated. Only the rest builds a string.
import type { ListenerConfig } from '../config/schema.ts';

interface CompiledRoute {
  readonly host: string | null; // the configured host without trailing dots, lowercase
  readonly pathPrefix: string | null; // normalizePath() of the configured prefix
  readonly pool: string;
}

export class Router {
  readonly #routes: readonly CompiledRoute[];
  readonly #default: string;

  constructor(cfg: ListenerConfig) {
    this.#default = cfg.pool;
    this.#routes = cfg.routes.map((r) => ({
      // Trailing dots and case only: a configured port is kept (such a route matches no request).
      host: r.host === undefined ? null : r.host.replace(/\.+$/, '').toLowerCase(),
      pathPrefix: r.pathPrefix === undefined ? null : normalizePath(r.pathPrefix),
      pool: r.pool,
    }));
  }

  /**
   * The pool for a request: `host` is its Host value (may carry a port; an absolute-form target's
   * host has replaced it, request-target.ts), `target` its target in origin-form as received.
   */
  match(host: string | undefined, target: string): string {
    const routes = this.#routes;
    if (routes.length === 0) return this.#default;
    const h = host ?? '';
    // Worked out at the first route that needs them: the name is h[0, hostEnd), lowered only when
    // it has capitals; the path is target[0, pathEnd), normalized only when it needs it.
    let hostEnd = -1;
    let lowered: string | null = null;
    let pathEnd = -1;
    let normalized: string | null = null;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i]!;
      if (r.host !== null) {
        if (hostEnd < 0) {
          hostEnd = nameEnd(h);
          if (hasCapitals(h, hostEnd)) lowered = h.slice(0, hostEnd).toLowerCase();
        }
        // An empty name (no Host, or only dots) matches no host route, whatever the config says.
        if (hostEnd === 0 || (lowered !== null ? r.host !== lowered : r.host.length !== hostEnd || !h.startsWith(r.host))) continue;
      }
      if (r.pathPrefix !== null) {
        if (pathEnd < 0) {
          pathEnd = pathEndOf(target);
          if (needsNormalizing(target, pathEnd)) normalized = normalizePath(target.slice(0, pathEnd));
        }
        if (normalized !== null ? !normalized.startsWith(r.pathPrefix) : r.pathPrefix.length > pathEnd || !target.startsWith(r.pathPrefix)) continue;
      }
      return r.pool;
    }
    return this.#default;
  }
}

/** End of the host name in a Host value: before the port (IPv6 literals keep their brackets) and any trailing dots. */
function nameEnd(host: string): number {
  let end: number;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf(']');
    end = close < 0 ? host.length : close + 1;
  } else {
    const colon = host.indexOf(':');
    end = colon < 0 ? host.length : colon;
  }
  while (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  return end;
}

/** Whether toLowerCase() could change s[0, end): ASCII capitals, or anything beyond ASCII. */
function hasCapitals(s: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return true;
  }
  return false;
}

/** End of the path in a target: the first `?` or `#`, else its length. */
function pathEndOf(target: string): number {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return i;
  }
  return target.length;
}

/** Whether target[0, end) (an origin-form path) has a `%` or a `.` or `..` segment. */
function needsNormalizing(target: string, end: number): boolean {
  if (target.charCodeAt(0) !== 47 /* / */) return false;
  for (let i = 1; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c === 37 /* % */) return true;
    if (c !== 46 /* . */ || target.charCodeAt(i - 1) !== 47) continue;
    let j = i + 1;
    if (j < end && target.charCodeAt(j) === 46) j++;
    if (j === end || target.charCodeAt(j) === 47) return true;
  }
  return false;
}

/**
 * RFC 3986 §6.2.2 on an absolute path (no query): unreserved characters decoded, other triplets'
 * hex in uppercase, dot-segments removed (§5.2.4). Anything not starting with `/` is returned as is.
 */
export function normalizePath(path: string): string {
  if (path.charCodeAt(0) !== 47 /* / */) return path;
  return removeDotSegments(path.includes('%') ? decodeUnreserved(path) : path);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." / "_" / "~". */
function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126;
}

/** §6.2.2.1/§6.2.2.2: `%2e` → `.`, `%2f` → `%2F`; a `%` without two hex digits stays as it is. */
function decodeUnreserved(path: string): string {
  let out = '';
  let from = 0;
  for (let i = path.indexOf('%'); i >= 0 && i + 2 < path.length; i = path.indexOf('%', i + 1)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) continue;
    const v = hi * 16 + lo;
    out += path.slice(from, i) + (isUnreserved(v) ? String.fromCharCode(v) : path.slice(i, i + 3).toUpperCase());
    from = i + 3;
    i += 2;
  }
  return out + path.slice(from);
}

/** RFC 3986 §5.2.4 for an absolute path: `.` segments dropped, `..` takes the segment before it; a final one leaves a `/`. */
function removeDotSegments(path: string): string {
  const input = path.split('/'); // input[0] is '' (the leading '/')
  const out: string[] = [];
  const last = input.length - 1;
  for (let i = 1; i <= last; i++) {
    const seg = input[i]!;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      if (i === last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}`;
}
