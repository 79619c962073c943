// TCP keepalive (SPEC listeners[].tcpKeepAlive / pools[].tcpKeepAlive): the kernel's own view
// (`ss -o`) of the proxy's sockets shows a keepalive timer with the configured idle time on each
// side of a live session, none where it is off. Sessions arm it on their first sweep tick, so a
// session must live past it (connections that end sooner never pay for the setsockopt calls).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Socket } from 'node:net';
import { tcpBackend, httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { dial } from '../../helpers/clients.ts';
import { RawClient } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Keepalive idle seconds of the established sockets matching an ss filter (null = no keepalive timer). */
function keepAliveTimers(filter: string): Array<number | null> {
  const out = execFileSync('ss', ['-tnoH', 'state', 'established', filter], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const m = /timer:\(keepalive,(?:(\d+)min)?(\d+)(?:\.\d+)?(m?sec)?/.exec(l);
      if (m === null) return null;
      const min = m[1] === undefined ? 0 : Number(m[1]);
      const secs = m[3] === 'msec' ? Number(m[2]) / 1000 : Number(m[2]);
      return min * 60 + secs;
    });
}

/** Waits until every matching socket shows a keepalive timer; returns their idle seconds. */
async function armed(filter: string): Promise<number[]> {
  let last: Array<number | null> = [];
  await waitFor(() => {
    last = keepAliveTimers(filter);
    return last.length > 0 && last.every((t) => t !== null);
  }, 3_000, `keepalive on ${filter}: ${JSON.stringify(last)}`);
  return last as number[];
}

const near = (secs: number, want: number) => secs <= want && secs >= want - 5;

test('tcp session: the client socket gets listeners[].tcpKeepAlive, the server socket pools[].tcpKeepAlive', async () => {
  const b = await tcpBackend((s: Socket) => s.pipe(s));
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', tcpKeepAlive: '30s' }],
    pools: [{ name: 'p', servers: [{ address: b.address }], tcpKeepAlive: '45s' }],
  });
  const c = await dial(p.addr('t').port);
  try {
    c.write('x');
    const client = await armed(`( sport = :${p.addr('t').port} )`);
    const server = await armed(`( dport = :${b.port} )`);
    assert.ok(client.every((t) => near(t, 30)), `client side ${JSON.stringify(client)}`);
    assert.ok(server.every((t) => near(t, 45)), `server side ${JSON.stringify(server)}`);
  } finally {
    c.destroy();
    await p.stop();
    await b.close();
  }
});

test('tcpKeepAlive false: no keepalive timer on that side, the other side still has its own', async () => {
  const b = await tcpBackend((s: Socket) => s.pipe(s));
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', tcpKeepAlive: false }],
    pools: [{ name: 'p', servers: [{ address: b.address }], tcpKeepAlive: '45s' }],
  });
  const c = await dial(p.addr('t').port);
  try {
    c.write('x');
    await armed(`( dport = :${b.port} )`); // past the sweep tick that arms the session
    const client = keepAliveTimers(`( sport = :${p.addr('t').port} )`);
    assert.deepEqual(client, [null], 'the client side has no keepalive timer');
  } finally {
    c.destroy();
    await p.stop();
    await b.close();
  }
});

test('http: kept-alive client connections get the listener keepalive, pooled server connections the pool keepalive', async () => {
  const b = await httpBackend('k');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', tcpKeepAlive: '20s', timeouts: { httpKeepAlive: '10s' } }],
    pools: [{ name: 'p', servers: [{ address: b.address }], tcpKeepAlive: '40s' }],
  });
  const c = await RawClient.open(p.addr('h').port);
  try {
    c.write('GET / HTTP/1.1\r\nHost: k.test\r\n\r\n');
    assert.equal((await c.response()).status, 200);
    const client = await armed(`( sport = :${p.addr('h').port} )`);
    const server = await armed(`( dport = :${b.port} )`);
    assert.ok(client.every((t) => near(t, 20)), `client side ${JSON.stringify(client)}`);
    assert.ok(server.every((t) => near(t, 40)), `server side ${JSON.stringify(server)}`);
  } finally {
    c.destroy();
    await p.stop();
    await b.close();
  }
});
