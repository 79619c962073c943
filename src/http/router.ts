// Content switching: routes (host, pathPrefix) → pool, first match wins, the listener's pool
// otherwise. Compiled once per config; match() compares strings only.
import type { ListenerConfig } from '../config/schema.ts';

interface CompiledRoute {
  readonly host: string | null; // lowercase, without port
  readonly pathPrefix: string | null;
  readonly pool: string;
}

export class Router {
  readonly #routes: readonly CompiledRoute[];
  readonly #default: string;

  constructor(cfg: ListenerConfig) {
    this.#default = cfg.pool;
    this.#routes = cfg.routes.map((r) => ({ host: r.host?.toLowerCase() ?? null, pathPrefix: r.pathPrefix ?? null, pool: r.pool }));
  }

  /**
   * The pool for a request. An absolute-form target (`GET http://host/path`) names the host itself
   * and it wins over the Host header (RFC 9112 §3.2.2); routes then see its path.
   */
  route(host: string, target: string): string {
    if (target.charCodeAt(0) === 47 /* / */) return this.match(host, target);
    const scheme = target.indexOf('://');
    if (scheme < 0) return this.match(host, target);
    const slash = target.indexOf('/', scheme + 3);
    return this.match(target.slice(scheme + 3, slash < 0 ? target.length : slash), slash < 0 ? '/' : target.slice(slash));
  }

  /** `host` is the Host header as received (may carry a port); `path` the request target. */
  match(host: string | undefined, path: string): string {
    if (this.#routes.length === 0) return this.#default;
    const h = host === undefined ? '' : stripPort(host).toLowerCase();
    for (const r of this.#routes) {
      if (r.host !== null && r.host !== h) continue;
      if (r.pathPrefix !== null && !path.startsWith(r.pathPrefix)) continue;
      return r.pool;
    }
    return this.#default;
  }
}

function stripPort(host: string): string {
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
