// Real loopback servers on port 0 for tests (vtc's `server s1`): they count accepted
// connections and say who they are.
import { createServer as createNetServer, type Server as NetServer, type Socket, type AddressInfo } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface Backend<S extends NetServer = NetServer> {
  server: S;
  port: number;
  address: string;
  accepted: number;
  sockets: Set<Socket>;
  close(): Promise<void>;
}

function track<S extends NetServer>(server: S, host: string): Promise<Backend<S>> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      const b: Backend<S> = {
        server,
        port,
        address: `${host}:${port}`,
        accepted: 0,
        sockets: new Set(),
        close: () =>
          new Promise<void>((r) => {
            for (const s of b.sockets) s.destroy();
            server.close(() => r());
          }),
      };
      server.on('connection', (s: Socket) => {
        b.accepted++;
        b.sockets.add(s);
        s.on('close', () => b.sockets.delete(s));
      });
      resolve(b);
    });
  });
}

/** A raw TCP server; `onSocket` gets each connection (errors are swallowed so tests decide). */
export function tcpBackend(onSocket: (s: Socket) => void, host = '127.0.0.1', allowHalfOpen = true): Promise<Backend> {
  const server = createNetServer({ allowHalfOpen }, (s) => {
    s.on('error', () => {});
    onSocket(s);
  });
  return track(server, host);
}

/** Echoes every byte back and ends when the client ends. */
export function echoBackend(host = '127.0.0.1'): Promise<Backend> {
  return tcpBackend((s) => s.pipe(s), host);
}

/** An HTTP server that answers "<name> <method> <url>" unless a handler is given. */
export function httpBackend(name: string, handler?: (req: IncomingMessage, res: ServerResponse) => void, host = '127.0.0.1'): Promise<Backend<HttpServer>> {
  const server = createHttpServer(
    handler ??
      ((req, res) => {
        res.setHeader('x-served-by', name);
        res.end(`${name} ${req.method} ${req.url}\n`);
      }),
  );
  return track(server, host);
}

/** Ports handed out by refusedPort() in this process: each call gives a new one. */
const refused = new Set<number>();

/** A port that refuses connections: bound, then closed; never the same port twice in one process. */
export async function refusedPort(): Promise<number> {
  for (;;) {
    const b = await tcpBackend(() => {});
    await b.close();
    if (refused.has(b.port)) continue;
    refused.add(b.port);
    return b.port;
  }
}
