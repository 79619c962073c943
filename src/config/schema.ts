// The JSON configuration of SPEC.md as a zod schema; the TypeScript types are inferred from it,
// never written twice. Objects are strict (unknown keys are errors, SPEC), defaults come from
// defaults.ts. Cross-references (pool names, uniqueness) are checked in validate.ts.
// Blocks marked "refused" describe a feature as it will be; until it lands validate.ts refuses the
// key before this schema sees it (NOT_IMPLEMENTED there), so nothing here reaches the running proxy.
//
// zod/mini, the functional form of the same library (z.optional(x), z._default(x, v), checks in
// .check()): the same schema objects, issues and JSON Schema as zod's classic API, for a few MB
// less of resident memory in the shipped bundle (issue 18 §11; figures in README "Footprint").
// Messages are worded in validate.ts, not by a zod locale.
import { isIP } from 'node:net';
import * as z from 'zod/mini';
import { DEFAULTS } from './defaults.ts';
import { parseDuration } from './duration.ts';
import { parseHostPort } from '../net/address.ts';

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v));

/** "250ms" | "5s" | "2m" | "1h" | integer milliseconds → milliseconds. */
export const duration = z.pipe(
  z.unknown(),
  z.transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.issues.push({ code: 'custom', input: v, message: `expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got ${show(v)}` });
      return z.NEVER;
    }
    return ms;
  }),
);

/** host:port; port 0 only where the caller allows it (listeners in tests bind port 0). */
const hostPort = (allowZero: boolean) =>
  // A missing address falls through to validate.ts, which says "required" for every missing key.
  z.string({ error: (i) => (i.input === undefined ? undefined : `expected host:port, got ${show(i.input)}`) }).check(
    z.refine((s) => parseHostPort(s, allowZero) !== null, { error: (i) => `expected host:port, got ${show(i.input)}` }),
  );

const ip = z.string().check(z.refine((s) => isIP(s) !== 0, { error: (i) => `expected an IP address, got ${show(i.input)}` }));

const cidr = z.string().check(
  z.refine(
    (s) => {
      const [addr, bits, extra] = s.split('/');
      if (extra !== undefined || addr === undefined) return false;
      const family = isIP(addr);
      if (family === 0) return false;
      if (bits === undefined) return true;
      if (!/^[0-9]{1,3}$/.test(bits)) return false;
      return Number(bits) <= (family === 4 ? 32 : 128);
    },
    { error: (i) => `expected an IP address or CIDR like "10.0.0.0/8", got ${show(i.input)}` },
  ),
);

/** An integer from `min` (to `max`), as classic zod's z.int().min().max() checks it. */
const int = (min: number, max?: number) => (max === undefined ? z.int().check(z.minimum(min)) : z.int().check(z.minimum(min), z.maximum(max)));
const nonEmpty = () => z.string().check(z.minLength(1));
const port = int(1, 65535);
const keepAlive = z.union([z.literal(false), duration]);

/** TLS termination (listener/tls.ts); files are checked by load.ts, `"h2"` refused by validate.ts. */
const listenerTls = z.strictObject({
  certificates: z.array(z.strictObject({ cert: z.string(), key: z.string() })).check(z.minLength(1)),
  minVersion: z._default(z.enum(['TLSv1.2', 'TLSv1.3']), DEFAULTS.listener.tls.minVersion),
  handshakeTimeout: z._default(duration, DEFAULTS.listener.tls.handshakeTimeout),
  // Absent: http listeners offer http/1.1, tcp listeners nothing (listenerAlpn in listener/tls.ts).
  alpn: z.optional(z.array(z.enum(['h2', 'http/1.1']))),
});

const listener = z.strictObject({
  name: nonEmpty(),
  listen: hostPort(true),
  protocol: z.enum(['tcp', 'http', 'udp']), // "udp": refused by validate.ts, no open issue brings it
  pool: nonEmpty(),
  tls: z.optional(listenerTls),
  acceptProxyProtocol: z.optional(
    z.strictObject({
      from: z.array(cidr).check(z.minLength(1)),
      timeout: z._default(duration, DEFAULTS.listener.acceptProxyProtocol.timeout),
    }),
  ),
  routes: z._default(
    z.array(
      z.strictObject({
        host: z.optional(nonEmpty()),
        pathPrefix: z.optional(z.string().check(z.startsWith('/'))),
        // tcp listeners: the server name of the client's TLS ClientHello, read without terminating
        // TLS (SNI passthrough); "*.example.com" matches one label. Lowercase DNS name.
        sni: z.optional(z.string().check(z.regex(/^(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'a DNS name, or "*." and a DNS name'))),
        pool: nonEmpty(),
      }),
    ),
    [],
  ),
  forwardedHeaders: z.prefault(
    z.strictObject({
      xForwardedFor: z._default(z.enum(['append', 'replace', 'off']), DEFAULTS.listener.forwardedHeaders.xForwardedFor),
      trustedProxies: z._default(z.array(cidr), []),
    }),
    {},
  ),
  /** http only; absent: "drop" (defaults.ts). Absent rather than defaulted so validate.ts can refuse it on a tcp listener. */
  underscoresInHeaders: z.optional(z.enum(['drop', 'keep'])),
  timeouts: z.prefault(
    z.strictObject({
      clientIdle: z._default(duration, DEFAULTS.listener.timeouts.clientIdle),
      requestHeaders: z._default(duration, DEFAULTS.listener.timeouts.requestHeaders),
      requestBody: z._default(duration, DEFAULTS.listener.timeouts.requestBody),
      httpKeepAlive: z._default(duration, DEFAULTS.listener.timeouts.httpKeepAlive),
    }),
    {},
  ),
  /** Absent: true for tcp, false for http (defaults.ts defaultIdleReset). */
  idleReset: z.optional(z.boolean()),
  tcpKeepAlive: z._default(keepAlive, DEFAULTS.listener.tcpKeepAlive),
  limits: z.prefault(
    z.strictObject({
      maxConnections: z._default(int(1), DEFAULTS.listener.limits.maxConnections),
      perClient: z.optional(
        // listener/client-limits.ts; absent: no per-client limit
        z.strictObject({
          maxConnections: z.optional(int(1)),
          newPerSecond: z.optional(z.number().check(z.positive())),
        }),
      ),
      maxHeaderBytes: z._default(int(1024), DEFAULTS.listener.limits.maxHeaderBytes),
    }),
    {},
  ),
  acl: z._default(z.array(z.strictObject({ action: z.enum(['allow', 'deny']), source: cidr })), []),
});

const server = z.strictObject({
  address: hostPort(false),
  weight: z._default(int(0, 1_000_000), DEFAULTS.pool.server.weight),
  /** 0 = unlimited. */
  maxConnections: z._default(int(0), DEFAULTS.pool.server.maxConnections),
  backup: z._default(z.boolean(), DEFAULTS.pool.server.backup),
});

const statusRange = z
  .string()
  .check(
    z.regex(/^[1-5][0-9]{2}(-[1-5][0-9]{2})?$/, { error: (i) => `expected a status or range like "200-399", got ${show(i.input)}` }),
    z.refine((s) => s.length === 3 || s.slice(0, 3) <= s.slice(4), { error: (i) => `expected a range from low to high like "200-399", got ${show(i.input)}` }),
  );

/** Active health checks (health/health-checker.ts): `type` decides which other keys are allowed. */
const healthCheck = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('tcp'),
    interval: z._default(duration, DEFAULTS.pool.healthCheck.interval),
    timeout: z._default(duration, DEFAULTS.pool.healthCheck.timeout),
    rise: z._default(int(1), DEFAULTS.pool.healthCheck.rise),
    fall: z._default(int(1), DEFAULTS.pool.healthCheck.fall),
  }),
  z.strictObject({
    type: z.literal('http'),
    // Written into the request line and Host header as given: no spaces or control characters (no header injection).
    path: z._default(
      z.string().check(z.startsWith('/'), z.regex(/^[^\s\x00-\x1f\x7f]*$/, { error: (i) => `expected a path without spaces or control characters, got ${show(i.input)}` })),
      DEFAULTS.pool.healthCheck.path,
    ),
    /** Host header of the check request; absent: the server's address. */
    host: z.optional(z.string().check(z.regex(/^[^\s\x00-\x1f\x7f]+$/, { error: (i) => `expected a host name without spaces or control characters, got ${show(i.input)}` }))),
    interval: z._default(duration, DEFAULTS.pool.healthCheck.interval),
    timeout: z._default(duration, DEFAULTS.pool.healthCheck.timeout),
    rise: z._default(int(1), DEFAULTS.pool.healthCheck.rise),
    fall: z._default(int(1), DEFAULTS.pool.healthCheck.fall),
    expectStatus: z._default(statusRange, DEFAULTS.pool.healthCheck.expectStatus),
  }),
]);

/** Persistence (pool/persistence.ts); `cookie` only on pools of http listeners (validate.ts). */
const persistence = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('source-ip'),
    timeout: z._default(duration, DEFAULTS.pool.persistence.timeout),
    /** Prefix length grouping IPv4 clients (24: a /24 sticks together, IPVS persistence granularity). */
    netmask: z._default(int(0, 32), DEFAULTS.pool.persistence.netmask),
    /** The same for IPv6 clients (HAProxy's ipmask(mask4, mask6) keeps the two apart too). */
    netmask6: z._default(int(0, 128), DEFAULTS.pool.persistence.netmask6),
  }),
  z.strictObject({
    type: z.literal('cookie'),
    name: z._default(
      z.string().check(z.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: (i) => `expected a cookie name (RFC 6265 token: letters, digits, !#$%&'*+.^_\`|~-), got ${show(i.input)}` })),
      DEFAULTS.pool.persistence.cookieName,
    ),
  }),
]);

export const SCHEDULER_NAMES = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'lblc', 'lblcr', 'random', 'p2c', 'maglev'] as const;

const pool = z.strictObject({
  name: nonEmpty(),
  scheduler: z._default(z.enum(SCHEDULER_NAMES), DEFAULTS.pool.scheduler),
  servers: z.array(server).check(z.minLength(1)),
  healthCheck: z.optional(healthCheck),
  persistence: z.optional(persistence),
  sendProxyProtocol: z._default(z.enum(['v1', 'v2', 'off']), DEFAULTS.pool.sendProxyProtocol),
  tls: z.optional(
    // re-encryption to servers (pool/connector.ts); the CA file is checked by load.ts
    z.strictObject({
      servername: z.optional(nonEmpty()),
      ca: z.optional(z.string()),
      verify: z._default(z.boolean(), DEFAULTS.pool.tls.verify),
    }),
  ),
  timeouts: z.prefault(
    z.strictObject({
      connect: z._default(duration, DEFAULTS.pool.timeouts.connect),
      serverIdle: z._default(duration, DEFAULTS.pool.timeouts.serverIdle),
      response: z._default(duration, DEFAULTS.pool.timeouts.response),
      queue: z._default(duration, DEFAULTS.pool.timeouts.queue),
    }),
    {},
  ),
  slowStart: z.optional(duration), // pool/slow-start.ts: absent = a returning server gets its full weight at once
  tcpKeepAlive: z._default(keepAlive, DEFAULTS.pool.tcpKeepAlive),
  connectionPool: z.prefault(
    z.strictObject({
      maxIdlePerServer: z._default(int(0), DEFAULTS.pool.connectionPool.maxIdlePerServer),
      idleTimeout: z._default(duration, DEFAULTS.pool.connectionPool.idleTimeout),
      reuse: z._default(z.enum(['never', 'safe', 'always']), DEFAULTS.pool.connectionPool.reuse),
    }),
    {},
  ),
  source: z.optional(
    z.strictObject({
      addresses: z.array(ip).check(z.minLength(1)),
      portRange: z._default(
        z.tuple([port, port]).check(z.refine(([lo, hi]) => lo <= hi, { error: (i) => `expected [low, high] with low <= high, got ${show(i.input)}` })),
        [...DEFAULTS.pool.source.portRange],
      ),
      onExhausted: z._default(z.enum(['queue', 'reject']), DEFAULTS.pool.source.onExhausted),
      queueTimeout: z._default(duration, DEFAULTS.pool.source.queueTimeout),
      queueLength: z._default(int(0), DEFAULTS.pool.source.queueLength),
    }),
  ),
  retries: z._default(int(0, 10), DEFAULTS.pool.retries),
});

export const configSchema = z.strictObject({
  /** The JSON Schema an editor checks the file against (config/fullproxy.schema.json): accepted and ignored. */
  $schema: z.optional(z.string()),
  admin: z.optional(
    z.strictObject({
      listen: z._default(hostPort(true), DEFAULTS.admin.listen),
      token: z.optional(nonEmpty()),
    }),
  ),
  drainTimeout: z._default(duration, DEFAULTS.drainTimeout),
  limits: z.prefault(
    z.strictObject({
      maxSessions: z._default(int(1), DEFAULTS.limits.maxSessions),
      onFull: z._default(z.enum(['refuse', 'reset-oldest-idle']), DEFAULTS.limits.onFull),
    }),
    {},
  ),
  logging: z.prefault(
    z.strictObject({
      level: z._default(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), DEFAULTS.logging.level),
      access: z._default(z.boolean(), DEFAULTS.logging.access),
    }),
    {},
  ),
  listeners: z.array(listener).check(z.minLength(1)),
  pools: z.array(pool).check(z.minLength(1)),
});

/** What users write (durations as strings, defaults absent). */
export type ConfigInput = z.input<typeof configSchema>;
/** What the proxy runs on: validated, durations in ms, defaults applied, frozen by load.ts. */
export type Config = z.output<typeof configSchema>;
export type ListenerConfig = Config['listeners'][number];
export type PoolConfig = Config['pools'][number];
export type ServerConfig = PoolConfig['servers'][number];
export type SchedulerName = (typeof SCHEDULER_NAMES)[number];
export type Protocol = ListenerConfig['protocol'];
export type UnderscoresInHeaders = NonNullable<ListenerConfig['underscoresInHeaders']>;
export type HealthCheckConfig = NonNullable<PoolConfig['healthCheck']>;
