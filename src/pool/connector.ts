// Opens server-side connections for both modes: source (address, port) lease (source-ports.ts),
// connect timeout, TCP_NODELAY, PROXY header. tcp-proxy.ts and http-upstream.ts both call it, so
// a server connection is made the same way whatever the listener's protocol. (TCP keepalive is
// set by whoever keeps the socket: the session's sweep, or the http pool.)
import { connect, type OnReadOpts, type Socket } from 'node:net';
import { FullproxyError } from '../errors.ts';
import type { PoolConfig } from '../config/schema.ts';
import { silentLogger, type Logger } from '../log.ts';
import type { Server } from './server.ts';
import { KernelSourcePorts, SourcePortPool, type Lease, type SourcePortStats, type SourcePorts } from './source-ports.ts';
import { buildProxyV1, buildProxyV2, type ProxyAddresses } from '../net/proxy-protocol.ts';
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

export interface Connector {
  /** Calls back exactly once: with a connected socket, or an FP_ERR_CONNECT_* / FP_ERR_SOURCE_EXHAUSTED error (the socket is then destroyed). */
  connect(server: Server, client: ClientInfo | null, cb: ConnectCallback, onread?: OnReadOpts): void;
}

/**
 * Ports the kernel refused (TIME_WAIT or another socket on the same 4-tuple, a listener on the
 * port) are skipped for the next free one; this bounds the syscalls one connection may cost when a
 * range is full of such ports. Past it the connection fails as exhausted.
 */
const MAX_PORT_ATTEMPTS = 8;

function noop(): void {}

/** A pool's connector: settings are read once at construction (DESIGN §2.4). */
export class PoolConnector implements Connector {
  readonly #timeout: number;
  readonly #proxyProtocol: 'v1' | 'v2' | 'off';
  readonly #ports: SourcePorts;

  /**
   * `previous`: the same-named pool's connector before a reload. When `source` did not change its
   * source-port accounting is carried over (the ports held by live connections stay counted); the
   * other settings are always the new config's.
   */
  constructor(pool: PoolConfig, log: Logger = silentLogger, previous: { connector: PoolConnector; config: PoolConfig } | null = null) {
    this.#timeout = pool.timeouts.connect;
    this.#proxyProtocol = pool.sendProxyProtocol;
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
  connect(server: Server, client: ClientInfo | null, cb: ConnectCallback, onread?: OnReadOpts): void {
    const lease = this.#ports.tryLease(server);
    if (lease !== null) return this.#dial(server, client, lease, 1, cb, onread);
    // Every (address, port) toward the server is held: queue or reject per source.onExhausted.
    this.#ports.wait(server, (l) => {
      if (l === null) cb(exhausted(server, 'no free source port'), null);
      else this.#dial(server, client, l, 1, cb, onread);
    });
  }

  /** One connect attempt from `lease`; a port the kernel refuses is skipped for another (bounded). */
  #dial(server: Server, client: ClientInfo | null, lease: Lease, attempt: number, cb: ConnectCallback, onread: OnReadOpts | undefined): void {
    const { host, port } = server.endpoint;
    const socket =
      lease.port === 0
        ? connect({ host, port, allowHalfOpen: true, noDelay: true, onread })
        : connect({ host, port, localAddress: lease.address, localPort: lease.port, allowHalfOpen: true, noDelay: true, onread });
    // The port is ours until the socket is gone, whatever happens to the connection: one release, on 'close'.
    if (lease.port !== 0) socket.once('close', () => lease.release());
    // The PROXY header is the first bytes on the connection; queued now, sent on connect.
    if (this.#proxyProtocol !== 'off') socket.write(proxyHeader(this.#proxyProtocol, client));
    let done = false;
    const settle = (): void => {
      done = true;
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
    };
    const fail = (err: FullproxyError): void => {
      settle();
      socket.on('error', noop);
      socket.destroy();
      cb(err, null);
    };
    const onConnect = (): void => {
      if (done) return;
      settle();
      server.openSockets++;
      socket.once('close', server.socketClosed);
      cb(null, socket);
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
        this.#ports.skip(server, lease, e.code, syscall);
        const next = attempt < MAX_PORT_ATTEMPTS ? this.#ports.tryLease(server) : null;
        if (next !== null) {
          settle();
          socket.on('error', noop);
          socket.destroy();
          return this.#dial(server, client, next, attempt + 1, cb, onread);
        }
        if (syscall === 'bind' && e.code === 'EADDRNOTAVAIL') {
          return fail(new FullproxyError('FP_ERR_CONNECT_FAILED', `connect to ${server.address} failed: source address ${lease.address} is not an address of this host`, { cause: e }));
        }
        this.#ports.refuse(server, 'ports-busy');
        return fail(exhausted(server, `${attempt} source ports refused by the kernel (${e.code})`, e));
      }
      fail(new FullproxyError('FP_ERR_CONNECT_FAILED', `connect to ${server.address} failed: ${e.code ?? e.message}`, { cause: e }));
    };
    const onTimeout = (): void => {
      if (!done) fail(new FullproxyError('FP_ERR_CONNECT_TIMEOUT', `connect to ${server.address} timed out after ${this.#timeout} ms`));
    };
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('timeout', onTimeout);
    socket.setTimeout(this.#timeout);
  }
}

/** Equality of two frozen config values (small plain JSON: compared once per reload). */
export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function exhausted(server: Server, why: string, cause?: Error): FullproxyError {
  return new FullproxyError('FP_ERR_SOURCE_EXHAUSTED', `connect to ${server.address}: ${why}`, cause === undefined ? undefined : { cause });
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
