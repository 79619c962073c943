// The JSON configuration of SPEC.md as a zod schema; the TypeScript types are inferred from it,
// never written twice. Objects are strict (unknown keys are errors, SPEC), defaults come from
// defaults.ts. Cross-references (pool names, uniqueness) are checked in validate.ts.
// Blocks marked "refused" describe a feature as it will be; until it lands validate.ts refuses the
// key before this schema sees it (NOT_IMPLEMENTED there), so nothing here reaches the running proxy.
import { isIP } from 'node:net';
import * as z from 'zod';
import { DEFAULTS } from './defaults.ts';
import { parseDuration } from './duration.ts';
import { parseHostPort } from '../net/address.ts';

const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : v === undefined ? 'nothing' : JSON.stringify(v) ?? String(v));

/** "250ms" | "5s" | "2m" | "1h" | integer milliseconds → milliseconds. */
export const duration = z.unknown().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.issues.push({ code: 'custom', input: v, message: `expected a duration like "250ms", "5s", "2m", "1h" or integer milliseconds, got ${show(v)}` });
    return z.NEVER;
  }
  return ms;
});

/** host:port; port 0 only where the caller allows it (listeners in tests bind port 0). */
const hostPort = (allowZero: boolean) =>
  // A missing address falls through to validate.ts, which says "required" for every missing key.
  z.string({ error: (i) => (i.input === undefined ? undefined : `expected host:port, got ${show(i.input)}`) }).refine((s) => parseHostPort(s, allowZero) !== null, {
    error: (i) => `expected host:port, got ${show(i.input)}`,
  });

const ip = z.string().refine((s) => isIP(s) !== 0, { error: (i) => `expected an IP address, got ${show(i.input)}` });

const cidr = z.string().refine(
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
);

const port = z.int().min(1).max(65535);
const keepAlive = z.union([z.literal(false), duration]);

/** TLS termination (listener/tls.ts); files are checked by load.ts, `"h2"` refused by validate.ts. */
const listenerTls = z.strictObject({
  certificates: z.array(z.strictObject({ cert: z.string(), key: z.string() })).min(1),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default(DEFAULTS.listener.tls.minVersion),
  handshakeTimeout: duration.default(DEFAULTS.listener.tls.handshakeTimeout),
  // Absent: http listeners offer http/1.1, tcp listeners nothing (listenerAlpn in listener/tls.ts).
  alpn: z.array(z.enum(['h2', 'http/1.1'])).optional(),
});

const listener = z.strictObject({
  name: z.string().min(1),
  listen: hostPort(true),
  protocol: z.enum(['tcp', 'http', 'udp']), // "udp": refused by validate.ts, no open issue brings it
  pool: z.string().min(1),
  tls: listenerTls.optional(),
  acceptProxyProtocol: z
    .strictObject({
      from: z.array(cidr).min(1),
      timeout: duration.default(DEFAULTS.listener.acceptProxyProtocol.timeout),
    })
    .optional(),
  routes: z
    .array(
      z.strictObject({
        host: z.string().min(1).optional(),
        pathPrefix: z.string().startsWith('/').optional(),
        // tcp listeners: the server name of the client's TLS ClientHello, read without terminating
        // TLS (SNI passthrough); "*.example.com" matches one label. Lowercase DNS name.
        sni: z.string().regex(/^(\*\.)?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/, 'a DNS name, or "*." and a DNS name').optional(),
        pool: z.string().min(1),
      }),
    )
    .default([]),
  forwardedHeaders: z
    .strictObject({
      xForwardedFor: z.enum(['append', 'replace', 'off']).default(DEFAULTS.listener.forwardedHeaders.xForwardedFor),
      trustedProxies: z.array(cidr).default([]),
    })
    .prefault({}),
  /** http only; absent: "drop" (defaults.ts). Absent rather than defaulted so validate.ts can refuse it on a tcp listener. */
  underscoresInHeaders: z.enum(['drop', 'keep']).optional(),
  timeouts: z
    .strictObject({
      clientIdle: duration.default(DEFAULTS.listener.timeouts.clientIdle),
      requestHeaders: duration.default(DEFAULTS.listener.timeouts.requestHeaders),
      requestBody: duration.default(DEFAULTS.listener.timeouts.requestBody),
      httpKeepAlive: duration.default(DEFAULTS.listener.timeouts.httpKeepAlive),
    })
    .prefault({}),
  /** Absent: true for tcp, false for http (defaults.ts defaultIdleReset). */
  idleReset: z.boolean().optional(),
  tcpKeepAlive: keepAlive.default(DEFAULTS.listener.tcpKeepAlive),
  limits: z
    .strictObject({
      maxConnections: z.int().min(1).default(DEFAULTS.listener.limits.maxConnections),
      perClient: z // listener/client-limits.ts; absent: no per-client limit
        .strictObject({
          maxConnections: z.int().min(1).optional(),
          newPerSecond: z.number().positive().optional(),
        })
        .optional(),
      maxHeaderBytes: z.int().min(1024).default(DEFAULTS.listener.limits.maxHeaderBytes),
    })
    .prefault({}),
  acl: z.array(z.strictObject({ action: z.enum(['allow', 'deny']), source: cidr })).default([]),
});

const server = z.strictObject({
  address: hostPort(false),
  weight: z.int().min(0).max(1_000_000).default(DEFAULTS.pool.server.weight),
  /** 0 = unlimited. */
  maxConnections: z.int().min(0).default(DEFAULTS.pool.server.maxConnections),
  backup: z.boolean().default(DEFAULTS.pool.server.backup),
});

const statusRange = z
  .string()
  .regex(/^[1-5][0-9]{2}(-[1-5][0-9]{2})?$/, { error: (i) => `expected a status or range like "200-399", got ${show(i.input)}` })
  .refine((s) => s.length === 3 || s.slice(0, 3) <= s.slice(4), { error: (i) => `expected a range from low to high like "200-399", got ${show(i.input)}` });

/** Active health checks (health/health-checker.ts): `type` decides which other keys are allowed. */
const healthCheck = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('tcp'),
    interval: duration.default(DEFAULTS.pool.healthCheck.interval),
    timeout: duration.default(DEFAULTS.pool.healthCheck.timeout),
    rise: z.int().min(1).default(DEFAULTS.pool.healthCheck.rise),
    fall: z.int().min(1).default(DEFAULTS.pool.healthCheck.fall),
  }),
  z.strictObject({
    type: z.literal('http'),
    // Written into the request line and Host header as given: no spaces or control characters (no header injection).
    path: z.string().startsWith('/').regex(/^[^\s\x00-\x1f\x7f]*$/, { error: (i) => `expected a path without spaces or control characters, got ${show(i.input)}` }).default(DEFAULTS.pool.healthCheck.path),
    /** Host header of the check request; absent: the server's address. */
    host: z.string().regex(/^[^\s\x00-\x1f\x7f]+$/, { error: (i) => `expected a host name without spaces or control characters, got ${show(i.input)}` }).optional(),
    interval: duration.default(DEFAULTS.pool.healthCheck.interval),
    timeout: duration.default(DEFAULTS.pool.healthCheck.timeout),
    rise: z.int().min(1).default(DEFAULTS.pool.healthCheck.rise),
    fall: z.int().min(1).default(DEFAULTS.pool.healthCheck.fall),
    expectStatus: statusRange.default(DEFAULTS.pool.healthCheck.expectStatus),
  }),
]);

/** Persistence (pool/persistence.ts); `cookie` only on pools of http listeners (validate.ts). */
const persistence = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('source-ip'),
    timeout: duration.default(DEFAULTS.pool.persistence.timeout),
    /** Prefix length grouping IPv4 clients (24: a /24 sticks together, IPVS persistence granularity). */
    netmask: z.int().min(0).max(32).default(DEFAULTS.pool.persistence.netmask),
    /** The same for IPv6 clients (HAProxy's ipmask(mask4, mask6) keeps the two apart too). */
    netmask6: z.int().min(0).max(128).default(DEFAULTS.pool.persistence.netmask6),
  }),
  z.strictObject({
    type: z.literal('cookie'),
    name: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { error: (i) => `expected a cookie name (RFC 6265 token: letters, digits, !#$%&'*+.^_\`|~-), got ${show(i.input)}` })
      .default(DEFAULTS.pool.persistence.cookieName),
  }),
]);

export const SCHEDULER_NAMES = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'lblc', 'lblcr', 'random', 'p2c', 'maglev'] as const;

const pool = z.strictObject({
  name: z.string().min(1),
  scheduler: z.enum(SCHEDULER_NAMES).default(DEFAULTS.pool.scheduler),
  servers: z.array(server).min(1),
  healthCheck: healthCheck.optional(),
  persistence: persistence.optional(),
  sendProxyProtocol: z.enum(['v1', 'v2', 'off']).default(DEFAULTS.pool.sendProxyProtocol),
  tls: z // re-encryption to servers (pool/connector.ts); the CA file is checked by load.ts
    .strictObject({
      servername: z.string().min(1).optional(),
      ca: z.string().optional(),
      verify: z.boolean().default(DEFAULTS.pool.tls.verify),
    })
    .optional(),
  timeouts: z
    .strictObject({
      connect: duration.default(DEFAULTS.pool.timeouts.connect),
      serverIdle: duration.default(DEFAULTS.pool.timeouts.serverIdle),
      response: duration.default(DEFAULTS.pool.timeouts.response),
      queue: duration.default(DEFAULTS.pool.timeouts.queue),
    })
    .prefault({}),
  slowStart: duration.optional(), // pool/slow-start.ts: absent = a returning server gets its full weight at once
  tcpKeepAlive: keepAlive.default(DEFAULTS.pool.tcpKeepAlive),
  connectionPool: z
    .strictObject({
      maxIdlePerServer: z.int().min(0).default(DEFAULTS.pool.connectionPool.maxIdlePerServer),
      idleTimeout: duration.default(DEFAULTS.pool.connectionPool.idleTimeout),
      reuse: z.enum(['never', 'safe', 'always']).default(DEFAULTS.pool.connectionPool.reuse),
    })
    .prefault({}),
  source: z
    .strictObject({
      addresses: z.array(ip).min(1),
      portRange: z
        .tuple([port, port])
        .refine(([lo, hi]) => lo <= hi, { error: (i) => `expected [low, high] with low <= high, got ${show(i.input)}` })
        .default([...DEFAULTS.pool.source.portRange]),
      onExhausted: z.enum(['queue', 'reject']).default(DEFAULTS.pool.source.onExhausted),
      queueTimeout: duration.default(DEFAULTS.pool.source.queueTimeout),
      queueLength: z.int().min(0).default(DEFAULTS.pool.source.queueLength),
    })
    .optional(),
  retries: z.int().min(0).max(10).default(DEFAULTS.pool.retries),
});

export const configSchema = z.strictObject({
  /** The JSON Schema an editor checks the file against (config/fullproxy.schema.json): accepted and ignored. */
  $schema: z.string().optional(),
  admin: z
    .strictObject({
      listen: hostPort(true).default(DEFAULTS.admin.listen),
      token: z.string().min(1).optional(),
    })
    .optional(),
  drainTimeout: duration.default(DEFAULTS.drainTimeout),
  limits: z
    .strictObject({
      maxSessions: z.int().min(1).default(DEFAULTS.limits.maxSessions),
      onFull: z.enum(['refuse', 'reset-oldest-idle']).default(DEFAULTS.limits.onFull),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(DEFAULTS.logging.level),
      access: z.boolean().default(DEFAULTS.logging.access),
    })
    .prefault({}),
  listeners: z.array(listener).min(1),
  pools: z.array(pool).min(1),
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
