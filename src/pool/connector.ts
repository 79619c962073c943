// Opens server-side connections for both modes: source (address, port) lease (source-ports.ts),
// connect timeout, TCP_NODELAY, PROXY header, TLS re-encryption (`pools[].tls`). tcp-proxy.ts and
// http-upstream.ts both call it, so a server connection is made the same way whatever the
// listener's protocol. (TCP keepalive is set by whoever keeps the socket: the session's sweep, or
// the http pool.)
//
// With `tls`: TCP connect (the lease is on this socket) → the PROXY header, first on the wire →
// the TLS handshake on that socket (SNI, the pool's CA, the server's last session ticket) → the
// caller gets the TLSSocket; the connect timeout covers both steps. A TLSSocket cannot read into
// our buffers (net's `onread` is for plain handles), so the caller's onread callback is fed from
// 'data' events instead: same handler, Node's buffers (never put in our free list, see
// read-buffers.ts), `false` pauses the socket as it stops a plain one.
import { connect, type OnReadOpts, type Socket } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { checkServerIdentity, connect as tlsConnect, createSecureContext, type PeerCertificate, type SecureContext, type TLSSocket } from 'node:tls';
import { readFailure } from '../config/read-failure.ts';
import { FullproxyError } from '../errors.ts';
import type { PoolConfig } from '../config/schema.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { Server } from './server.ts';
import { KernelSourcePorts, SourcePortPool, type Lease, type SourcePortStats, type SourcePorts } from './source-ports.ts';
import { buildProxyV1, buildProxyV2, type ProxyAddresses } from '../net/proxy-protocol.ts';
import { allowTlsReset, tlsHandshakeDone } from '../net/socket.ts';
import { isIP } from 'node:net';

/** What the connector knows of the client side, for the PROXY header and source-port leases. */
export interface ClientInfo {
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The listener's address and port the client connected to (or what a trusted PROXY header said). */
  readonly localAddress: string;
  readonly localPort: number;
  /** The client's TLS connection to a listener with `tls` (PROXY v2 SSL and AUTHORITY TLVs); absent: plain TCP. */
  readonly tls?: ClientTls | undefined;
}

export interface ClientTls {
  /** "TLSv1.3", … */
  readonly version: string;
  /** The cipher suite (OpenSSL name). */
  readonly cipher: string;
  /** The SNI name the client sent, or null. */
  readonly servername: string | null;
}

/** SPEC stats `sourcePorts` of one server (defined beside the accounting, re-exported for proxy.ts / the admin API). */
export type { SourcePortStats } from './source-ports.ts';

export type ConnectCallback = (err: FullproxyError | null, socket: Socket | null) => void;

/**
 * What a connection does when no source port is free toward the server — none left in our
 * accounting, or the kernel refused every one tried:
 * - `wait`: per `source.onExhausted` (the queue, up to queueTimeout; reject: fail at once);
 * - `fail`: the caller has somewhere else to wait (http: the connections it holds come back to
 *   it), so the connector calls back at once with a source-exhausted error, counting no refusal.
 */
export type NoPortPolicy = 'wait' | 'fail';

export interface Connector {
  /** Calls back exactly once: with a connected socket, or a connect-failed, connect-timeout or source-exhausted error (the socket is then destroyed). */
  connect(server: Server, client: ClientInfo | null, cb: ConnectCallback, onread?: OnReadOpts, noPort?: NoPortPolicy): void;
}

/**
 * Ports the kernel refused (TIME_WAIT or another socket on the same 4-tuple, a listener on the
 * port) are skipped for the next free one; this bounds the syscalls one connection may cost in a
 * row when a range is full of such ports. Past it, or when no port is left, the connection goes
 * back to the source-port queue (reject mode: fails as exhausted).
 */
const MAX_PORT_ATTEMPTS = 8;

function noop(): void {}

/** A pool's TLS client settings (`pools[].tls`), built once per generation from the config. */
export interface PoolTls {
  /** The configured SNI name; absent: the server's host when it is a name, none for an IP. */
  readonly servername: string | undefined;
  readonly verify: boolean;
  /** The CA file's bytes (null: Node's default trust store), compared across reloads. */
  readonly caPem: Buffer | null;
  /** Made once: a context per connection would parse the CA bundle on every connect. */
  readonly context: SecureContext;
}

/**
 * Reads and checks a CA file: readable, and PEM certificates only (at least one). `shown` is the
 * path as configured (messages name it as the user wrote it), `at` the JSON path of the key.
 * load.ts checks with it at `check`, start and reload; the connector reads the file again.
 */
export function readCaFile(file: string, shown: string, at: string): { ok: true; pem: Buffer } | { ok: false; error: string } {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (err) {
    return { ok: false, error: `${at}: cannot read ${shown}: ${readFailure(err)}` };
  }
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  try {
    if (blocks.length === 0) throw new Error('no certificate');
    for (const b of blocks) new X509Certificate(b);
  } catch {
    return { ok: false, error: `${at}: ${shown} is not a PEM CA certificate bundle` };
  }
  return { ok: true, pem };
}

/** The pool's TLS client settings, or null without `tls`. Throws (with the JSON path) when the CA file went bad since load.ts checked it. */
export function buildPoolTls(pool: PoolConfig, at: string): PoolTls | null {
  const t = pool.tls;
  if (t === undefined) return null;
  let caPem: Buffer | null = null;
  if (t.ca !== undefined) {
    const r = readCaFile(t.ca, t.ca, `${at}.tls.ca`);
    if (!r.ok) throw new Error(r.error);
    caPem = r.pem;
  }
  return { servername: t.servername, verify: t.verify, caPem, context: createSecureContext(caPem === null ? {} : { ca: caPem }) };
}

/** What the connect path shows of a TLS verification failure: OpenSSL's words for the common codes. */
const VERIFY_REASONS: Readonly<Record<string, string>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_SIGNATURE_FAILURE: 'certificate signature failure',
  INVALID_CA: 'invalid CA certificate',
  INVALID_PURPOSE: 'unsupported certificate purpose',
};

/** A pool's connector: settings are read once at construction (DESIGN §2.4). */
export class PoolConnector implements Connector {
  readonly #timeout: number;
  readonly #proxyProtocol: 'v1' | 'v2' | 'off';
  readonly #ports: SourcePorts;
  readonly #tls: PoolTls | null;
  /** The last TLS session (ticket) per server, offered on its next connection (resumption). */
  readonly #sessions: WeakMap<Server, Buffer>;

  /**
   * `previous`: the same-named pool's connector before a reload. When `source` did not change its
   * source-port accounting is carried over (the ports held by live connections stay counted); the
   * other settings are always the new config's.
   */
  /** `tls`: the pool's TLS settings built by the generation (which names the JSON path); by default built here from `pool.tls`. */
  constructor(pool: PoolConfig, log: Logger = silentLogger, previous: { connector: PoolConnector; config: PoolConfig } | null = null, tls: PoolTls | null = buildPoolTls(pool, `pools[${pool.name}]`)) {
    this.#timeout = pool.timeouts.connect;
    this.#proxyProtocol = pool.sendProxyProtocol;
    this.#tls = tls;
    // Sessions are kept across a reload that left the TLS settings and the CA bytes as they were (a
    // resumed session is not verified again: never resume one verified under another CA or name).
    const p = previous?.connector ?? null;
    this.#sessions =
      p !== null && tls !== null && p.#tls !== null && sameJson(previous!.config.tls, pool.tls) && sameBytes(p.#tls.caPem, tls.caPem) ? p.#sessions : new WeakMap();
    const src = pool.source;
    this.#ports =
      previous !== null && sameJson(previous.config.source, src)
        ? previous.connector.#ports
        : src === undefined
        ? new KernelSourcePorts(pool.name, log)
        : new SourcePortPool(pool.name, { addresses: src.addresses, portRange: { low: src.portRange[0], high: src.portRange[1] }, onExhausted: src.onExhausted, queueTimeout: src.queueTimeout, queueLength: src.queueLength }, log);
  }

  /** Ports held toward `server` (sums over the source addresses), refusals, and the per-address figures when `source` is set. */
  sourcePortStats(server: Server): SourcePortStats {
    return this.#ports.stats(server);
  }

  /**
   * True when a connection to `server` would get a source port at once. http-upstream can ask it
   * before opening a connection and wait for a pooled one instead (kept-alive connections hold ports).
   */
  hasFreeSourcePort(server: Server): boolean {
    return this.#ports.hasFree(server);
  }

  /** Fails the connections waiting for a source port (stop, reload). */
  close(): void {
    this.#ports.close();
  }

  /** True when every connection starts with a PROXY header (http pools then key reuse by client). */
  get sendsProxyHeader(): boolean {
    return this.#proxyProtocol !== 'off';
  }

  /** `onread`: read into caller-provided buffers (http server connections, net/read-buffers.ts). */
  connect(server: Server, client: ClientInfo | null, cb: ConnectCallback, onread?: OnReadOpts, noPort: NoPortPolicy = 'wait'): void {
    const lease = this.#ports.tryLease(server);
    if (lease !== null) return this.#dial(server, client, lease, 1, cb, onread, noPort, 0);
    if (noPort === 'fail') return process.nextTick(cb, exhausted(server, 'no free source port now'), null);
    // Every (address, port) toward the server is held: queue or reject per source.onExhausted.
    const since = Date.now();
    this.#ports.wait(server, (l) => {
      if (l === null) cb(exhausted(server, 'no free source port'), null);
      else this.#dial(server, client, l, 1, cb, onread, noPort, since);
    });
  }

  /**
   * One connect attempt from `lease`; a port the kernel refuses is skipped for another (bounded).
   * `since`: when this connection first waited for a port (0: it has not), which keeps its place
   * and deadline in the queue if the kernel sends it back there.
   */
  #dial(server: Server, client: ClientInfo | null, lease: Lease, attempt: number, cb: ConnectCallback, onread: OnReadOpts | undefined, noPort: NoPortPolicy, since: number): void {
    const { host, port } = server.endpoint;
    const tls = this.#tls;
    // A TLSSocket reads through 'data' events (fed to onread's callback below): the TCP socket under it gets no onread.
    const ownRead = tls === null ? onread : undefined;
    const socket =
      lease.port === 0
        ? connect({ host, port, allowHalfOpen: true, noDelay: true, onread: ownRead })
        : connect({ host, port, localAddress: lease.address, localPort: lease.port, allowHalfOpen: true, noDelay: true, onread: ownRead });
    // The port is ours until the socket is gone, whatever happens to the connection: one release, on
    // 'close' (of the TCP socket: a TLSSocket's close closes it too).
    if (lease.port !== 0) socket.once('close', () => lease.release());
    // The PROXY header is the first bytes on the connection; queued now, sent on connect (with TLS:
    // written on connect, before the ClientHello).
    if (this.#proxyProtocol !== 'off' && tls === null) socket.write(proxyHeader(this.#proxyProtocol, client));
    const started = tls === null ? 0 : Date.now();
    let done = false;
    let secure: TLSSocket | null = null;
    let onSecure = noop;
    const settle = (): void => {
      done = true;
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
      if (secure !== null) {
        secure.removeListener('secureConnect', onSecure);
        secure.removeListener('error', onTlsError);
      }
    };
    const fail = (err: FullproxyError): void => {
      settle();
      if (secure !== null) {
        secure.on('error', noop);
        secure.destroy(); // closes the TCP socket under it too
      }
      socket.on('error', noop);
      socket.destroy();
      cb(err, null);
    };
    const established = (s: Socket): void => {
      // Errors of a TLS connection surface on the TLSSocket (the caller's); the TCP socket under it
      // may still report a failed write of the PROXY header, which must not go unhandled.
      if (s !== socket) socket.on('error', noop);
      server.openSockets++;
      socket.once('close', server.socketClosed);
      cb(null, s);
    };
    const onConnect = (): void => {
      if (done) return;
      if (tls === null) {
        settle();
        return established(socket);
      }
      if (this.#proxyProtocol !== 'off') socket.write(proxyHeader(this.#proxyProtocol, client));
      // What is left of the connect timeout bounds the handshake (the TCP socket's timer is not
      // refreshed by the TLS traffic on it: a deadline, not an idle timeout).
      socket.setTimeout(Math.max(1, this.#timeout - (Date.now() - started)));
      const servername = tls.servername ?? (isIP(host) === 0 ? host : undefined);
      const session = this.#sessions.get(server);
      const s = tlsConnect({
        socket,
        host, // what the certificate is checked against without a servername (an IP: its IP SANs)
        ...(servername === undefined ? {} : { servername }),
        secureContext: tls.context,
        // Verified below, on 'secureConnect', so a verification failure is told apart from a failed handshake.
        rejectUnauthorized: false,
        ...(session === undefined ? {} : { session }),
      });
      allowTlsReset(s, socket);
      secure = s;
      // Sessions are kept once the server is verified (TLS 1.2 may hand one over before that).
      let verified = false;
      let pendingSession: Buffer | null = null;
      s.on('session', (ticket: Buffer) => {
        if (verified) this.#sessions.set(server, ticket);
        else pendingSession = ticket;
      });
      onSecure = (): void => {
        if (done) return;
        if (tls.verify && !s.authorized) {
          this.#sessions.delete(server);
          return fail(new FullproxyError('connect-failed', `TLS to ${server.address}: certificate verify failed: ${verifyReason(s, servername ?? host)}`));
        }
        verified = true;
        if (pendingSession !== null) this.#sessions.set(server, pendingSession);
        settle();
        tlsHandshakeDone(s);
        if (onread !== undefined) {
          const callback = onread.callback;
          s.on('data', (chunk: Buffer) => {
            if (callback(chunk.length, chunk) === false) s.pause();
          });
        }
        established(s);
      };
      s.once('secureConnect', onSecure);
      s.once('error', onTlsError);
    };
    const onTlsError = (e: NodeJS.ErrnoException): void => {
      if (done) return;
      // A session the server no longer accepts must not be offered again.
      this.#sessions.delete(server);
      fail(new FullproxyError('connect-failed', `TLS to ${server.address}: handshake failed: ${e.code === undefined ? e.message : `${e.message} (${e.code})`}`, { cause: e }));
    };
    const onError = (e: NodeJS.ErrnoException): void => {
      if (done) return;
      if (e.code === 'EADDRNOTAVAIL' || e.code === 'EADDRINUSE') {
        if (lease.port === 0) {
          // The kernel's ephemeral ports toward this server are all taken (no `source` configured).
          this.#ports.refuse(server, 'kernel');
          return fail(exhausted(server, `the kernel has no free source port (${e.code})`, e));
        }
        const syscall = e.syscall ?? 'connect';
        // A busy port is blocked for a while (source-ports.ts BLOCK_MS): neither this connection nor a waiter gets it back at once.
        this.#ports.skip(server, lease, e.code, syscall);
        const next = attempt < MAX_PORT_ATTEMPTS ? this.#ports.tryLease(server) : null;
        if (next !== null) {
          settle();
          socket.on('error', noop);
          socket.destroy();
          return this.#dial(server, client, next, attempt + 1, cb, onread, noPort, since);
        }
        if (syscall === 'bind' && e.code === 'EADDRNOTAVAIL') {
          return fail(new FullproxyError('connect-failed', `connect to ${server.address} failed: source address ${lease.address} is not an address of this host`, { cause: e }));
        }
        const why = `${attempt} source ports refused by the kernel (${e.code})`;
        if (noPort === 'fail') return fail(exhausted(server, why, e));
        // Our accounting thought these ports free; the kernel says not. The connection waits for a
        // port like any other (issue 17): the queue, up to queueTimeout from its first wait, and
        // a port that frees up serves it. Reject mode refuses it at once ('ports-busy').
        settle();
        socket.on('error', noop);
        socket.destroy();
        const first = since === 0 ? Date.now() : since;
        return this.#ports.wait(server, (l) => {
          if (l === null) cb(exhausted(server, `no free source port (${why})`, e), null);
          else this.#dial(server, client, l, 1, cb, onread, noPort, first);
        }, first);
      }
      fail(new FullproxyError('connect-failed', `connect to ${server.address} failed: ${e.code ?? e.message}`, { cause: e }));
    };
    const onTimeout = (): void => {
      if (!done) fail(new FullproxyError('connect-timeout', `${secure === null ? 'connect' : 'TLS handshake'} to ${server.address} timed out after ${this.#timeout} ms`));
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('timeout', onTimeout);
    socket.setTimeout(this.#timeout);
  }
}

function sameBytes(a: Buffer | null, b: Buffer | null): boolean {
  return a === null || b === null ? a === b : a.equals(b);
}

/** Why the server's certificate was not accepted, e.g. "self-signed certificate (DEPTH_ZERO_SELF_SIGNED_CERT)". */
function verifyReason(s: TLSSocket, name: string): string {
  const code = String(s.authorizationError ?? 'unknown');
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const e = checkServerIdentity(name, s.getPeerCertificate() as PeerCertificate);
    if (e !== undefined) return `${e.message} (${code})`;
  }
  const words = VERIFY_REASONS[code];
  return words === undefined ? code : `${words} (${code})`;
}

/** Equality of two frozen config values (small plain JSON: compared once per reload). */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function exhausted(server: Server, why: string, cause?: Error): FullproxyError {
  return new FullproxyError('source-exhausted', `connect to ${server.address}: ${why}`, cause === undefined ? undefined : { cause });
}

/** PROXY header for one server connection; `client` null = a connection of our own (health check): LOCAL / UNKNOWN. */
function proxyHeader(version: 'v1' | 'v2', client: ClientInfo | null): Buffer {
  let a: ProxyAddresses | null = null;
  if (client !== null && isIP(client.clientAddress) !== 0 && isIP(client.localAddress) !== 0) {
    const v4 = isIP(client.clientAddress) === 4 && isIP(client.localAddress) === 4;
    a = { family: v4 ? 'tcp4' : 'tcp6', sourceAddress: client.clientAddress, sourcePort: client.clientPort, destinationAddress: client.localAddress, destinationPort: client.localPort };
  }
  if (version === 'v1') return buildProxyV1(a);
  // v2 tells the server what v1 cannot: the client's TLS (pp §2.2.5) and the name it asked for.
  const tls = client?.tls;
  return tls === undefined ? buildProxyV2(a) : buildProxyV2(a, { authority: tls.servername ?? undefined, ssl: { version: tls.version, cipher: tls.cipher } });
}
