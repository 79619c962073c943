// Drain in tcp mode with source-ip persistence (issue 16 §4 Proof; SPEC: a draining server gets no
// new sessions, persisted clients included, and keeps its established ones): the session open when
// the server is drained finishes on it, byte for byte; new sessions from the same client address go
// elsewhere, and stay there (re-stuck) after the server is enabled again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { startProxy } from '../../helpers/fullproxy.ts';
import { outcome } from '../../helpers/clients.ts';
import { namedTcp, setAdmin, whoServesTcp } from './servers.ts';

/** A session from `from` that stays open: the server's greeting line read, the socket kept. */
async function openSession(port: number, from: string): Promise<{ socket: Socket; server: string }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from, allowHalfOpen: true });
  await once(socket, 'connect');
  let got = '';
  while (!got.includes('\n')) {
    const [d] = (await once(socket, 'data', { signal: AbortSignal.timeout(5_000) })) as [Buffer];
    got += d.toString('latin1');
  }
  return { socket, server: got.slice(0, got.indexOf('\n')) };
}

test('drain (tcp, source-ip): the established session finishes on its server; new sessions from the persisted client go elsewhere', async (t) => {
  const backends = await Promise.all(['s1', 's2', 's3'].map((n) => namedTcp(n)));
  const p = await startProxy({
    logging: { access: false },
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', scheduler: 'rr', servers: backends.map((b) => ({ address: b.address })), persistence: { type: 'source-ip', timeout: '5m' } }],
  });
  t.after(async () => {
    await p.stop();
    for (const b of backends) await b.close();
  });
  const port = p.addr('l').port;
  const admin = p.proxy.adminAddress!.port;
  const open = await openSession(port, '127.0.0.2');
  const stuck = backends[Number(open.server.slice(1)) - 1]!; // named s1, s2, s3 in order
  assert.equal(await whoServesTcp(port, '127.0.0.2'), open.server, 'persisted before the drain');
  await setAdmin(admin, 'app', stuck.address, 'drain');

  // New sessions from the persisted client: never the draining server.
  const after = new Set<string>();
  for (let i = 0; i < 6; i++) after.add(await whoServesTcp(port, '127.0.0.2'));
  assert.equal(after.has(open.server), false, `new sessions went to ${[...after].join(', ')}`);
  assert.equal(after.size, 1, 're-stuck to one server');
  const moved = [...after][0]!;

  // The established session still works on the draining server and ends cleanly.
  const payload = Buffer.alloc(256 * 1024, 7);
  const ended = outcome(open.socket);
  open.socket.end(payload);
  const { how, data } = await ended;
  assert.equal(how, 'end');
  assert.equal(data.length, payload.length, 'every byte echoed back by the drained server');
  assert.ok(data.equals(payload));
  assert.equal(stuck.accepted, 2, 'the drained server accepted nothing after the drain');

  // Enabled again: the client stays where it was moved.
  await setAdmin(admin, 'app', stuck.address, 'enable');
  for (let i = 0; i < 3; i++) assert.equal(await whoServesTcp(port, '127.0.0.2'), moved);
  // The admin API shows the table: one client address.
  const r = (await (await fetch(`http://127.0.0.1:${admin}/api/v1/pools`)).json()) as { pools: Array<{ name: string; persistence: unknown }> };
  assert.deepEqual(r.pools.find((x) => x.name === 'app')?.persistence, { type: 'source-ip', timeoutMs: 300_000, netmask: 32, netmask6: 128, entries: 1, maxEntries: 100_000 });
});
