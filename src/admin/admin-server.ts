// The admin HTTP server on admin.listen: bearer-token check (every endpoint but /healthz and the
// dashboard page) and the route table (405 + Allow for a known path with another method).
// Handlers live in api.ts and acl-api.ts; metrics in metrics.ts; the dashboard is one static page.
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import type { AdminView as Proxy } from './view.ts';
import { parseHostPort } from '../net/address.ts';
import { createMetricsRegistry, type MetricsRegistry } from './metrics.ts';
import * as api from './api.ts';
import type { AdminAnswer } from './acl-api.ts';

// Not `import ... from 'node:http'`: Node's ESM facade of a builtin reads every export, and
// node:http's lazy WebSocket/fetch getters then load undici: 13 MB of RSS for nothing (issue 18 §11).
const { createServer } = process.getBuiltinModule('node:http');
const PAGE = readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8');
// The page reads <meta name="fullproxy-auth"> to know whether to ask for the token before its
// first call; the file says "none", served as is when no token is set.
const AUTH_META = '<meta name="fullproxy-auth" content="none">';
if (!PAGE.includes(AUTH_META)) throw new Error(`dashboard.html lost its ${AUTH_META}`);
const DASHBOARD_OPEN = Buffer.from(PAGE);
const DASHBOARD_TOKEN = Buffer.from(PAGE.replace(AUTH_META, '<meta name="fullproxy-auth" content="bearer">'));
// One static page with inline script and style, nothing from elsewhere: the CSP says so, and
// frame-ancestors keeps its buttons (drain, kill) from being clicked through someone else's frame.
const DASHBOARD_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

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
    let route: Route | undefined;
    let m: RegExpExecArray | null = null;
    for (const r of ROUTES) {
      m = r.path.exec(path);
      if (m !== null) {
        route = r;
        break;
      }
    }
    if (route?.open !== true && !this.#authorized(req)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(res, 401, { error: 'missing or wrong bearer token' });
    }
    if (route === undefined || m === null) return send(res, 404, { error: `no route ${req.method} ${path}` });
    // HEAD is GET without the body (RFC 9110 §9.3.2): node's ServerResponse drops the body itself.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? '');
    const handler = Object.hasOwn(route.methods, method) ? route.methods[method] : undefined;
    if (handler === undefined) {
      // RFC 9110 §15.5.6: a known resource, a method it does not have: 405 and what it does have.
      res.setHeader('allow', allowOf(route));
      return send(res, 405, { error: `${req.method} not allowed on ${path} (allowed: ${allowOf(route)})` });
    }
    return handler.call(this, { req, res, url, m });
  }

  /** GET /: the page, told whether a token is needed, so that it asks before its first call (no 401 to log). */
  serveDashboard(res: ServerResponse): void {
    res.writeHead(200, DASHBOARD_HEADERS);
    res.end(this.#token === null ? DASHBOARD_OPEN : DASHBOARD_TOKEN);
  }

  async serveMetrics(res: ServerResponse): Promise<void> {
    const text = await this.#registry.metrics();
    res.writeHead(200, { 'content-type': this.#registry.contentType });
    res.end(text);
  }

  get proxy(): Proxy {
    return this.#proxy;
  }
}

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The path's match: captures are the route's parameters, still URL-encoded. */
  m: RegExpExecArray;
}

type Handler = (this: AdminServer, call: Call) => void | Promise<void>;

interface Route {
  readonly path: RegExp;
  /** Served without the token: /healthz (probes) and the dashboard page, which holds no data and
   *  cannot be fetched with a bearer header by a browser's address bar; every call it makes needs it. */
  readonly open?: boolean;
  readonly methods: Readonly<Record<string, Handler>>;
}

// The route table: every path the admin serves and its methods (a known path with another method
// gets 405 + Allow; an unknown path 404). Handlers in api.ts and acl-api.ts.
const ROUTES: readonly Route[] = [
  { path: /^\/$/, open: true, methods: { GET(c) { this.serveDashboard(c.res); } } },
  {
    path: /^\/healthz$/,
    open: true,
    methods: {
      GET(c) {
        const serving = !this.proxy.draining;
        send(c.res, serving ? 200 : 503, { status: serving ? 'ok' : 'draining' });
      },
    },
  },
  { path: /^\/metrics$/, methods: { GET(c) { return this.serveMetrics(c.res); } } },
  { path: /^\/api\/v1\/stats$/, methods: { GET(c) { send(c.res, 200, api.stats(this.proxy)); } } },
  { path: /^\/api\/v1\/pools$/, methods: { GET(c) { send(c.res, 200, { pools: api.pools(this.proxy) }); } } },
  { path: /^\/api\/v1\/sessions$/, methods: { GET(c) { answer(c.res, api.sessions(this.proxy, c.url.searchParams)); } } },
  {
    path: /^\/api\/v1\/sessions\/([^/]+)$/,
    methods: {
      GET(c) { answer(c.res, api.session(this.proxy, decode(c.m[1]!))); },
      DELETE(c) { answer(c.res, api.killSession(this.proxy, decode(c.m[1]!))); },
    },
  },
  {
    path: /^\/api\/v1\/pools\/([^/]+)\/servers\/([^/]+)\/(drain|enable)$/,
    methods: {
      POST(c) {
        const result = api.setServerAdmin(this.proxy, decode(c.m[1]!), decode(c.m[2]!), c.m[3] as 'drain' | 'enable');
        if (result === null) send(c.res, 404, { error: 'no such pool or server' });
        else send(c.res, 200, result);
      },
    },
  },
  {
    path: /^\/api\/v1\/reload$/,
    methods: {
      async POST(c) {
        const result = await this.proxy.reload();
        send(c.res, result.ok ? 200 : 400, result);
      },
    },
  },
  { path: /^\/api\/v1\/acl$/, methods: { GET: acl } },
  { path: /^\/api\/v1\/acl\/deny$/, methods: { POST: acl } },
  { path: /^\/api\/v1\/acl\/deny\/.+$/, methods: { DELETE: acl } }, // the CIDR's "/" may come unencoded (acl-api.ts)
];

/** The runtime-deny routes are acl-api.ts's: it matches path and method again and answers. */
async function acl(this: AdminServer, c: Call): Promise<void> {
  const result = await api.aclRoute(this.proxy, c.req, c.url.pathname, c.url);
  if (result === null) send(c.res, 404, { error: `no route ${c.req.method} ${c.url.pathname}` });
  else answer(c.res, result);
}

function allowOf(route: Route): string {
  const methods = Object.keys(route.methods);
  if (methods.includes('GET')) methods.splice(methods.indexOf('GET') + 1, 0, 'HEAD');
  return methods.join(', ');
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray '%': the name as written, which then matches nothing (404)
  }
}

function answer(res: ServerResponse, a: AdminAnswer): void {
  send(res, a.status, a.body);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
