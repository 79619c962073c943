// TLS termination on listeners (issue 15): SNI picks the certificate by name (exact, wildcard, the
// first one without SNI or for an unknown name), RSA and ECDSA for one name, http over TLS forwards
// plain HTTP with X-Forwarded-Proto https, tcp over TLS forwards decrypted bytes both ways, and the
// handshake policy: TLS 1.0/1.1 refused, renegotiation refused, a silent client or garbage closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { echoBackend, httpBackend } from '../../helpers/backends.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { makePki } from '../../helpers/certs.ts';
import { waitFor } from '../../helpers/wait.ts';

const pki = makePki();
const a = pki.leaf('a', ['a.test']);
const b = pki.leaf('b', ['b.test', '*.wild.test']);
const aEc = pki.leaf('a-ec', ['a.test'], { keyType: 'ec' });

function handshake(port: number, opts: ConnectionOptions): Promise<{ serial: string; alpn: string | false; socket: TLSSocket }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', ca: pki.ca, ...opts }, () => resolve({ serial: s.getPeerCertificate().serialNumber, alpn: s.alpnProtocol ?? false, socket: s }));
    s.once('error', reject);
  });
}

function httpsGet(port: number, servername: string, path = '/'): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername, ca: pki.ca, agent: false, headers: { host: servername } }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('http listener with tls: SNI picks the certificate, the default without SNI, plain HTTP with X-Forwarded-Proto https behind', async (t) => {
  const seen: Array<Record<string, string | string[] | undefined>> = [];
  const origin = await httpBackend('o', (req, res) => {
    seen.push(req.headers);
    res.end('hello');
  });
  const p = await startProxy({
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'o', tls: { certificates: [{ cert: a.cert, key: a.key }, { cert: b.cert, key: b.key }, { cert: aEc.cert, key: aEc.key }] } }],
    pools: [{ name: 'o', servers: [{ address: origin.address }] }],
  });
  t.after(async () => {
    await p.stop();
    await origin.close();
  });
  const port = p.addr('web').port;
  await t.test('servername picks the certificate (exact and wildcard), no SNI or an unknown name gets the first', async () => {
    // a.test has an RSA and an ECDSA certificate (one context): either may answer, never b's.
    const aNames = [a.serial, aEc.serial];
    const cases: Array<[string | undefined, string[]]> = [['a.test', aNames], ['b.test', [b.serial]], ['x.wild.test', [b.serial]], ['nope.test', aNames], [undefined, aNames]];
    for (const [servername, serials] of cases) {
      const h = await handshake(port, servername === undefined ? { checkServerIdentity: () => undefined } : { servername, ...(servername === 'nope.test' ? { checkServerIdentity: () => undefined } : {}) });
      assert.ok(serials.includes(h.serial), `servername ${servername}: got ${h.serial}`);
      assert.equal(h.alpn, false); // the client offered none
      h.socket.destroy();
    }
  });
  await t.test('RSA and ECDSA for one name: the client signature algorithms pick, in TLS 1.2 and 1.3', async () => {
    for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
      const rsa = await handshake(port, { servername: 'a.test', maxVersion, sigalgs: 'rsa_pss_rsae_sha256:RSA+SHA256' });
      assert.equal(rsa.serial, a.serial, maxVersion);
      rsa.socket.destroy();
      const ec = await handshake(port, { servername: 'a.test', maxVersion, sigalgs: 'ecdsa_secp256r1_sha256' });
      assert.equal(ec.serial, aEc.serial, maxVersion);
      ec.socket.destroy();
    }
  });
  await t.test('ALPN http/1.1 is offered; a request gets 200 and the server sees X-Forwarded-Proto https and the listener port', async () => {
    const h = await handshake(port, { servername: 'b.test', ALPNProtocols: ['h2', 'http/1.1'] });
    assert.equal(h.alpn, 'http/1.1');
    h.socket.destroy();
    const r = await httpsGet(port, 'b.test');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'hello');
    assert.equal(r.serial, b.serial);
    const last = seen.at(-1)!;
    assert.equal(last['x-forwarded-proto'], 'https');
    assert.equal(last['x-forwarded-port'], String(port));
    assert.equal(p.proxy.listeners.get('web')!.counters.tlsHandshakeErrors, 0);
  });
});

test('tcp listener with tls: decrypted bytes both ways to a plain echo server, half-close forwarded', async (t) => {
  const echo = await echoBackend();
  const p = await startProxy({
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'e', tls: { certificates: [{ cert: a.cert, key: a.key }] } }],
    pools: [{ name: 'e', servers: [{ address: echo.address }] }],
  });
  t.after(async () => {
    await p.stop();
    await echo.close();
  });
  const h = await handshake(p.addr('t').port, { servername: 'a.test' });
  assert.equal(h.alpn, false); // a tcp listener offers no ALPN unless configured
  const payload = randomBytes(256 * 1024);
  const chunks: Buffer[] = [];
  h.socket.on('data', (d: Buffer) => chunks.push(d));
  const ended = new Promise<void>((r) => h.socket.once('end', () => r()));
  h.socket.end(payload); // our FIN after the bytes: the echo server answers everything, then ends
  await ended;
  assert.ok(Buffer.concat(chunks).equals(payload));
  h.socket.destroy();
  await waitFor(() => p.proxy.sessions.size === 0, 5_000, 'session gone');
});

function sClient(port: number, args: readonly string[], input: string, holdMs: number): Promise<{ out: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'a.test', '-crlf', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const lines = input.split('\n');
    let i = 0;
    const feed = setInterval(() => {
      if (i < lines.length) child.stdin.write(`${lines[i++]}\n`);
      else {
        clearInterval(feed);
        setTimeout(() => child.stdin.end(), holdMs);
      }
    }, 300);
    child.on('exit', (code) => {
      clearInterval(feed);
      resolve({ out, code });
    });
  });
}

test('handshake policy: TLS 1.0/1.1 refused, 1.2/1.3 served, renegotiation refused, silent and garbage clients closed and counted', async (t) => {
  const seen: string[] = [];
  const origin = await httpBackend('o', (req, res) => {
    seen.push(req.url ?? '');
    res.end('ok');
  });
  const p = await startProxy({
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'o', tls: { certificates: [{ cert: a.cert, key: a.key }], handshakeTimeout: '1s' } }],
    pools: [{ name: 'o', servers: [{ address: origin.address }] }],
  });
  t.after(async () => {
    await p.stop();
    await origin.close();
  });
  const port = p.addr('web').port;
  const counters = p.proxy.listeners.get('web')!.counters;
  await t.test('openssl s_client: -tls1 and -tls1_1 refused, -tls1_2 and -tls1_3 get a response', async () => {
    for (const v of ['-tls1', '-tls1_1']) {
      const r = await sClient(port, [v, '-quiet'], 'GET /old HTTP/1.1\nHost: a.test\n', 200);
      assert.doesNotMatch(r.out, /HTTP\/1\.1 200/, v);
    }
    for (const v of ['-tls1_2', '-tls1_3']) {
      const r = await sClient(port, [v, '-quiet', '-CAfile', pki.caCert], 'GET /new HTTP/1.1\nHost: a.test\nConnection: close\n', 500);
      assert.match(r.out, /HTTP\/1\.1 200/, v);
    }
    assert.equal(seen.filter((u) => u === '/old').length, 0);
  });
  await t.test('client-initiated renegotiation (s_client R) is refused and nothing after it is served', async () => {
    const before = seen.length;
    const r = await sClient(port, ['-tls1_2', '-CAfile', pki.caCert], 'GET /before HTTP/1.1\nHost: a.test\n\nR\nGET /after HTTP/1.1\nHost: a.test\n', 800);
    assert.match(r.out, /RENEGOTIATING/);
    assert.doesNotMatch(r.out, /RENEGOTIATING[\s\S]*verify return/); // no second handshake completed
    assert.deepEqual(seen.slice(before), ['/before']);
  });
  await t.test('a silent TCP connect is closed at handshakeTimeout (+0.5 s), and counted', async () => {
    const errors = counters.tlsHandshakeErrors;
    const s = await dial(port);
    const started = performance.now();
    const o = await outcome(s);
    const ms = performance.now() - started;
    assert.ok(ms >= 900 && ms <= 1500, `closed after ${Math.round(ms)} ms (${o.how})`);
    assert.equal(counters.tlsHandshakeErrors, errors + 1);
  });
  await t.test('1 KiB of random bytes is closed and counted; the proxy goes on serving', async () => {
    const errors = counters.tlsHandshakeErrors;
    const s = await dial(port);
    s.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), randomBytes(1019)]));
    const o = await outcome(s);
    assert.notEqual(o.how, 'timeout');
    const s2 = await dial(port);
    s2.write(randomBytes(1024));
    await outcome(s2);
    await waitFor(() => counters.tlsHandshakeErrors === errors + 2, 5_000, 'two handshake errors counted');
    assert.equal((await httpsGet(port, 'a.test')).status, 200);
    assert.equal(p.proxy.listeners.get('web')!.handshaking, 0);
  });
});
