// SNI passthrough on tcp listeners (issue 15 §4, SPEC `routes: [{sni, pool}]`): the server name of
// the client's ClientHello picks the pool, without terminating TLS; the servers terminate TLS
// themselves and the client sees *their* certificate. A ClientHello split over several segments
// works; no SNI, an unknown name or bytes that are not TLS go to the listener's default pool,
// unchanged. Bad route keys name their JSON path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { makePki, type Leaf } from '../../helpers/certs.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { waitFor } from '../../helpers/wait.ts';

const pki = makePki();
const leafA = pki.leaf('a', ['a.test']);
const leafB = pki.leaf('b', ['b.test', '*.b.test']);
const leafD = pki.leaf('d', ['default.test']);

/** A TLS server of its own (the proxy does not terminate): answers "<name> <servername>". */
async function tlsServer(name: string, leaf: Leaf): Promise<{ address: string; close(): void }> {
  const s = createTlsServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (sock) => {
    sock.on('error', () => {});
    sock.once('data', () => sock.end(`${name} ${String((sock as unknown as { servername?: string }).servername ?? '-')}`));
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { address: `127.0.0.1:${(s.address() as { port: number }).port}`, close: () => s.close() };
}

/** TLS through the proxy; resolves with the certificate's CN the client saw and the answer. */
function through(port: number, servername: string | undefined): Promise<{ cn: string; body: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', ca: pki.ca, ...(servername !== undefined ? { servername } : { checkServerIdentity: () => undefined }) }, () => s.write('hi'));
    let body = '';
    s.on('data', (d: Buffer) => (body += d.toString()));
    s.on('end', () => resolve({ cn: String(s.getPeerCertificate().subject?.CN ?? ''), body }));
    s.on('error', reject);
  });
}

test('SNI picks the pool without terminating TLS; the client sees the server certificate; default pool otherwise', async (t) => {
  const a = await tlsServer('A', leafA);
  const b = await tlsServer('B', leafB);
  const d = await tlsServer('D', leafD);
  t.after(() => [a, b, d].forEach((x) => x.close()));
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'sni', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'dflt', routes: [{ sni: 'a.test', pool: 'pa' }, { sni: 'b.test', pool: 'pb' }, { sni: '*.b.test', pool: 'pb' }] }],
    pools: [
      { name: 'pa', servers: [{ address: a.address }] },
      { name: 'pb', servers: [{ address: b.address }] },
      { name: 'dflt', servers: [{ address: d.address }] },
    ],
  });
  t.after(() => p.stop());
  const port = p.addr('sni').port;
  assert.deepEqual(await through(port, 'a.test'), { cn: 'a.test', body: 'A a.test' });
  assert.deepEqual(await through(port, 'b.test'), { cn: 'b.test', body: 'B b.test' });
  assert.deepEqual(await through(port, 'x.b.test'), { cn: 'b.test', body: 'B x.b.test' }, 'one-label wildcard');
  assert.deepEqual(await through(port, 'default.test'), { cn: 'default.test', body: 'D default.test' }, 'an unknown name: the default pool');
  const noSni = await through(port, undefined);
  assert.match(noSni.body, /^D /, 'no SNI: the default pool');
  await waitFor(() => p.proxy.sessions.size === 0, 3_000, 'sessions ended');
});

test('a ClientHello split over segments is read whole; the bytes reach the server unchanged; garbage goes to the default pool as sent', async (t) => {
  const seen = new Map<string, Buffer>();
  const recorder = (name: string) =>
    tcpBackend((s: Socket) => {
      let got = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        got = Buffer.concat([got, c]);
        seen.set(name, got);
      });
    });
  const ra = await recorder('A');
  const rd = await recorder('D');
  t.after(() => Promise.all([ra.close(), rd.close()]));
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'sni', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'dflt', routes: [{ sni: 'a.test', pool: 'pa' }] }],
    pools: [
      { name: 'pa', servers: [{ address: ra.address }] },
      { name: 'dflt', servers: [{ address: rd.address }] },
    ],
  });
  t.after(() => p.stop());
  const port = p.addr('sni').port;
  // A real ClientHello for a.test, captured from Node's TLS client through a recorder of our own.
  const capture = await tcpBackend(() => {});
  const hello = await new Promise<Buffer>((resolve) => {
    capture.server.once('connection', (s: Socket) => s.once('data', (d: Buffer) => resolve(d)));
    const c = tlsConnect({ port: capture.port, host: '127.0.0.1', servername: 'a.test', rejectUnauthorized: false });
    c.on('error', () => {});
  });
  await capture.close();
  const c = await dial(port);
  c.on('error', () => {});
  for (const [from, to] of [[0, 3], [3, 60], [60, hello.length]] as const) {
    c.write(hello.subarray(from, to));
    await new Promise((r) => setTimeout(r, 30));
  }
  await waitFor(() => (seen.get('A')?.length ?? 0) >= hello.length, 3_000, 'the ClientHello at pool pa');
  assert.ok(seen.get('A')!.equals(hello), 'byte for byte');
  c.destroy();
  const g = await dial(port);
  g.on('error', () => {});
  g.write('GET / HTTP/1.1\r\n\r\n');
  await waitFor(() => seen.get('D')?.toString() === 'GET / HTTP/1.1\r\n\r\n', 3_000, 'garbage at the default pool, as sent');
  g.destroy();
});

test('route keys name their JSON path: sni only on tcp listeners, host/pathPrefix only on http, a DNS name', () => {
  const errorsOf = (listeners: unknown[]): string[] => {
    const r = loadConfigObject({ listeners, pools: [{ name: 'p', servers: [{ address: '127.0.0.1:1' }] }] }, '/');
    return r.ok ? [] : r.errors;
  };
  const e1 = errorsOf([
    { name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', routes: [{ sni: 'a.test', pool: 'p' }] },
    { name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', routes: [{ host: 'a.test', pool: 'p' }] },
  ]);
  assert.ok(e1.some((e) => e.startsWith('listeners[0].routes[0].sni: only for protocol "tcp"')), e1.join('\n'));
  assert.ok(e1.some((e) => e.startsWith('listeners[1].routes[0].host: only for protocol "http"')), e1.join('\n'));
  assert.ok(e1.some((e) => e.startsWith('listeners[1].routes[0].sni: required on a tcp listener')), e1.join('\n'));
  const e2 = errorsOf([{ name: 's', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', routes: [{ sni: 'bad name', pool: 'p' }] }]);
  assert.ok(e2.some((e) => e.startsWith('listeners[0].routes[0].sni:')), e2.join('\n'));
});
