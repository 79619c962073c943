// RST on TLS sessions (issue 15 with the session table's rules): a TLSSocket has no TCP handle of
// its own, so an idle reset and the admin's kill button must send the RST on the TCP socket under
// it. Both ends learn at once (ECONNRESET on the client, the server connection reset too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { connect as netConnect, type Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { makePki } from '../../helpers/certs.ts';
import { waitFor } from '../../helpers/wait.ts';

const pki = makePki();
const leaf = pki.leaf('site', ['site.test']);

function connectTls(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'site.test', ca: pki.ca }, () => resolve(s));
    s.once('error', reject);
  });
}

/** How the client side ended: the error code, or 'end'/'close'. */
function ending(s: TLSSocket): Promise<string> {
  return new Promise((resolve) => {
    let how = 'close';
    s.on('error', (e: NodeJS.ErrnoException) => (how = e.code ?? e.message));
    s.on('end', () => {
      if (how === 'close') how = 'end';
    });
    s.on('close', () => resolve(how));
  });
}

test('tls tcp session idle past clientIdle with idleReset: RST to the client and to the server', async (t) => {
  const serverSide: string[] = [];
  let serverSocket: Socket | null = null;
  const b = await tcpBackend((s) => {
    serverSocket = s;
    s.on('error', (e: NodeJS.ErrnoException) => serverSide.push(e.code ?? e.message));
    s.on('data', (d: Buffer) => s.write(d));
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'e', idleReset: true, timeouts: { clientIdle: '300ms' }, tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    pools: [{ name: 'e', servers: [{ address: b.address }] }],
  });
  t.after(async () => {
    await p.stop();
    await b.close();
  });
  const c = await connectTls(p.addr('t').port);
  const how = ending(c);
  c.write('hello');
  await new Promise<void>((r) => c.once('data', () => r()));
  assert.equal(await how, 'ECONNRESET', 'the client got an RST');
  await waitFor(() => serverSide.includes('ECONNRESET') || (serverSocket?.destroyed ?? false), 3_000, 'the server side ended');
  assert.deepEqual(serverSide, ['ECONNRESET'], 'the server got an RST too');
  assert.equal(p.proxy.sessions.idleResets.get('t'), 1);
});

test('a busy tls http session at the end of a drain is reset: the client sees ECONNRESET', async (t) => {
  let got = 0;
  const b = await tcpBackend((s) => s.on('data', () => got++)); // never answers: the request stays in flight
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'e', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    pools: [{ name: 'e', servers: [{ address: b.address }] }],
  });
  t.after(() => b.close());
  const c = await connectTls(p.addr('h').port);
  const how = ending(c);
  c.write('GET / HTTP/1.1\r\nHost: site.test\r\n\r\n');
  await waitFor(() => got > 0, 3_000, 'the request reached the server');
  await p.stop(); // drain(0): an idle connection would get a FIN; this busy one is reset
  assert.equal(await how, 'ECONNRESET');
});

// A TLSSocket made around an accepted socket (not by a tls.Server) keeps Node's TLS errors to
// itself after the handshake until its control is released: a client that sent a broken record
// left its session and server connection open until clientIdle (found by the errors suite).
for (const protocol of ['tcp', 'http'] as const) {
  test(`a broken TLS record after the handshake (${protocol} listener) ends the session at once, both sides`, async (t) => {
    const serverSide: Socket[] = [];
    const backend = await tcpBackend((s) => {
      serverSide.push(s);
      s.on('error', () => {});
      s.on('data', () => s.write(protocol === 'http' ? 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' : 'ok'));
    });
    const p = await startProxy({
      logging: { level: 'silent' },
      listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol, pool: 'p', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
      pools: [{ name: 'p', servers: [{ address: backend.address }] }],
    });
    t.after(async () => {
      await p.stop();
      await backend.close();
    });
    // The client's TLS over a TCP socket of our own, to write a bad record under it.
    const raw = netConnect(p.addr('l').port, '127.0.0.1');
    raw.on('error', () => {});
    const c = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: raw, servername: 'site.test', ca: pki.ca }, () => resolve(s));
      s.once('error', reject);
    });
    const ended = ending(c);
    c.write(protocol === 'http' ? 'GET / HTTP/1.1\r\nHost: site.test\r\n\r\n' : 'hi');
    await new Promise((r) => c.once('data', r));
    assert.equal(p.proxy.sessions.size, 1);
    // A record of type 23 (application data) whose MAC cannot verify: written on the TCP socket
    // under the client's TLS, so OpenSSL on the proxy's side fails to decrypt it.
    raw.write(Buffer.concat([Buffer.from([23, 3, 3, 0, 64]), Buffer.alloc(64, 0xab)]));
    await waitFor(() => p.proxy.sessions.size === 0, 3_000, 'the session ended');
    await ended;
    if (protocol === 'tcp') await waitFor(() => serverSide.every((s) => s.destroyed || s.readableEnded), 3_000, 'the server connection closed');
  });
}
