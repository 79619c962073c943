// Servers that expect a PROXY header first on every connection (as a PROXY-aware real server
// does): each connection's header is parsed with the project's strict parser and recorded, the
// bytes after it go to a handler. Plus small client helpers for the PROXY tests.
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { request, type IncomingHttpHeaders } from 'node:http';
import { parseProxyHeader, type ProxyHeader } from '../../src/net/proxy-protocol.ts';
import { tcpBackend, type Backend } from './backends.ts';

export interface PpConn {
  readonly id: number;
  socket: Socket;
  /** The parsed header (null until parsed, or when it was invalid). */
  header: ProxyHeader | null;
  /** The raw header bytes as received. */
  raw: Buffer | null;
  /** Why the header was refused (the connection is then destroyed). */
  error: string | null;
}

export interface PpBackend extends Backend {
  readonly conns: PpConn[];
}

/**
 * Each connection must start with a PROXY header (v1 or v2); then `onReady(conn, rest)` gets
 * the connection (paused data flow is not needed: `rest` are the bytes that came with the header).
 * Default handler: echo.
 */
export async function ppBackend(onReady: (conn: PpConn, rest: Buffer) => void = echoAfterHeader): Promise<PpBackend> {
  const conns: PpConn[] = [];
  const b = await tcpBackend((s) => {
    const conn: PpConn = { id: conns.length, socket: s, header: null, raw: null, error: null };
    conns.push(conn);
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const r = parseProxyHeader(buf);
      if (r.kind === 'incomplete') return;
      s.removeListener('data', onData);
      s.removeListener('end', onEnd);
      if (r.kind === 'error') {
        conn.error = r.reason;
        s.destroy();
        return;
      }
      conn.header = r.header;
      conn.raw = Buffer.from(buf.subarray(0, r.consumed));
      onReady(conn, buf.subarray(r.consumed));
    };
    const onEnd = (): void => {
      conn.error = `connection ended before a complete PROXY header (${buf.length} bytes)`;
      s.end();
    };
    s.on('data', onData);
    s.once('end', onEnd);
  });
  return Object.assign(b, { conns });
}

export function echoAfterHeader(conn: PpConn, rest: Buffer): void {
  if (rest.length > 0) conn.socket.write(rest);
  conn.socket.pipe(conn.socket);
}

/** Connects (optionally from `localAddress`), writes `data` and ends, collects everything until the peer closes. */
export function exchange(port: number, data: Buffer | string, localAddress?: string, host = '127.0.0.1'): Promise<{ data: Buffer; localPort: number; how: string }> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host, allowHalfOpen: true, ...(localAddress !== undefined ? { localAddress } : {}) });
    const chunks: Buffer[] = [];
    let localPort = 0;
    let how = 'close';
    s.once('connect', () => {
      localPort = s.localPort ?? 0;
      s.end(data);
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      if (how === 'close') how = 'end';
      s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (localPort === 0) return reject(e);
      how = e.code === 'ECONNRESET' ? 'reset' : (e.code ?? 'error');
    });
    s.on('close', () => resolve({ data: Buffer.concat(chunks), localPort, how }));
    s.setTimeout(10_000, () => s.destroy(new Error('exchange timed out')));
  });
}

export interface GetResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The client's own port for the connection the request went on. */
  localPort: number;
}

/** One GET with node:http; `agent` false = a new connection. */
export function httpGet(port: number, opts: { path?: string; localAddress?: string; agent?: import('node:http').Agent | false; headers?: Record<string, string> } = {}): Promise<GetResult> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/',
        agent: opts.agent ?? false,
        headers: opts.headers ?? {},
        ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
        signal: AbortSignal.timeout(10_000),
      },
      (res) => {
        const chunks: Buffer[] = [];
        const localPort = res.socket.localPort ?? 0;
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), localPort }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}
