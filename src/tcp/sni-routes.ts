// SNI passthrough routing for tcp listeners (`routes: [{sni, pool}]`, SPEC): the server name of
// the client's ClientHello (net/client-hello.ts) picks the pool; the TLS bytes go to its server
// unchanged. Exact names first, then "*.example.com" (one label, as certificates match), first
// route wins within each; no name, an unknown name or a ClientHello that cannot be read: the
// listener's default pool. Compiled once per config; match() is two map lookups.

export class SniRoutes<T> {
  readonly #exact = new Map<string, T>();
  readonly #wildcard = new Map<string, T>();

  constructor(routes: ReadonlyArray<{ readonly sni: string; readonly target: T }>) {
    for (const r of routes) {
      const name = r.sni.toLowerCase();
      if (name.startsWith('*.')) {
        if (!this.#wildcard.has(name.slice(2))) this.#wildcard.set(name.slice(2), r.target);
      } else if (!this.#exact.has(name)) this.#exact.set(name, r.target);
    }
  }

  /** The target for a server name (lowercase, from parseClientHello), or null for the default. */
  match(servername: string | null): T | null {
    if (servername === null) return null;
    const exact = this.#exact.get(servername);
    if (exact !== undefined) return exact;
    const dot = servername.indexOf('.');
    return dot > 0 ? (this.#wildcard.get(servername.slice(dot + 1)) ?? null) : null;
  }
}
