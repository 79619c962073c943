// Raw TCP clients for tests that must see RST, half-close and exact bytes.
import { connect, createServer, type Socket } from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { TestContext } from 'node:test';

export function dial(port: number, host = '127.0.0.1', localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host, allowHalfOpen: true, ...(localAddress !== undefined ? { localAddress } : {}) });
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * A connected loopback pair, half-close allowed: the `accepted` side (paused until resumed when
 * `pauseOnConnect`, so a test can change how it reads first) and the `client`. Both, and the
 * server, are closed when the test ends, pass or fail. With `pipePath` the pair is a Unix domain
 * socket at that path instead of TCP (a pipe handle, which the fast paths must leave alone).
 */
export async function socketPair(t: TestContext, pauseOnConnect: boolean, pipePath?: string): Promise<{ accepted: Socket; client: Socket }> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect });
  if (pipePath === undefined) server.listen(0, '127.0.0.1');
  else server.listen(pipePath);
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = pipePath === undefined ? connect((server.address() as { port: number }).port, '127.0.0.1') : connect(pipePath);
  await once(client, 'connect');
  const [sock] = await accepted;
  t.after(() => {
    client.destroy();
    sock.destroy();
    server.close();
  });
  return { accepted: sock, client };
}

/** How a socket ended: 'end' (clean FIN then close), 'reset' (ECONNRESET), or another error code. */
export function outcome(s: Socket): Promise<{ how: string; data: Buffer }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let how = 'close';
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      if (how === 'close') how = 'end';
      s.end(); // as a normal peer does: answer FIN with FIN so the socket closes
    });
    s.on('error', (e: NodeJS.ErrnoException) => (how = e.code === 'ECONNRESET' ? 'reset' : (e.code ?? 'error')));
    s.on('close', () => resolve({ how, data: Buffer.concat(chunks) }));
  });
}

/** sha256 of everything read until end. */
export function hashUntilEnd(s: Socket): Promise<{ hash: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      h.update(d);
      bytes += d.length;
    });
    s.once('end', () => resolve({ hash: h.digest('hex'), bytes }));
    s.once('error', reject);
  });
}

/** Deterministic pseudo-random bytes (fast, no crypto cost in loops). */
export function patternBuffer(size: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
