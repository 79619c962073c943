// Stickiness survives a reload when the pool and the server still exist (issue 16 §4): a reload that
// adds a server, reorders the list and changes the timeout keeps every source-ip entry and every
// cookie id of the kept servers; the clients of a server the reload dropped are scheduled again and
// re-stuck (a new cookie). Through the config file and SIGHUP's code path (Runtime.apply).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy, ROOT } from '../../helpers/fullproxy.ts';
import { get } from '../../helpers/http.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { namedHttp, namedTcp, whoServesTcp } from './servers.ts';

const SET_COOKIE = /^FPSRV=([A-Za-z0-9_-]{16}); Path=\/; HttpOnly; SameSite=Lax$/;

test('reload: source-ip entries and cookie ids of kept servers survive; a dropped server\'s clients are re-stuck', async (t) => {
  const tcp = await Promise.all(['t1', 't2', 't3', 't4'].map((n) => namedTcp(n)));
  const web = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((n) => namedHttp(n)));
  const config = (tcpServers: number[], webServers: number[], timeout: string): Record<string, unknown> => ({
    logging: { access: false },
    listeners: [
      { name: 'tcp', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'tcp' },
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'web' },
    ],
    pools: [
      { name: 'tcp', scheduler: 'rr', servers: tcpServers.map((i) => ({ address: tcp[i]!.address })), persistence: { type: 'source-ip', timeout } },
      { name: 'web', scheduler: 'rr', servers: webServers.map((i) => ({ address: web[i]!.address })), persistence: { type: 'cookie' } },
    ],
  });
  const p = await startProxy(config([0, 1, 2], [0, 1, 2], '5m'));
  t.after(async () => {
    await p.stop();
    for (const b of [...tcp, ...web]) await b.close();
  });
  const tcpPort = p.addr('tcp').port;
  const webPort = p.addr('web').port;
  // Three source addresses on three tcp servers (rr), three cookie holders on three http servers.
  const sources = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const before = new Map<string, string>();
  for (const s of sources) before.set(s, await whoServesTcp(tcpPort, s));
  assert.equal(new Set(before.values()).size, 3);
  const ids = new Map<string, string>();
  for (let i = 0; i < 3; i++) {
    const r = await get(webPort);
    ids.set(String(r.headers['x-served-by']), SET_COOKIE.exec(String(r.headers['set-cookie']))![1]!);
  }
  assert.equal(ids.size, 3);

  // The reload drops t1/w1, adds t4/w4, reverses the order and changes the timeout.
  const loaded = loadConfigObject(config([3, 2, 1], [3, 2, 1], '10m'), ROOT);
  assert.ok(loaded.ok);
  const result = await p.proxy.apply(loaded.config);
  assert.equal(result.ok, true, JSON.stringify(result));

  for (const s of sources) {
    const was = before.get(s)!;
    const now = await whoServesTcp(tcpPort, s);
    if (was === 't1') {
      assert.notEqual(now, 't1', `${s}: its server was dropped`);
      for (let i = 0; i < 3; i++) assert.equal(await whoServesTcp(tcpPort, s), now, `${s}: re-stuck`);
    } else for (let i = 0; i < 3; i++) assert.equal(i === 0 ? now : await whoServesTcp(tcpPort, s), was, `${s} kept its server across the reload`);
  }
  for (const [server, id] of ids) {
    const r = await get(webPort, { headers: { cookie: `FPSRV=${id}` } });
    if (server === 'w1') {
      assert.notEqual(r.headers['x-served-by'], 'w1');
      const fresh = SET_COOKIE.exec(String(r.headers['set-cookie']))?.[1];
      assert.ok(fresh !== undefined && fresh !== id, 'a new cookie for the dropped server\'s client');
    } else {
      assert.equal(r.headers['x-served-by'], server, `the ${server} cookie still names ${server}`);
      assert.equal(r.headers['set-cookie'], undefined);
    }
  }
  assert.equal(web[0]!.cookies.length, 1, 'nothing reached the dropped server after the reload');
});
