// One listener: its net.Server, the accept pipeline and the hand-off to the protocol's handler
// (tcp-proxy.ts or http-listener.ts); drain stops accepting. The bound socket belongs to the
// runtime; what a config decides (ACL, limits, PROXY policy, handler) is a ListenerSettings of one
// generation, swapped by a reload.
//
// The accept pipeline, every step before any protocol work (docs/protection.md):
//   runtime deny + acl (peer address)  → rejected.acl
//   fd budget (fd-budget.ts)           → acceptErrors
//   limits.maxConnections, limits.maxSessions (onFull: refuse | reset-oldest-idle) → rejected.limits
//   PROXY header from trusted peers; then the runtime deny again, on the client it names
//   limits.perClient on the client address (the PROXY one when there is one) → rejected.limits
//   TLS handshake, then the protocol.
// Every refusal is a reset (RST, as HAProxy's `tcp-request connection reject`): the client learns
// at once, and no TIME_WAIT is left on our side for each refused connection of a flood.
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
import { TlsHandshakes, type ListenerTls } from './tls.ts';
import { ClientLimits } from './client-limits.ts';
import type { DenyList } from './deny-list.ts';
import type { FdBudget } from './fd-budget.ts';
import { resetSocket, tcpSocketOf } from '../net/socket.ts';

/** What a protocol does with an accepted, vetted client socket (still paused). */
export interface ProtocolHandler {
  handle(socket: Socket, info: ClientInfo): void;
}

/**
 * What one generation decides for a listener: its config, ACL, PROXY policy and protocol handler.
 * A reload swaps it on the bound socket (apply); a connection reads it once, when accepted, and
 * keeps what it got (SPEC Reload: new settings apply to new connections).
 */
export class ListenerSettings {
  readonly config: ListenerConfig;
  readonly handler: ProtocolHandler;
  readonly acl: Acl;
  /** Peers that must send a PROXY header (acceptProxyProtocol.from); null = none expected. */
  readonly proxyFrom: CidrList | null;
  readonly proxyTimeout: number;
  readonly resetOldestWhenFull: boolean;
  /** Certificates and TLS options when the listener terminates TLS (built by tls.ts); null = plain text. */
  readonly tls: ListenerTls | null;

  constructor(cfg: ListenerConfig, handler: ProtocolHandler, onFull: 'refuse' | 'reset-oldest-idle', tls: ListenerTls | null = null) {
    this.config = cfg;
    this.handler = handler;
    this.tls = tls;
    this.acl = new Acl(cfg.acl);
    this.proxyFrom = cfg.acceptProxyProtocol === undefined ? null : new CidrList(cfg.acceptProxyProtocol.from);
    this.proxyTimeout = cfg.acceptProxyProtocol?.timeout ?? 0;
    this.resetOldestWhenFull = onFull === 'reset-oldest-idle';
  }
}

/** What a listener needs of the runtime: state shared by every listener that outlives a config. */
export interface ListenerHost {
  readonly sessions: SessionTable;
  /** Runtime denies (POST /api/v1/acl/deny). */
  readonly denies: DenyList;
  /** Client connections all listeners may hold (RLIMIT_NOFILE). */
  readonly fds: FdBudget;
}

const kListener = Symbol('listener');
/** The client address limits.perClient counted for the socket (released on close). */
const kCounted = Symbol('perClientAddress');
type AcceptedSocket = Socket & { [kListener]?: Listener; [kCounted]?: string };

/** 'close' of every accepted socket: one function for all (no closure per connection). */
function onAcceptedClose(this: AcceptedSocket): void {
  this[kListener]?.released(this);
}

/** The bound listener an accepted socket came through (drain of a removed listener finds its sessions by it). */
export function listenerOf(socket: Socket): Listener | undefined {
  // A TLS session's client socket is the TLSSocket: the accepted TCP socket is under it.
  return (tcpSocketOf(socket) as AcceptedSocket)[kListener];
}

/**
 * One bound listening socket. It outlives a config while its name and `listen` stay the same: a
 * reload only swaps its settings, so not one connect is refused (runtime.ts). Its counters belong
 * to the listener name and are handed on when `listen` changes.
 */
export class Listener {
  readonly name: string;
  readonly listenAddress: string;
  readonly counters: ListenerCounters;
  readonly #server: NetServer;
  readonly #table: SessionTable;
  readonly #host: ListenerHost;
  readonly #log: Logger;
  /** limits.perClient state: kept with the bound socket across reloads. */
  readonly #clients = new ClientLimits();
  /** Accepted client sockets not yet closed (limits.maxConnections), whatever stage they are at. */
  #open = 0;
  /** TLS handshakes in progress on this socket, whatever generation accepted them. */
  readonly #handshakes: TlsHandshakes;
  #settings: ListenerSettings;
  /** The bound address when it is a specific one: then no getsockname() per connection is needed. */
  #boundLocal: { address: string; port: number } | null = null;

  constructor(settings: ListenerSettings, host: ListenerHost, log: Logger, counters: ListenerCounters = new ListenerCounters()) {
    this.name = settings.config.name;
    this.listenAddress = settings.config.listen;
    this.counters = counters;
    this.#settings = settings;
    this.#table = host.sessions;
    this.#host = host;
    this.#log = log;
    this.#handshakes = new TlsHandshakes(this.name, counters, log);
    // allowHalfOpen: a client's FIN must not close our side (half-close is forwarded, issue 2 §3).
    // pauseOnConnect: nothing is read until a server connection exists to take it.
    // limits.maxConnections is enforced in #accept, not with net.Server's maxConnections: that one
    // closes with a FIN, and every refusal here is a reset.
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    this.#server.on('connection', (s: Socket) => this.#accept(s));
    this.#server.on('error', (err: NodeJS.ErrnoException) => {
      // Libuv sheds EMFILE/ENFILE itself and does not report them (fd-budget.ts); should one reach
      // us anyway, it is counted and logged once per burst like a budget refusal.
      this.counters.acceptErrors++;
      if (err.code === 'EMFILE' || err.code === 'ENFILE') host.fds.refuse(this.name, Date.now());
      else this.#log.error({ listener: this.name, err: err.message, code: err.code }, 'listener error');
    });
  }

  get config(): ListenerConfig {
    return this.#settings.config;
  }

  get settings(): ListenerSettings {
    return this.#settings;
  }

  /** A reload's new settings for the connections accepted from now on (same name and address). */
  apply(settings: ListenerSettings): void {
    this.#settings = settings;
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  listen(): Promise<void> {
    const ep = parseHostPort(this.listenAddress, true);
    if (ep === null) return Promise.reject(new Error(`invalid listen address ${this.listenAddress}`));
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

  #accept(socket: AcceptedSocket): void {
    const settings = this.#settings;
    const clientAddress = normalizeAddress(socket.remoteAddress);
    const clientPort = socket.remotePort ?? 0;
    if (!this.#host.denies.allows(clientAddress, this.name) || !settings.acl.allows(clientAddress)) {
      // SPEC: over a limit or denied, closed before any protocol work.
      this.counters.rejectedAcl++;
      resetSocket(socket);
      return;
    }
    const fds = this.#host.fds;
    if (fds.full) {
      this.counters.acceptErrors++;
      fds.refuse(this.name, Date.now());
      resetSocket(socket);
      return;
    }
    if (this.#open >= settings.config.limits.maxConnections) {
      this.counters.rejectedLimits++;
      resetSocket(socket);
      return;
    }
    if (this.#table.full) {
      const victim = settings.resetOldestWhenFull ? this.#table.oldestIdle() : null;
      if (victim === null) {
        this.counters.rejectedLimits++;
        resetSocket(socket);
        return;
      }
      victim.owner.terminate(victim, 'rejected', true);
    }
    this.#open++;
    fds.open++;
    socket[kListener] = this;
    socket.on('close', onAcceptedClose);
    const info: ClientInfo = {
      clientAddress,
      clientPort,
      localAddress: this.#boundLocal?.address ?? normalizeAddress(socket.localAddress),
      localPort: this.#boundLocal?.port ?? socket.localPort ?? 0,
      tls: undefined, // set once a TLS handshake is done (tls.ts); every ClientInfo has the same shape
    };
    if (settings.proxyFrom !== null && settings.proxyFrom.has(clientAddress)) {
      // A trusted upstream: it must send a PROXY header, and the client it names is the client.
      readProxyHeader(socket, info, settings.proxyTimeout, (o) => {
        if (!o.ok) {
          this.counters.proxyHeaderErrors++;
          this.#log.warn({ listener: this.name, peer: `${clientAddress}:${clientPort}`, reason: o.reason }, 'PROXY header rejected');
          socket.destroy();
          return;
        }
        if (socket.destroyed) return;
        // The runtime deny applies to the client the header names too (an operator denies clients,
        // not the load balancer in front); the static acl stays a rule on peers.
        if (o.info.clientAddress !== clientAddress && !this.#host.denies.allows(o.info.clientAddress, this.name)) {
          this.counters.rejectedAcl++;
          resetSocket(socket);
          return;
        }
        if (this.#admitClient(settings, socket, o.info.clientAddress)) this.#handOff(settings, socket, o.info);
      });
      return;
    }
    if (this.#admitClient(settings, socket, clientAddress)) this.#handOff(settings, socket, info);
  }

  /** limits.perClient on the client address (the one a trusted PROXY header named); false: refused and reset. */
  #admitClient(settings: ListenerSettings, socket: AcceptedSocket, address: string): boolean {
    const perClient = settings.config.limits.perClient;
    if (perClient === undefined) return true;
    if (this.#clients.admit(address, perClient, Date.now()) !== null) {
      this.counters.rejectedLimits++;
      resetSocket(socket);
      return false;
    }
    socket[kCounted] = address;
    return true;
  }

  /** An accepted socket closed (onAcceptedClose): its place on the listener, in the fd budget and for its client is free. */
  released(socket: AcceptedSocket): void {
    this.#open--;
    this.#host.fds.open--;
    const counted = socket[kCounted];
    if (counted !== undefined) this.#clients.release(counted);
  }

  /** Client connections open on this listener (tests, admin). */
  get openConnections(): number {
    return this.#open;
  }

  /** Connections open from `address` as limits.perClient counts them (tests). */
  openFrom(address: string): number {
    return this.#clients.openFrom(address);
  }

  /** Last step of the pipeline: TLS first when the listener terminates it, then the protocol's handler. */
  #handOff(settings: ListenerSettings, socket: Socket, info: ClientInfo): void {
    if (settings.tls === null) settings.handler.handle(socket, info);
    else this.#handshakes.start(socket, info, settings.tls, settings.handler);
  }

  /** TLS handshakes in progress (tests). */
  get handshaking(): number {
    return this.#handshakes.size;
  }
}
