// The admin HTTP server on admin.listen: bearer-token check (every endpoint but /healthz) and the
// route table. Handlers live in api.ts; metrics in metrics.ts; the dashboard is one static page.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { AdminView as Proxy } from './view.ts';
import { parseHostPort } from '../net/address.ts';
import { createMetricsRegistry, type MetricsRegistry } from './metrics.ts';
import * as api from './api.ts';

// Not `import ... from 'node:http'`: Node's ESM facade of a builtin reads every export, and
// node:http's lazy WebSocket/fetch getters then load undici: 13 MB of RSS for nothing (issue 18 §11).
const { createServer } = process.getBuiltinModule('node:http');
const DASHBOARD = readFileSync(new URL('./dashboard.html', import.meta.url));
const SERVER_ACTION = /^\/api\/v1\/pools\/([^/]+)\/servers\/([^/]+)\/(drain|enable)$/;

export class AdminServer {
  readonly #proxy: Proxy;
  readonly #server: HttpServer;
  #token: Buffer | null;
  readonly #registry: MetricsRegistry;
  readonly #listen: string;

  constructor(proxy: Proxy, listen: string, token: string | undefined) {
    this.#proxy = proxy;
    this.#listen = listen;
    this.#token = token === undefined ? null : Buffer.from(`Bearer ${token}`);
    this.#registry = createMetricsRegistry(proxy);
    this.#server = createServer((req, res) => {
      this.#route(req, res).catch((err: unknown) => {
        proxy.log.error({ err, url: req.url }, 'admin request failed');
        if (!res.headersSent) send(res, 500, { error: 'internal error' });
        else res.destroy();
      });
    });
    this.#server.keepAliveTimeout = 5_000;
  }

  /** A reload's admin.token (the address needs a restart: runtime.ts refuses that change). */
  setToken(token: string | undefined): void {
    this.#token = token === undefined ? null : Buffer.from(`Bearer ${token}`);
  }

  listen(): Promise<{ host: string; port: number }> {
    const ep = parseHostPort(this.#listen, true)!;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(ep.port, ep.host, () => {
        this.#server.removeListener('error', reject);
        const a = this.#server.address();
        if (a === null || typeof a === 'string') return reject(new Error('admin server not bound'));
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #authorized(req: IncomingMessage): boolean {
    if (this.#token === null) return true;
    const got = Buffer.from(req.headers.authorization ?? '');
    return got.length === this.#token.length && timingSafeEqual(got, this.#token);
  }

  async #route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const proxy = this.#proxy;
    if (path === '/healthz') {
      const serving = !proxy.draining;
      return send(res, serving ? 200 : 503, { status: serving ? 'ok' : 'draining' });
    }
    if (!this.#authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, { error: 'missing or wrong bearer token' });
    }
    if (req.method === 'GET') {
      switch (path) {
        case '/':
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
          return void res.end(DASHBOARD);
        case '/metrics': {
          const text = await this.#registry.metrics();
          res.writeHead(200, { 'content-type': this.#registry.contentType });
          return void res.end(text);
        }
        case '/api/v1/stats':
          return send(res, 200, api.stats(proxy));
        case '/api/v1/sessions':
          return send(res, 200, api.sessions(proxy, Number(url.searchParams.get('limit') ?? 1000)));
        case '/api/v1/pools':
          return send(res, 200, { pools: api.pools(proxy) });
      }
    }
    if (req.method === 'POST') {
      const m = SERVER_ACTION.exec(path);
      if (m !== null) {
        const result = api.setServerAdmin(proxy, decodeURIComponent(m[1]!), decodeURIComponent(m[2]!), m[3] as 'drain' | 'enable');
        return result === null ? send(res, 404, { error: 'no such pool or server' }) : send(res, 200, result);
      }
      if (path === '/api/v1/reload') {
        const result = await proxy.reload();
        return send(res, result.ok ? 200 : 400, result);
      }
    }
    const acl = await api.aclRoute(proxy, req, path, url);
    if (acl !== null) return send(res, acl.status, acl.body);
    return send(res, 404, { error: `no route ${req.method} ${path}` });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
