// Cookie persistence (issue 16 §4, Proof "Cookie persistence"), http listeners:
//   - the first response inserts `Set-Cookie: FPSRV=<id>; Path=/; HttpOnly; SameSite=Lax` (Secure on
//     a TLS listener), the id is not the server's address;
//   - a client with the cookie stays on its server across new connections, gets no new cookie, and
//     the server never sees our cookie (the client's other cookies reach it intact);
//   - a drained server's cookie holders move elsewhere and get a new cookie; a garbage id is scheduled;
//   - several Cookie fields, our name inside other cookies' names or values (raw bytes on the wire).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { get, rawRequest } from '../../helpers/http.ts';
import { makePki } from '../../helpers/certs.ts';
import { namedHttp, setAdmin, type NamedHttp } from './servers.ts';

const SET_COOKIE = /^FPSRV=([A-Za-z0-9_-]{16}); Path=\/; HttpOnly; SameSite=Lax$/;

interface Setup {
  p: RunningProxy;
  port: number;
  admin: number;
  backends: NamedHttp[];
  byName(name: string): NamedHttp;
}

async function setup(t: import('node:test').TestContext, extra: Record<string, unknown> = {}): Promise<Setup> {
  const backends = await Promise.all(['s1', 's2', 's3'].map((n) => namedHttp(n)));
  const p = await startProxy({
    logging: { access: false },
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
    pools: [{ name: 'app', scheduler: 'rr', servers: backends.map((b) => ({ address: b.address })), persistence: { type: 'cookie' } }],
    ...extra,
  });
  t.after(async () => {
    await p.stop();
    for (const b of backends) await b.close();
  });
  return { p, port: p.addr('web').port, admin: p.proxy.adminAddress!.port, backends, byName: (n) => backends.find((b) => b.name === n)! };
}

function setCookieOf(headers: NodeJS.Dict<string | string[]>): string[] {
  const v = headers['set-cookie'];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

test('cookie: inserted once, honoured on new connections, never forwarded; other cookies intact', async (t) => {
  const { port, backends, byName } = await setup(t);
  const r1 = await get(port, { headers: { cookie: 'a=1; b="x y"' } });
  assert.equal(r1.status, 200);
  const served = String(r1.headers['x-served-by']);
  const sc = setCookieOf(r1.headers);
  assert.equal(sc.length, 1, `one Set-Cookie: ${JSON.stringify(sc)}`);
  const m = SET_COOKIE.exec(sc[0]!);
  assert.ok(m !== null, sc[0]);
  const id = m[1]!;
  for (const b of backends) {
    assert.ok(!id.includes(String(b.port)) && !Buffer.from(id, 'base64url').toString('latin1').includes('127.0.0.1'), 'the id is not the address');
  }
  assert.equal(byName(served).cookies.at(-1), 'a=1; b="x y"');
  // rr would rotate: the cookie keeps the client where it is, one new connection per request.
  for (let i = 0; i < 9; i++) {
    const r = await get(port, { headers: { cookie: `a=1; FPSRV=${id}; b="x y"` } });
    assert.equal(r.headers['x-served-by'], served, `request ${i + 2}`);
    assert.deepEqual(setCookieOf(r.headers), [], 'a client holding the id gets no new cookie');
  }
  assert.equal(byName(served).cookies.length, 10);
  assert.ok(byName(served).cookies.every((c) => c === 'a=1; b="x y"'), `the server saw: ${JSON.stringify(byName(served).cookies)}`);
  // Only our cookie: the Cookie field goes altogether.
  const r = await get(port, { headers: { cookie: `FPSRV=${id}` } });
  assert.equal(r.headers['x-served-by'], served);
  assert.equal(byName(served).cookies.at(-1), undefined);
  // Another client (no cookie) is scheduled and gets its own.
  const other = await get(port);
  assert.notEqual(other.headers['x-served-by'], served);
  assert.notEqual(SET_COOKIE.exec(setCookieOf(other.headers)[0] ?? '')?.[1], id);
});

test('cookie: a drained server\'s cookie holders move elsewhere and get a new cookie; garbage ids are scheduled', async (t) => {
  const { port, admin, byName } = await setup(t);
  const r1 = await get(port);
  const first = String(r1.headers['x-served-by']);
  const id = SET_COOKIE.exec(setCookieOf(r1.headers)[0]!)![1]!;
  const address = byName(first).address;
  await setAdmin(admin, 'app', address, 'drain');
  const r2 = await get(port, { headers: { cookie: `FPSRV=${id}` } });
  const second = String(r2.headers['x-served-by']);
  assert.notEqual(second, first, 'the draining server gets no persisted client');
  const id2 = SET_COOKIE.exec(setCookieOf(r2.headers)[0] ?? '')?.[1];
  assert.ok(id2 !== undefined && id2 !== id, `a new cookie: ${JSON.stringify(r2.headers['set-cookie'])}`);
  for (let i = 0; i < 4; i++) {
    const r = await get(port, { headers: { cookie: `FPSRV=${id2}` } });
    assert.equal(r.headers['x-served-by'], second);
    assert.deepEqual(setCookieOf(r.headers), []);
  }
  assert.equal(byName(first).cookies.length, 1, 'nothing more reached the drained server');
  // Enabled again: the holder of the new cookie stays where it was moved; the old id works again.
  await setAdmin(admin, 'app', address, 'enable');
  assert.equal((await get(port, { headers: { cookie: `FPSRV=${id2}` } })).headers['x-served-by'], second);
  assert.equal((await get(port, { headers: { cookie: `FPSRV=${id}` } })).headers['x-served-by'], first);
  // Garbage, an empty value, an id of another length, a very long value: scheduled, a fresh cookie, nothing forwarded.
  for (const bad of ['garbage', '', 'A'.repeat(16), `${id}x`, 'x'.repeat(8_000), `"${id}`]) {
    const r = await get(port, { headers: { cookie: `FPSRV=${bad}` } });
    assert.equal(r.status, 200);
    assert.match(setCookieOf(r.headers)[0] ?? '', SET_COOKIE, `FPSRV=${bad.slice(0, 20)}`);
    assert.equal(byName(String(r.headers['x-served-by'])).cookies.at(-1), undefined);
  }
});

test('cookie: several Cookie fields and look-alike names, raw on the wire', async (t) => {
  const { port, byName } = await setup(t);
  const r1 = await get(port);
  const served = String(r1.headers['x-served-by']);
  const id = SET_COOKIE.exec(setCookieOf(r1.headers)[0]!)![1]!;
  const head = (cookies: string[]): string => `GET / HTTP/1.1\r\nHost: x\r\n${cookies.map((c) => `Cookie: ${c}\r\n`).join('')}Connection: close\r\n\r\n`;
  for (let i = 0; i < 3; i++) {
    // rr moves on between these; the cookie in the second field still decides.
    const r = await rawRequest(port, head(['XFPSRV=1; FPSRVX=2; q=FPSRV', `fpsrv=3; FPSRV=${id}`]));
    assert.equal(r.status, 200);
    assert.equal(r.header('x-served-by'), served);
    assert.deepEqual(r.headerAll('set-cookie'), []);
    // node:http joins several Cookie fields with '; ' (RFC 6265 §5.4 wants one); ours are gone.
    assert.equal(byName(served).cookies.at(-1), 'XFPSRV=1; FPSRVX=2; q=FPSRV; fpsrv=3');
  }
  // Look-alikes only: not our cookie; the client is scheduled and gets one, its cookies untouched.
  const r = await rawRequest(port, head(['XFPSRV=' + id, 'FPSRV_=' + id]));
  assert.match(r.header('set-cookie') ?? '', SET_COOKIE);
  assert.equal(byName(String(r.header('x-served-by'))).cookies.at(-1), `XFPSRV=${id}; FPSRV_=${id}`);
});

test('cookie: Secure on a TLS listener; a custom cookie name', async (t) => {
  const pki = makePki();
  const leaf = pki.leaf('proxy', ['127.0.0.1']);
  const s1 = await namedHttp('s1');
  const s2 = await namedHttp('s2');
  const p = await startProxy({
    logging: { access: false },
    listeners: [{ name: 'tls', listen: '127.0.0.1:0', protocol: 'http', pool: 'app', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    pools: [{ name: 'app', scheduler: 'rr', servers: [{ address: s1.address }, { address: s2.address }], persistence: { type: 'cookie', name: 'route_id' } }],
  });
  t.after(async () => {
    await p.stop();
    await s1.close();
    await s2.close();
  });
  const port = p.addr('tls').port;
  const fetchTls = (cookie?: string): Promise<{ who: string; setCookie: string[] }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, path: '/', ca: pki.ca, agent: false, headers: cookie === undefined ? {} : { cookie } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ who: String(res.headers['x-served-by']), setCookie: setCookieOf(res.headers) }));
      });
      req.on('error', reject);
      req.end();
    });
  const r1 = await fetchTls();
  assert.equal(r1.setCookie.length, 1);
  const m = /^route_id=([A-Za-z0-9_-]{16}); Path=\/; HttpOnly; SameSite=Lax; Secure$/.exec(r1.setCookie[0]!);
  assert.ok(m !== null, r1.setCookie[0]);
  for (let i = 0; i < 4; i++) {
    const r = await fetchTls(`route_id=${m[1]}; FPSRV=keep`);
    assert.equal(r.who, r1.who);
    assert.deepEqual(r.setCookie, []);
  }
  const served = r1.who === 's1' ? s1 : s2;
  assert.equal(served.cookies.at(-1), 'FPSRV=keep', 'only the configured name is ours');
});
