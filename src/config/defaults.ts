// Every default of the configuration in one place, with its unit and the reason for it.
// Durations are in milliseconds. SPEC.md "Configuration" names the defaults users rely on.

export const DEFAULTS = {
  configPath: 'config/fullproxy.json',
  /** SIGTERM: how long established sessions may finish before they are reset. */
  drainTimeout: 30_000,
  admin: { listen: '127.0.0.1:9090' },
  limits: {
    /** Session table bound: beyond it new connections are refused (SPEC "limits"). */
    maxSessions: 100_000,
    onFull: 'refuse',
  },
  logging: { level: 'info', access: true },
  listener: {
    timeouts: {
      /** No byte either way for this long ends a session (HAProxy `timeout client` order of magnitude). */
      clientIdle: 300_000,
      /** Slowloris bound: the whole request head must arrive within this. */
      requestHeaders: 10_000,
      /** A request body that stalls this long is abandoned. */
      requestBody: 30_000,
      /** Idle time between two requests on one client connection (nginx keepalive_timeout is 75 s; browsers hold ~5 s less). */
      httpKeepAlive: 5_000,
    },
    /** TCP keepalive probe interval on client sockets (false = off). */
    tcpKeepAlive: 60_000,
    limits: { maxConnections: 10_000, maxHeaderBytes: 16_384 },
    acceptProxyProtocol: { timeout: 3_000 },
    forwardedHeaders: { xForwardedFor: 'append' },
    /**
     * http: request fields whose name holds `_` are dropped, as nginx does by default
     * (`underscores_in_headers off`): CGI, WSGI and PHP map `X_Forwarded_For` and
     * `X-Forwarded-For` to one HTTP_X_FORWARDED_FOR, so a client could spoof what the proxy sets.
     */
    underscoresInHeaders: 'drop',
    /** TLS 1.2 minimum (SPEC); a silent client holds a socket at most this long; ALPN: http listeners' default (tcp listeners offer none unless configured). */
    tls: { minVersion: 'TLSv1.2', handshakeTimeout: 10_000, alpn: ['http/1.1'] },
  },
  pool: {
    scheduler: 'rr',
    server: { weight: 1, maxConnections: 0, backup: false },
    timeouts: { connect: 3_000, serverIdle: 300_000, response: 60_000, queue: 1_000 },
    tcpKeepAlive: 60_000,
    connectionPool: { maxIdlePerServer: 64, idleTimeout: 30_000, reuse: 'safe' },
    sendProxyProtocol: 'off',
    /** `pools[].tls`: server certificates are verified unless turned off explicitly (then a warning at every load). */
    tls: { verify: true },
    /** One retry on another server when nothing was sent (SPEC "Decisions: Retries"). */
    retries: 1,
    source: { portRange: [1024, 65535], onExhausted: 'queue', queueTimeout: 1_000, queueLength: 1024 },
    healthCheck: { interval: 2_000, timeout: 1_000, rise: 2, fall: 3, expectStatus: '200-399', path: '/' },
    persistence: {
      /** source-ip: an address unused this long loses its server (IPVS's default persistence is 300 s). */
      timeout: 300_000,
      /** source-ip: each IPv4 address, and each IPv6 address, alone (IPVS's default granularity). */
      netmask: 32,
      netmask6: 128,
      /**
       * source-ip: entries one pool's table holds, least recently used forgotten first (a
       * forgotten client is scheduled anew). As many as the session table's default bound
       * (limits.maxSessions): 4.2 MiB preallocated at the first entry, ~8 MiB full of IPv4 addresses.
       */
      tableSize: 100_000,
      cookieName: 'FPSRV',
    },
  },
} as const;

/** `idleReset` depends on the protocol (SPEC): true for tcp, false for http. */
export function defaultIdleReset(protocol: 'tcp' | 'http' | 'udp'): boolean {
  return protocol !== 'http';
}
