// Re-encryption to servers (`pools[].tls`, issue 15 §3) against a real nginx with `ssl`: verify on
// against a throwaway test CA (SNI sent, or none for an IP), through an http and a tcp listener;
// a certificate from another CA → 502 with a reason and a connect error; `verify: false` works and
// warns; session resumption (nginx `$ssl_session_reused`); PROXY v2 then TLS (`listen ... ssl
// proxy_protocol`); a server that does not speak TLS; bad CA files at check and reload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../../helpers/certs.ts';
import { startNginx } from '../../helpers/nginx.ts';
import { freePorts } from '../../helpers/judges.ts';
import { get } from '../../helpers/http.ts';
import { NODE, ROOT, spawnProxy, startProxy } from '../../helpers/fullproxy.ts';
import { postReload, stats } from '../../helpers/reload.ts';

/** Config problems end with their place in the file, ` (line L, column C)`: compared without it. */
const withoutPosition = (line: string): string => line.replace(/ \(line \d+, column \d+\)$/, '');

const pki = makePki();
const leaf = pki.leaf('upstream', ['app.test', '127.0.0.1']);
const other = makePki(); // another CA: its leaf is valid for the names, but nobody trusts it here
const stranger = other.leaf('stranger', ['app.test', '127.0.0.1']);

const BODY = 'proto=$ssl_protocol sni=$ssl_server_name reused=$ssl_session_reused';

async function nginxWithTls() {
  const [good, pp, wrong] = await freePorts(3);
  const ssl = (c: { cert: string; key: string }) => `ssl_certificate ${c.cert}; ssl_certificate_key ${c.key}; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_tickets on;`;
  const nginx = await startNginx({
    logFormat: '$server_port $ssl_protocol "$ssl_server_name" $ssl_session_reused "$proxy_protocol_addr"',
    http: `
  server { listen 127.0.0.1:${good} ssl; ${ssl(leaf)} location / { default_type text/plain; return 200 "${BODY}\\n"; } }
  server { listen 127.0.0.1:${pp} ssl proxy_protocol; ${ssl(leaf)} location / { default_type text/plain; return 200 "pp=$proxy_protocol_addr:$proxy_protocol_port ${BODY}\\n"; } }
  server { listen 127.0.0.1:${wrong} ssl; ${ssl(stranger)} location / { default_type text/plain; return 200 "${BODY}\\n"; } }`,
  });
  return { nginx, good: good!, pp: pp!, wrong: wrong! };
}

/** One request over a tcp listener (a new server connection each time): the response text. */
function viaTcp(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    let text = '';
    s.on('data', (d: Buffer) => (text += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(text));
    s.end('GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
  });
}

const bodyOf = (text: string): string => text.slice(text.indexOf('\r\n\r\n') + 4).trim();

test('re-encryption with verify on against a test CA: http and tcp listeners, SNI, resumption, PROXY v2 first', async (t) => {
  const { nginx, good, pp } = await nginxWithTls();
  const p = await startProxy({
    listeners: [
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'named' },
      { name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'byIp' },
      { name: 'pp', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'proxied' },
    ],
    pools: [
      { name: 'named', servers: [{ address: `127.0.0.1:${good}` }], tls: { servername: 'app.test', ca: pki.caCert } },
      { name: 'byIp', servers: [{ address: `127.0.0.1:${good}` }], tls: { ca: pki.caCert } },
      { name: 'proxied', sendProxyProtocol: 'v2', servers: [{ address: `127.0.0.1:${pp}` }], tls: { servername: 'app.test', ca: pki.caCert } },
    ],
  });
  t.after(async () => {
    await p.stop();
    await nginx.stop();
  });

  await t.test('http listener: 200 over TLS 1.3 with the configured SNI; the pooled TLS connection is reused', async () => {
    const a = await get(p.addr('web').port);
    assert.equal(a.status, 200);
    assert.match(a.body.toString(), /^proto=TLSv1\.3 sni=app\.test reused=\.$/m);
    const b = await get(p.addr('web').port);
    assert.equal(b.status, 200);
    // The second request rode the kept-alive TLS connection: still one connection at nginx.
    const server = p.proxy.pools.get('named')!.servers[0]!;
    assert.equal(server.openSockets, 1, 'one pooled server connection');
  });

  await t.test('tcp listener: a server given by IP gets no SNI and is verified against its IP SAN; the next connection resumes the session', async () => {
    const first = bodyOf(await viaTcp(p.addr('raw').port));
    assert.equal(first, 'proto=TLSv1.3 sni= reused=.');
    const second = bodyOf(await viaTcp(p.addr('raw').port));
    assert.equal(second, 'proto=TLSv1.3 sni= reused=r', 'the session ticket from the first connection was offered and taken');
    const third = bodyOf(await viaTcp(p.addr('raw').port));
    assert.equal(third, 'proto=TLSv1.3 sni= reused=r');
  });

  await t.test('PROXY v2 then TLS: nginx (listen ... ssl proxy_protocol) reads the header first, then the handshake', async () => {
    const body = bodyOf(await viaTcp(p.addr('pp').port));
    assert.match(body, /^pp=127\.0\.0\.1:\d+ proto=TLSv1\.3 sni=app\.test reused=[.r]$/);
  });

  await t.test('the access log agrees: TLS, the SNI we sent, and a reused session', async () => {
    await new Promise((r) => setTimeout(r, 100));
    const lines = nginx.accessLines();
    assert.ok(lines.some((l) => l.startsWith(`${good} TLSv1.3 "app.test" .`)), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith(`${good} TLSv1.3 "-" r`)), lines.join('\n'));
    assert.ok(lines.some((l) => l.startsWith(`${pp} TLSv1.3 "app.test"`) && l.endsWith('"127.0.0.1"')), lines.join('\n'));
  });

  await t.test('every server socket is accounted for once the sessions end', async () => {
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(p.proxy.pools.get('byIp')!.servers[0]!.openSockets, 0);
    assert.equal(p.proxy.pools.get('proxied')!.servers[0]!.openSockets, 0);
  });
});

test('a certificate from another CA: 502 with the reason, a connect error for the server; verify: false works and warns', async (t) => {
  const { nginx, wrong, good } = await nginxWithTls();
  const p = await startProxy({
    listeners: [
      { name: 'strict', listen: '127.0.0.1:0', protocol: 'http', pool: 'strict' },
      { name: 'strictTcp', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'strict' },
      { name: 'lax', listen: '127.0.0.1:0', protocol: 'http', pool: 'lax' },
      { name: 'plainServer', listen: '127.0.0.1:0', protocol: 'http', pool: 'plainServer' },
    ],
    pools: [
      { name: 'strict', retries: 0, servers: [{ address: `127.0.0.1:${wrong}` }], tls: { servername: 'app.test', ca: pki.caCert } },
      { name: 'lax', servers: [{ address: `127.0.0.1:${wrong}` }], tls: { verify: false } },
      // nginx's plain port: no TLS there at all.
      { name: 'plainServer', retries: 0, servers: [{ address: `127.0.0.1:${nginx.port}` }], tls: { ca: pki.caCert } },
    ],
  });
  t.after(async () => {
    await p.stop();
    await nginx.stop();
  });
  void good;

  await t.test('verify on: 502, x-fullproxy-reason connect-failed, the log says why, connectErrors counts it', async () => {
    const r = await get(p.addr('strict').port);
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-fullproxy-reason'], 'connect-failed');
    const server = p.proxy.pools.get('strict')!.servers[0]!;
    assert.equal(server.connectErrors, 1);
    const failed = p.logs.find('request failed').map((l) => String(l['err']));
    assert.ok(failed.some((e) => e.startsWith(`TLS to 127.0.0.1:${wrong}: certificate verify failed: self-signed certificate in certificate chain`) || e.startsWith(`TLS to 127.0.0.1:${wrong}: certificate verify failed: unable to`)), failed.join('\n'));
    // The tcp listener: the client is closed without a byte, the server counted again.
    const text = await viaTcp(p.addr('strictTcp').port);
    assert.equal(text, '');
    assert.equal(server.connectErrors, 2);
    assert.equal(server.openSockets, 0);
  });

  await t.test('verify: false: the same server answers, and a warning was logged at load', async () => {
    const r = await get(p.addr('lax').port);
    assert.equal(r.status, 200);
    assert.match(r.body.toString(), /^proto=TLSv1\.3 sni= reused=\.$/m);
    const warned = p.logs.lines.filter((l) => l['level'] === 40 && String(l['msg']).startsWith('TLS to servers without certificate verification'));
    assert.deepEqual(warned.map((l) => l['pool']), ['lax']);
  });

  await t.test('a server that does not speak TLS: 502 with a handshake failure', async () => {
    const r = await get(p.addr('plainServer').port);
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-fullproxy-reason'], 'connect-failed');
    const failed = p.logs.find('request failed').map((l) => String(l['err']));
    assert.ok(failed.some((e) => e.startsWith(`TLS to 127.0.0.1:${nginx.port}: handshake failed:`)), failed.join('\n'));
  });
});

test('bad CA files: check names the JSON path and the file; a reload with a missing CA is refused (400) and the old pool keeps serving', async (t) => {
  const { nginx, good } = await nginxWithTls();
  t.after(() => nginx.stop());
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-reencrypt-'));
  const config = (ca: string) => ({
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: `127.0.0.1:${good}` }], tls: { servername: 'app.test', ca } }],
  });
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config('missing-ca.crt')));
  const r = spawnSync(NODE, [join(ROOT, 'src/main.ts'), 'check', '--config', file], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 1);
  assert.deepEqual(r.stderr.trim().split('\n').map(withoutPosition), ['pools[0].tls.ca: cannot read missing-ca.crt: no such file or directory']);

  const p = await spawnProxy({ admin: { listen: '127.0.0.1:0' }, ...config(pki.caCert) });
  t.after(async () => {
    p.child.kill('SIGTERM');
    await p.exited;
  });
  const port = p.listeners.get('web')!.port;
  assert.equal((await get(port)).status, 200);
  const generation = (await stats(p)).config.generation;
  p.rewrite({ admin: { listen: p.listeners.get('#admin')!.host + ':' + p.listeners.get('#admin')!.port }, ...config(join(dir, 'gone.crt')) });
  const reload = await postReload(p);
  assert.equal(reload.status, 400);
  assert.deepEqual((reload.body.errors ?? []).map(withoutPosition), [`pools[0].tls.ca: cannot read ${join(dir, 'gone.crt')}: no such file or directory`]);
  assert.equal((await stats(p)).config.generation, generation);
  const after = await get(port);
  assert.equal(after.status, 200, 'the old pool (and its CA) still serves');
  assert.match(after.body.toString(), /sni=app\.test/);
});
