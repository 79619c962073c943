// The Session record: one client connection and the server connection serving it (tcp mode) or
// the requests it carries (http mode). Byte counts are read from the sockets, never counted per
// chunk; the idle sweep compares them tick to tick (DESIGN §2.5, §2.6).
import type { Socket } from 'node:net';
import type { EndReason } from '../errors.ts';
import { applySocketOptions, socketBytes } from '../net/socket.ts';

/** 'queued': waiting in the pool's queue for a server below maxConnections (tcp, pool/queue.ts). */
export type SessionState = 'accepted' | 'queued' | 'connecting' | 'established' | 'closing';

/** Why a session ended, logged in its access line: a name of src/errors.ts (docs/errors.md). */
export type { EndReason };

/** What the session table calls when a session must end (idle, drain); implemented per protocol. */
export interface SessionOwner {
  /** `reset`: RST both ends; else close with FIN. Returns false when it answered instead of
   *  resetting (an http request body that stalled gets 408 and a FIN), so no reset is counted. */
  terminate(session: Session, reason: EndReason, reset: boolean): boolean | void;
  /** http: the session's `deadline` passed (a header, keep-alive or response timer). */
  onDeadline?(session: Session, now: number): void;
  /** Drain: close now when between requests (http keep-alive); a busy session closes after its response. */
  closeIfIdle?(): void;
}

export interface SessionTimeouts {
  clientIdle: number;
  /** 0 = no server-side idle limit (http sessions: pooled server connections have their own). */
  serverIdle: number;
  idleReset: boolean;
  /** http: a request body that stalls this long ends the session (0 = none). */
  requestBody?: number;
  /** TCP keepalive of the client socket (listeners[].tcpKeepAlive) and of the session's own
   *  server socket (pools[].tcpKeepAlive); false = off. Armed by the sweep, see armKeepAlive. */
  clientKeepAlive: number | false;
  serverKeepAlive: number | false;
}

export class Session {
  readonly id: number;
  readonly listener: string;
  readonly protocol: 'tcp' | 'http';
  readonly client: Socket;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly owner: SessionOwner;
  timeouts: SessionTimeouts;
  /** http: a request body is being received; `requestBody` applies instead of clientIdle. */
  inBody = false;
  /** http: when the current phase times out (ms epoch, 0 = none); the sweep calls owner.onDeadline. */
  deadline = 0;
  readonly startedAt: number;
  state: SessionState = 'accepted';
  server: Socket | null = null;
  /** "host:port" of the server (tcp), or of the last server a request went to (http). */
  serverAddress: string | null = null;
  pool: string | null = null;
  requests = 0;
  /** http, with the access log on: client bytes read and written when the previous request ended
   *  (a request's bytesIn/bytesOut in its access line are what moved since). */
  readMark = 0;
  writeMark = 0;
  endReason: EndReason | null = null;
  lastClientActivity: number;
  lastServerActivity: number;
  #source: string | null = null;
  #clientArmed = false;
  #serverArmed = false;
  #clientBytes = 0;
  #serverBytes = 0;

  constructor(id: number, listener: string, protocol: 'tcp' | 'http', client: Socket, clientAddress: string, clientPort: number, owner: SessionOwner, timeouts: SessionTimeouts, now: number) {
    this.id = id;
    this.listener = listener;
    this.protocol = protocol;
    this.client = client;
    this.clientAddress = clientAddress;
    this.clientPort = clientPort;
    this.owner = owner;
    this.timeouts = timeouts;
    this.startedAt = now;
    this.lastClientActivity = now;
    this.lastServerActivity = now;
  }

  get bytesIn(): number {
    return this.client.bytesRead;
  }

  get bytesOut(): number {
    return this.client.bytesWritten;
  }

  get lastActivity(): number {
    return Math.max(this.lastClientActivity, this.lastServerActivity);
  }

  /** Both sockets have their TCP keepalive (or never will: off). */
  get keepAliveArmed(): boolean {
    return this.#clientArmed && this.#serverArmed;
  }

  /**
   * Sets TCP keepalive on the session's sockets. The sweep calls it once a session has lived a
   * tick: keepalive only ever acts after its idle time (60 s by default), so arming it a tick late
   * changes nothing observable, and the many sessions that end within a tick (a new connection
   * per request: bench S2) skip the 4–5 setsockopt calls per socket it costs.
   */
  armKeepAlive(): void {
    if (!this.#clientArmed) {
      this.#clientArmed = true;
      if (!this.client.destroyed) applySocketOptions(this.client, this.timeouts.clientKeepAlive);
    }
    const server = this.server;
    if (!this.#serverArmed && server !== null) {
      this.#serverArmed = true;
      if (!server.destroyed) applySocketOptions(server, this.timeouts.serverKeepAlive);
    }
  }

  /** Idle check for the sweep: refreshes activity from byte counters; returns true when past a limit. */
  isIdle(now: number): boolean {
    const cb = socketBytes(this.client);
    if (cb !== this.#clientBytes) {
      this.#clientBytes = cb;
      this.lastClientActivity = now;
    }
    if (this.server !== null) {
      const sb = socketBytes(this.server);
      if (sb !== this.#serverBytes) {
        this.#serverBytes = sb;
        this.lastServerActivity = now;
      }
      if (this.timeouts.serverIdle > 0 && now - this.lastServerActivity >= this.timeouts.serverIdle) return true;
    }
    const bodyLimit = this.inBody ? (this.timeouts.requestBody ?? 0) : 0;
    if (bodyLimit > 0 && now - this.lastClientActivity >= bodyLimit) return true;
    return this.timeouts.clientIdle > 0 && now - this.lastClientActivity >= this.timeouts.clientIdle;
  }

  /** "address:port" the server connection leaves from, read when asked (a getsockname per
   *  session saved on the data path: bench S2). Null when there is no server socket. */
  get source(): string | null {
    if (this.#source !== null) return this.#source;
    const s = this.server;
    if (s === null || s.localAddress === undefined) return null;
    return `${s.localAddress}:${s.localPort}`;
  }

  /** Keeps the source for after the server socket is gone (the access log's session-end line). */
  rememberSource(): void {
    this.#source = this.source;
  }

  /** The row of GET /api/v1/sessions (SPEC: like `ipvsadm -L -n -c`). */
  toJSON(now: number = Date.now()): Record<string, unknown> {
    return {
      id: this.id,
      listener: this.listener,
      protocol: this.protocol,
      client: `${this.clientAddress}:${this.clientPort}`,
      pool: this.pool,
      server: this.serverAddress,
      source: this.source,
      state: this.state,
      requests: this.requests,
      idleMs: now - this.lastActivity,
      ageMs: now - this.startedAt,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
    };
  }
}
