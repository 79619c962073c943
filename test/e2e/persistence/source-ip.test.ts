// Source-ip persistence (issue 16 §4, Proof "Source-ip persistence"), tcp and http listeners, with
// 127.0.0.2 / 127.0.0.3 as client source addresses:
//   - 127.0.0.2 always reaches the same server until the timeout (other clients scheduled in between
//     by rr), then is scheduled anew and moves;
//   - with netmask 24, 127.0.0.2 and 127.0.0.3 stick together; with the default 32 they do not;
//   - the address counted is the one in a trusted PROXY header (tcp listener with acceptProxyProtocol).
// The 100,000-sources bound is test/unit/pool/persistence.test.ts (the table itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { waitFor } from '../../helpers/wait.ts';
import type { Backend } from '../../helpers/backends.ts';
import { namedHttp, namedTcp, whoServesTcp } from './servers.ts';

type Protocol = 'tcp' | 'http';

async function servers(protocol: Protocol, names: readonly string[]): Promise<Backend[]> {
  return Promise.all(names.map((n) => (protocol === 'tcp' ? namedTcp(n) : namedHttp(n))));
}

/** Which server a new session (tcp) or a request on a new connection (http) from `from` reaches. */
async function who(protocol: Protocol, port: number, from: string): Promise<string> {
  if (protocol === 'tcp') return whoServesTcp(port, from);
  const r = await get(port, { localAddress: from });
  assert.equal(r.status, 200);
  return String(r.headers['x-served-by']);
}

for (const protocol of ['tcp', 'http'] as const) {
  test(`source-ip (${protocol}): 127.0.0.2 reaches the same server until the timeout, then may move`, async (t) => {
    const backends = await servers(protocol, ['s1', 's2']);
    const p = await startProxy({
      logging: { access: false },
      listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol, pool: 'app' }],
      pools: [{ name: 'app', scheduler: 'rr', servers: backends.map((b) => ({ address: b.address })), persistence: { type: 'source-ip', timeout: '1s' } }],
    });
    t.after(async () => {
      await p.stop();
      for (const b of backends) await b.close();
    });
    const port = p.addr('l').port;
    const first = await who(protocol, port, '127.0.0.2');
    // Other clients in between move rr on; 127.0.0.2 stays where it is.
    const others: string[] = [];
    let lastUse = Date.now();
    for (let i = 0; i < 6; i++) {
      assert.equal(await who(protocol, port, '127.0.0.2'), first, `session ${i + 2} from 127.0.0.2`);
      lastUse = Date.now();
      if (i < 2) others.push(await who(protocol, port, `127.0.0.${3 + i}`));
    }
    assert.notEqual(others[0], first, 'rr sends the next client to the other server');
    assert.equal(others[1], first);
    // Idle past the timeout (1 s since its last session): scheduled anew. rr's next pick (the 4th
    // scheduling) is the other server, so 127.0.0.2 moves there, and then sticks to it.
    await waitFor(() => Date.now() - lastUse > 1_300, 5_000, 'the persistence timeout to pass');
    const moved = await who(protocol, port, '127.0.0.2');
    assert.notEqual(moved, first, 'after the timeout 127.0.0.2 was scheduled again (rr: the other server)');
    for (let i = 0; i < 3; i++) assert.equal(await who(protocol, port, '127.0.0.2'), moved);
  });

  test(`source-ip netmask 24 (${protocol}): 127.0.0.2 and 127.0.0.3 stick together; netmask 32 keeps them apart`, async (t) => {
    const backends = await servers(protocol, ['s1', 's2', 's3']);
    const pool = (name: string, netmask: number): Record<string, unknown> => ({
      name,
      scheduler: 'rr',
      servers: backends.map((b) => ({ address: b.address })),
      persistence: { type: 'source-ip', timeout: '5m', netmask },
    });
    const p = await startProxy({
      logging: { access: false },
      listeners: [
        { name: 'l24', listen: '127.0.0.1:0', protocol, pool: 'by24' },
        { name: 'l32', listen: '127.0.0.1:0', protocol, pool: 'by32' },
      ],
      pools: [pool('by24', 24), pool('by32', 32)],
    });
    t.after(async () => {
      await p.stop();
      for (const b of backends) await b.close();
    });
    const l24 = p.addr('l24').port;
    const together = await who(protocol, l24, '127.0.0.2');
    for (let i = 0; i < 5; i++) {
      assert.equal(await who(protocol, l24, '127.0.0.3'), together, '127.0.0.3 with 127.0.0.2');
      assert.equal(await who(protocol, l24, '127.0.0.2'), together);
    }
    // A different /24 is another client.
    assert.notEqual(await who(protocol, l24, '127.0.1.2'), together);
    const l32 = p.addr('l32').port;
    const a = await who(protocol, l32, '127.0.0.2');
    const b = await who(protocol, l32, '127.0.0.3');
    assert.notEqual(a, b, 'netmask 32: two clients, scheduled one after the other by rr');
    for (let i = 0; i < 3; i++) {
      assert.equal(await who(protocol, l32, '127.0.0.2'), a);
      assert.equal(await who(protocol, l32, '127.0.0.3'), b);
    }
  });
}

test('source-ip: the client address of a trusted PROXY header is the one that sticks (and is masked)', async (t) => {
  const backends = await servers('tcp', ['s1', 's2']);
  const p = await startProxy({
    logging: { access: false },
    listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app', acceptProxyProtocol: { from: ['127.0.0.2/32'] } }],
    pools: [{ name: 'app', scheduler: 'rr', servers: backends.map((b) => ({ address: b.address })), persistence: { type: 'source-ip', netmask: 24 } }],
  });
  t.after(async () => {
    await p.stop();
    for (const b of backends) await b.close();
  });
  const port = p.addr('l').port;
  const via = (src: string): Promise<string> => whoServesTcp(port, '127.0.0.2', `PROXY TCP4 ${src} 127.0.0.1 40000 ${port}\r\n`);
  const first = await via('10.1.2.3');
  const other = await via('10.9.9.9');
  assert.notEqual(other, first, 'another client (by its PROXY address) is scheduled: rr, the other server');
  // The same /24 as the first, from the same trusted peer: stuck to the first's server. Were the
  // peer's address (127.0.0.2) counted, all of these would be one client.
  for (let i = 0; i < 4; i++) {
    assert.equal(await via(`10.1.2.${100 + i}`), first);
    assert.equal(await via('10.9.9.1'), other);
  }
  const table = (p.proxy.pools.get('app')!.persistence as unknown as { table: { size: number } }).table;
  assert.equal(table.size, 2, 'two /24s from the PROXY headers; the peer itself is no entry');
});
