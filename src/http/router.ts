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
   * The pool for a request: `host` is its Host value (may carry a port; an absolute-form target's
   * host has replaced it, request-target.ts), `path` its target in origin-form.
   */
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
