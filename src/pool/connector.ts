// Opens server-side connections for both modes: connect timeout, socket options, and the hooks
// for source-address leases and PROXY headers. tcp-proxy.ts and http-upstream.ts both call it,
// so a server connection is made the same way whatever the listener's protocol.
import { connect, type Socket } from 'node:net';
import { FullproxyError } from '../errors.ts';
import { applySocketOptions } from '../net/socket.ts';
import type { PoolConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { readFileSync } from 'node:fs';
import type { Server } from './server.ts';
import { buildProxyV1, buildProxyV2, type ProxyAddresses } from '../net/proxy-protocol.ts';
import { isIP } from 'node:net';

/** What the connector knows of the client side, for the PROXY header and source-port leases. */
export interface ClientInfo {
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The listener's address and port the client connected to (or what a trusted PROXY header said). */
  readonly localAddress: string;
  readonly localPort: number;
}

/** SPEC stats `sourcePorts` of one server. */
export interface SourcePortStats {
  inUse: number;
  free: number;
  /** Connections refused for lack of a source port. */
  exhausted: number;
}

export type ConnectCallback = (err: FullproxyError | null, socket: Socket | null) => void;

export interface Connector {
  /** Calls back exactly once: with a connected socket, or an FP_ERR_CONNECT_* error (the socket is then destroyed). */
  connect(server: Server, client: ClientInfo | null, cb: ConnectCallback): void;
}

/** Size of the kernel's ephemeral port range (net.ipv4.ip_local_port_range), read once. */
const EPHEMERAL_PORTS = (() => {
  try {
    const [lo = 32768, hi = 60999] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    return hi - lo + 1;
  } catch {
    return 28232;
  }
})();

/** A pool's connector: settings are read once at construction (DESIGN §2.4). */
export class PoolConnector implements Connector {
  readonly #timeout: number;
  readonly #keepAlive: number | false;
  readonly #proxyProtocol: 'v1' | 'v2' | 'off';

  readonly #log: Logger;

  constructor(pool: PoolConfig, log: Logger) {
    this.#log = log;
    this.#timeout = pool.timeouts.connect;
    this.#keepAlive = pool.tcpKeepAlive;
    this.#proxyProtocol = pool.sendProxyProtocol;
  }

  /** Without `source`, the kernel picks ports from its ephemeral range for each connection. */
  sourcePortStats(server: Server): SourcePortStats {
    const inUse = server.openSockets;
    return { inUse, free: Math.max(0, EPHEMERAL_PORTS - inUse), exhausted: 0 };
  }

  /** True when every connection starts with a PROXY header (http pools then key reuse by client). */
  get sendsProxyHeader(): boolean {
    return this.#proxyProtocol !== 'off';
  }

  connect(server: Server, client: ClientInfo | null, cb: ConnectCallback): void {
    const socket = connect({ host: server.endpoint.host, port: server.endpoint.port, allowHalfOpen: true, noDelay: true });
    // The PROXY header is the first bytes on the connection; queued now, sent on connect.
    if (this.#proxyProtocol !== 'off') socket.write(proxyHeader(this.#proxyProtocol, client));
    let done = false;
    const finish = (err: FullproxyError | null): void => {
      if (done) return;
      done = true;
      socket.removeListener('connect', onConnect);
      socket.removeListener('error', onError);
      socket.removeListener('timeout', onTimeout);
      socket.setTimeout(0);
      if (err !== null) {
        socket.destroy();
        cb(err, null);
      } else {
        cb(null, socket);
      }
    };
    const onConnect = (): void => {
      applySocketOptions(socket, this.#keepAlive);
      server.openSockets++;
      socket.once('close', () => server.openSockets--);
      finish(null);
    };
    const onError = (e: NodeJS.ErrnoException): void =>
      finish(new FullproxyError('FP_ERR_CONNECT_FAILED', `connect to ${server.address} failed: ${e.code ?? e.message}`, { cause: e }));
    const onTimeout = (): void => finish(new FullproxyError('FP_ERR_CONNECT_TIMEOUT', `connect to ${server.address} timed out after ${this.#timeout} ms`));
    socket.once('connect', onConnect);
    socket.once('error', onError);
    socket.once('timeout', onTimeout);
    socket.setTimeout(this.#timeout);
  }
}

/** PROXY header for one server connection; `client` null = a connection of our own (health check): LOCAL / UNKNOWN. */
function proxyHeader(version: 'v1' | 'v2', client: ClientInfo | null): Buffer {
  let a: ProxyAddresses | null = null;
  if (client !== null && isIP(client.clientAddress) !== 0 && isIP(client.localAddress) !== 0) {
    const v4 = isIP(client.clientAddress) === 4 && isIP(client.localAddress) === 4;
    a = { family: v4 ? 'tcp4' : 'tcp6', sourceAddress: client.clientAddress, sourcePort: client.clientPort, destinationAddress: client.localAddress, destinationPort: client.localPort };
  }
  return version === 'v1' ? buildProxyV1(a) : buildProxyV2(a);
}
