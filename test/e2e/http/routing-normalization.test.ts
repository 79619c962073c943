// Routing compares a normalized request (router.ts, issue 13 row 11): a dot-segment, encoded or
// not, cannot carry a request out of (or into) a path route, and a Host with a trailing dot or
// capitals cannot escape a host route. The server still gets the target and Host exactly as sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { RawClient } from '../../helpers/http.ts';

test('routes match the normalized path and Host; the server gets the target and Host as sent', async (t) => {
  const echo = (name: string) => httpBackend(name, (req, res) => res.end(`${name} ${req.url} host=${req.headers.host}`));
  const def = await echo('default');
  const raw = await echo('raw');
  const api = await echo('api');
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      {
        name: 'h',
        listen: '127.0.0.1:0',
        protocol: 'http',
        pool: 'default',
        routes: [
          { pathPrefix: '/raw/', pool: 'raw' },
          { host: 'api.example.com', pool: 'api' },
        ],
      },
    ],
    pools: [
      { name: 'default', servers: [{ address: def.address }] },
      { name: 'raw', servers: [{ address: raw.address }] },
      { name: 'api', servers: [{ address: api.address }] },
    ],
  });
  const c = await RawClient.open(p.addr('h').port);
  t.after(async () => {
    c.destroy();
    await p.stop();
    await Promise.all([def.close(), raw.close(), api.close()]);
  });
  // [target, Host, the pool that must answer]; one keep-alive connection for all of them.
  const cases: Array<[string, string, string]> = [
    ['/raw/y', 'www.example.com', 'raw'],
    ['/raw/../secret', 'www.example.com', 'default'],
    ['/raw/%2e%2e/secret', 'www.example.com', 'default'],
    ['/raw/%2E%2E/secret?next=/raw/', 'www.example.com', 'default'],
    ['/x/../raw/y', 'www.example.com', 'raw'],
    ['/x/%2e%2e/raw/y?q=1', 'www.example.com', 'raw'],
    ['/secret', 'API.example.com.', 'api'],
    ['/secret', 'api.example.com.:8080', 'api'],
    ['/secret', 'api.example.com', 'api'],
    ['/secret', 'www.example.com', 'default'],
  ];
  for (const [target, host, pool] of cases) {
    c.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    const r = await c.response();
    assert.equal(r.status, 200, `${target} Host: ${host}`);
    assert.equal(r.body.toString(), `${pool} ${target} host=${host}`, `${target} Host: ${host}`);
  }
});
