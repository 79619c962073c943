// Servers for the health-check tests: an http server that can be stopped and started again on the
// same port (a real server going away and coming back), and a counter of check connections.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Restartable {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  /** Requests seen, by path. */
  readonly seen: Map<string, number>;
  /** Requests that were not health checks. */
  served: number;
  /** Connections accepted, and from which local addresses of ours. */
  accepted: number;
  readonly peers: string[];
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Answers first (res.end, then return), or returns true to answer later itself. */
type Handler = (req: IncomingMessage, res: ServerResponse) => void | boolean;

/** An http server answering "<name>" (and x-served-by); `handler` may answer first, or later (returning true). */
export async function restartable(name: string, handler?: Handler, port = 0): Promise<Restartable> {
  let server: Server | null = null;
  const sockets = new Set<Socket>();
  const r: Restartable = {
    name,
    port,
    address: '',
    seen: new Map(),
    served: 0,
    accepted: 0,
    peers: [],
    async start() {
      const s = createServer((req, res) => {
        r.seen.set(req.url ?? '', (r.seen.get(req.url ?? '') ?? 0) + 1);
        if (req.headers['user-agent'] !== 'fullproxy-health-check') r.served++;
        if (handler !== undefined && !res.writableEnded && handler(req, res) === true) return;
        if (res.writableEnded || res.headersSent) return;
        res.setHeader('x-served-by', name);
        res.end(`${name}\n`);
      });
      s.on('connection', (c: Socket) => {
        r.accepted++;
        r.peers.push(c.remoteAddress ?? '');
        sockets.add(c);
        c.on('close', () => sockets.delete(c));
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(r.port, '127.0.0.1', () => resolve());
      });
      server = s;
      (r as { port: number }).port = (s.address() as AddressInfo).port;
      (r as { address: string }).address = `127.0.0.1:${r.port}`;
    },
    async stop() {
      const s = server;
      server = null;
      if (s === null) return;
      // Our set and the http server's own list of connections, both: close() waits for every
      // connection to end, and a backup test once sat at 0 % CPU for minutes (cause not found).
      const closed = new Promise<void>((resolve) => s.close(() => resolve()));
      for (const c of sockets) c.destroy();
      s.closeAllConnections();
      await closed;
    },
  };
  await r.start();
  return r;
}
