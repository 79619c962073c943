// Passive health from live http traffic (issue 16 §2): malformed responses count toward `fall`
// like connect failures do, so a server that accepts connections but answers garbage is taken out
// after `fall` of them (default 3) and the rest of the traffic goes to the healthy server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend, tcpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';

test('a server answering malformed responses is taken down after `fall` of them; traffic goes on to the other one', async (t) => {
  const bad = await tcpBackend((s) => s.on('data', () => s.end('HELLO WORLD\r\n\r\n')));
  const good = await httpBackend('good');
  t.after(() => Promise.all([bad.close(), good.close()]));
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', scheduler: 'rr', servers: [{ address: bad.address }, { address: good.address }] }],
  });
  t.after(() => p.stop());
  const statuses: number[] = [];
  for (let i = 0; i < 12; i++) statuses.push((await get(p.addr('h').port)).status);
  const badServer = p.proxy.pools.get('p')!.find(bad.address)!;
  assert.equal(badServer.health, 'down', `taken out (statuses ${statuses.join(',')})`);
  assert.match(badServer.healthReason, /bad-response/);
  assert.equal(statuses.filter((s) => s === 502).length, 3, `three 502s, then only the good server: ${statuses.join(',')}`);
  assert.deepEqual(statuses.slice(-4), [200, 200, 200, 200]);
});
