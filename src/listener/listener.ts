// One listener: its net.Server, the accept pipeline (acl → limits → PROXY → TLS) and the
// hand-off to the protocol's handler (tcp-proxy.ts or http-listener.ts); drain stops accepting.
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { ListenerConfig } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { ClientInfo } from '../pool/connector.ts';
import type { SessionTable } from '../session/session-table.ts';
import { parseHostPort, normalizeAddress } from '../net/address.ts';
import { Acl } from './acl.ts';
import { CidrList } from '../net/cidr.ts';
import { readProxyHeader } from './proxy-header-reader.ts';
import { ListenerCounters } from './counters.ts';

/** What a protocol does with an accepted, vetted client socket (still paused). */
export interface ProtocolHandler {
  handle(socket: Socket, info: ClientInfo): void;
}

export class Listener {
  readonly name: string;
  readonly config: ListenerConfig;
  readonly counters = new ListenerCounters();
  readonly #server: NetServer;
  readonly #acl: Acl;
  /** Peers that must send a PROXY header (acceptProxyProtocol.from); null = none expected. */
  readonly #proxyFrom: CidrList | null;
  readonly #proxyTimeout: number;
  readonly #table: SessionTable;
  readonly #log: Logger;
  #handler: ProtocolHandler | null = null;
  /** The bound address when it is a specific one: then no getsockname() per connection is needed. */
  #boundLocal: { address: string; port: number } | null = null;
  #onFullResetOldest: boolean;

  constructor(cfg: ListenerConfig, table: SessionTable, onFull: 'refuse' | 'reset-oldest-idle', log: Logger) {
    this.name = cfg.name;
    this.config = cfg;
    this.#table = table;
    this.#log = log;
    this.#acl = new Acl(cfg.acl);
    this.#proxyFrom = cfg.acceptProxyProtocol === undefined ? null : new CidrList(cfg.acceptProxyProtocol.from);
    this.#proxyTimeout = cfg.acceptProxyProtocol?.timeout ?? 0;
    this.#onFullResetOldest = onFull === 'reset-oldest-idle';
    // allowHalfOpen: a client's FIN must not close our side (half-close is forwarded, issue 2 §3).
    // pauseOnConnect: nothing is read until a server connection exists to take it.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    this.#server.maxConnections = cfg.limits.maxConnections;
    this.#server.on('connection', (s: Socket) => this.#accept(s));
    this.#server.on('drop', () => this.counters.rejectedLimits++);
    this.#server.on('error', (err: NodeJS.ErrnoException) => {
      // EMFILE/ENFILE while accepting: count and go on; libuv retries the accept.
      this.counters.acceptErrors++;
      this.#log.error({ listener: this.name, err: err.message, code: err.code }, 'listener error');
    });
  }

  setHandler(handler: ProtocolHandler): void {
    this.#handler = handler;
  }

  listen(): Promise<void> {
    const ep = parseHostPort(this.config.listen, true);
    if (ep === null) return Promise.reject(new Error(`invalid listen address ${this.config.listen}`));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: ep.host, port: ep.port, backlog: 4096 }, () => {
        this.#server.removeListener('error', onError);
        const a = this.address();
        const wildcard = a.host === '0.0.0.0' || a.host === '::';
        this.#boundLocal = wildcard ? null : { address: normalizeAddress(a.host), port: a.port };
        resolve();
      });
    });
  }

  /** The bound address (port 0 resolved). */
  address(): { host: string; port: number } {
    const a = this.#server.address();
    if (a === null || typeof a === 'string') throw new Error(`listener ${this.name} is not bound`);
    return { host: a.address, port: a.port };
  }

  /** Stops accepting; established sessions go on (drain). Resolves once the socket is closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      // server.close() waits for every connection; we only wait for the listening socket.
      this.#server.close();
      this.#server.once('close', () => resolve());
      setImmediate(resolve);
    });
  }

  #accept(socket: Socket): void {
    const clientAddress = normalizeAddress(socket.remoteAddress);
    const clientPort = socket.remotePort ?? 0;
    if (!this.#acl.allows(clientAddress)) {
      // SPEC: over a limit or denied, closed before any protocol work.
      this.counters.rejectedAcl++;
      socket.destroy();
      return;
    }
    if (this.#table.full) {
      const victim = this.#onFullResetOldest ? this.#table.oldestIdle() : null;
      if (victim === null) {
        this.counters.rejectedLimits++;
        socket.destroy();
        return;
      }
      victim.owner.terminate(victim, 'rejected', true);
    }
    const info: ClientInfo = {
      clientAddress,
      clientPort,
      localAddress: this.#boundLocal?.address ?? normalizeAddress(socket.localAddress),
      localPort: this.#boundLocal?.port ?? socket.localPort ?? 0,
    };
    if (this.#proxyFrom !== null && this.#proxyFrom.has(clientAddress)) {
      // A trusted upstream: it must send a PROXY header, and the client it names is the client.
      readProxyHeader(socket, info, this.#proxyTimeout, (o) => {
        if (!o.ok) {
          this.counters.proxyHeaderErrors++;
          this.#log.warn({ listener: this.name, peer: `${clientAddress}:${clientPort}`, reason: o.reason }, 'PROXY header rejected');
          socket.destroy();
          return;
        }
        this.#handOff(socket, o.info);
      });
      return;
    }
    this.#handOff(socket, info);
  }

  #handOff(socket: Socket, info: ClientInfo): void {
    if (this.#handler === null || socket.destroyed) {
      socket.destroy();
      return;
    }
    this.#handler.handle(socket, info);
  }
}
