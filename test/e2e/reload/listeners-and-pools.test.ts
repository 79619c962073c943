// What a reload does to listeners and pools (issue 14, docs/reloading.md): a removed listener stops
// accepting and its sessions drain until drainTimeout, then are reset; a changed address is bound
// anew and the old one closed; a kept server keeps its idle pooled connection; a pool whose
// PROXY-header setting changed closes its idle connections and makes new ones with the header.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { echoBackend, tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { get } from '../../helpers/http.ts';
import { freePorts } from '../../helpers/judges.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import type { Runtime } from '../../../src/runtime.ts';
import { waitFor } from '../../helpers/wait.ts';
import { makePki } from '../../helpers/certs.ts';
import { connect as tlsConnect } from 'node:tls';
import { once } from 'node:events';

async function apply(proxy: Runtime, config: Record<string, unknown>): Promise<void> {
  const loaded = loadConfigObject(config, '/');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const r = await proxy.apply(loaded.config);
  assert.equal(r.ok, true, JSON.stringify(r));
}

/** A client socket whose end (the proxy resets it at stop) is the test's business, not an error. */
async function client(port: number): Promise<Socket> {
  const s = await dial(port);
  s.on('error', () => {});
  return s;
}

function echoOnce(s: Socket, msg: string): Promise<string> {
  return new Promise((resolve) => {
    s.once('data', (d: Buffer) => resolve(d.toString()));
    s.write(msg);
  });
}

test('a removed listener stops accepting; its session goes on until drainTimeout, then is reset', async () => {
  const echoServer = await echoBackend();
  const [keepPort, dropPort] = await freePorts(2);
  const base = {
    logging: { level: 'silent' },
    drainTimeout: '1s',
    listeners: [
      { name: 'keep', listen: `127.0.0.1:${keepPort}`, protocol: 'tcp', pool: 'echo' },
      { name: 'drop', listen: `127.0.0.1:${dropPort}`, protocol: 'tcp', pool: 'echo' },
    ],
    pools: [{ name: 'echo', servers: [{ address: echoServer.address }] }],
  };
  const p = await startProxy(base);
  try {
    const onDropped = await dial(dropPort!);
    onDropped.on('error', () => {});
    const onKept = await dial(keepPort!);
    onKept.on('error', () => {});
    assert.equal(await echoOnce(onDropped, 'a'), 'a');
    const ended = outcome(onDropped);
    const started = Date.now();
    await apply(p.proxy, { ...base, listeners: [base.listeners[0]] });
    assert.ok(!p.proxy.listeners.has('drop'));
    await assert.rejects(dial(dropPort!), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED', 'the removed listener accepts nothing');
    assert.equal(await echoOnce(onDropped, 'b'), 'b', 'its session goes on while it drains');
    const r = await ended;
    assert.equal(r.how, 'reset', 'reset at drainTimeout');
    assert.ok(Date.now() - started >= 900, `not before drainTimeout (${Date.now() - started} ms)`);
    assert.equal(await echoOnce(onKept, 'c'), 'c', "the kept listener's session is untouched");
    assert.equal(await echoOnce(await client(keepPort!), 'd'), 'd');
    onKept.destroy();
  } finally {
    await p.stop();
    await echoServer.close();
  }
});

test('a removed TLS listener: its TLS session goes on while it drains, then is reset at drainTimeout (sessions found under the TLSSocket)', async () => {
  const echoServer = await echoBackend();
  const pki = makePki();
  const leaf = pki.leaf('drop', ['localhost']);
  const [keepPort, dropPort] = await freePorts(2);
  const base = {
    logging: { level: 'silent' },
    drainTimeout: '1s',
    listeners: [
      { name: 'keep', listen: `127.0.0.1:${keepPort}`, protocol: 'tcp', pool: 'echo' },
      { name: 'drop', listen: `127.0.0.1:${dropPort}`, protocol: 'tcp', pool: 'echo', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } },
    ],
    pools: [{ name: 'echo', servers: [{ address: echoServer.address }] }],
  };
  const p = await startProxy(base);
  try {
    const onDropped = tlsConnect({ host: '127.0.0.1', port: dropPort!, servername: 'localhost', ca: pki.ca });
    await once(onDropped, 'secureConnect');
    onDropped.on('error', () => {});
    assert.equal(await echoOnce(onDropped, 'a'), 'a');
    const ended = outcome(onDropped);
    const started = Date.now();
    await apply(p.proxy, { ...base, listeners: [base.listeners[0]] });
    assert.equal(await echoOnce(onDropped, 'b'), 'b', 'its session goes on while it drains');
    const r = await ended;
    assert.ok(r.how === 'reset' || r.how === 'end', `ended by the drain (${r.how})`);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 5_000, `at drainTimeout, not before and not never (${took} ms)`);
    await waitFor(() => p.proxy.sessions.size === 0, 2_000, 'no session of the retired listener left in the table');
  } finally {
    await p.stop();
    await echoServer.close();
  }
});

test('a changed listen address: the new one is bound, the old one closed, its sessions go on', async () => {
  const echoServer = await echoBackend();
  const [oldPort, newPort] = await freePorts(2);
  const config = (port: number): Record<string, unknown> => ({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: `127.0.0.1:${port}`, protocol: 'tcp', pool: 'echo' }],
    pools: [{ name: 'echo', servers: [{ address: echoServer.address }] }],
  });
  const p = await startProxy(config(oldPort!));
  try {
    const s = await dial(oldPort!);
    s.on('error', () => {});
    await apply(p.proxy, config(newPort!));
    assert.equal(p.addr('t').port, newPort);
    await assert.rejects(dial(oldPort!), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
    assert.equal(await echoOnce(await client(newPort!), 'new'), 'new');
    assert.equal(await echoOnce(s, 'old'), 'old', 'the session accepted on the old address goes on');
    s.destroy();
  } finally {
    await p.stop();
    await echoServer.close();
  }
});

test('a kept server keeps its idle connection; a changed sendProxyProtocol closes it and the next one carries the header', async () => {
  // A raw HTTP server that records, per connection, whether it began with a PROXY header.
  const conns: Array<{ proxyHeader: boolean; closed: boolean }> = [];
  const b = await tcpBackend((sock) => {
    const c = { proxyHeader: false, closed: false };
    conns.push(c);
    let buf = '';
    let first = true;
    // The proxy's FIN (this raw server is half-open: 'end' is the signal, then it closes too).
    sock.on('end', () => {
      c.closed = true;
      sock.end();
    });
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (first && buf.length >= 6) {
        first = false;
        if (buf.startsWith('PROXY ')) {
          c.proxyHeader = true;
          buf = buf.slice(buf.indexOf('\r\n') + 2);
        }
      }
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  const config = (pp: 'off' | 'v1', weight: number): Record<string, unknown> => ({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', sendProxyProtocol: pp, servers: [{ address: b.address, weight }] }],
  });
  const p = await startProxy(config('off', 1));
  try {
    const port = p.addr('h').port;
    assert.equal((await get(port)).status, 200);
    assert.equal(conns.length, 1);
    // A reload that only changes the weight: the same server, its idle connection reused.
    await apply(p.proxy, config('off', 5));
    assert.equal((await get(port)).status, 200);
    assert.equal(conns.length, 1, 'the idle server connection survived the reload and was reused');
    assert.equal(p.proxy.pools.get('p')!.servers[0]!.weight, 5);
    assert.equal(p.proxy.pools.get('p')!.servers[0]!.requestsTotal, 2, 'the server kept its counters');
    // sendProxyProtocol changes: the idle connection (made without a header) is closed.
    await apply(p.proxy, config('v1', 5));
    await waitFor(() => conns[0]!.closed, 3_000, 'the idle connection without a PROXY header closed');
    assert.equal((await get(port)).status, 200);
    assert.equal(conns.length, 2);
    assert.equal(conns[1]!.proxyHeader, true, 'the new connection starts with the PROXY header');
  } finally {
    await p.stop();
    await b.close();
  }
});

test('an ACL added by a reload applies to new connections on the kept socket; the session accepted before goes on', async () => {
  const echoServer = await echoBackend();
  const base = {
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo' }],
    pools: [{ name: 'echo', servers: [{ address: echoServer.address }] }],
  };
  const p = await startProxy(base);
  try {
    const port = p.addr('t').port;
    const before = await client(port);
    assert.equal(await echoOnce(before, 'a'), 'a');
    await apply(p.proxy, { ...base, listeners: [{ ...base.listeners[0], acl: [{ action: 'deny', source: '127.0.0.0/8' }] }] });
    assert.equal(p.addr('t').port, port, 'the same bound socket');
    // A refusal is a reset (docs/protection.md), which may arrive before the connect is reported:
    // watch the socket from the start instead of waiting for the connect first.
    const r = await outcome(connect(port, '127.0.0.1'));
    assert.ok(r.how === 'reset' || r.how === 'end', `closed by the proxy (${r.how})`);
    assert.equal(r.data.length, 0);
    await waitFor(() => p.proxy.listeners.get('t')!.counters.rejectedAcl === 1, 2_000, 'the deny counted');
    assert.equal(await echoOnce(before, 'b'), 'b', 'the session accepted before the reload goes on');
    before.destroy();
  } finally {
    await p.stop();
    await echoServer.close();
  }
});
