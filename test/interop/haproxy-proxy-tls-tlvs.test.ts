// PROXY v2 behind a TLS listener (issue 15 §2): the header carries PP2_TYPE_AUTHORITY (the SNI the
// client sent) and PP2_TYPE_SSL (client flag, non-zero verify — no client certificate was asked
// for —, the TLS version and cipher sub-TLVs). HAProxy with `accept-proxy` is the judge of the
// bytes: it accepts the header and reads the authority back (`fc_pp_authority`); a raw PROXY-aware
// server decodes the SSL TLV with the project's strict parser. A plain-text listener sends neither.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { startProxy } from '../helpers/fullproxy.ts';
import { startHaproxy } from '../helpers/judges.ts';
import { ppBackend } from '../helpers/pp-backends.ts';
import { makePki } from '../helpers/certs.ts';
import { get } from '../helpers/http.ts';
import { PP2_TYPE } from '../../src/net/proxy-protocol.ts';
import { waitFor } from '../helpers/wait.ts';

const pki = makePki();
const leaf = pki.leaf('site', ['site.test', 'other.test']);

/** GET over TLS with `servername`; resolves with the body. */
function httpsGet(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername, ca: pki.ca }, () => {
      s.write(`GET / HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    });
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got.slice(got.indexOf('\r\n\r\n') + 4)));
    s.on('error', reject);
  });
}

/** Sub-TLVs of a PP2_TYPE_SSL value (after client(1) and verify(4)). */
function sslFields(v: Buffer): { client: number; verify: number; sub: Map<number, string> } {
  const sub = new Map<number, string>();
  for (let p = 5; p + 3 <= v.length; ) {
    const len = v.readUInt16BE(p + 1);
    sub.set(v[p]!, v.subarray(p + 3, p + 3 + len).toString('latin1'));
    p += 3 + len;
  }
  return { client: v[0]!, verify: v.readUInt32BE(1), sub };
}

test('HAProxy accepts the v2 header of a TLS client and reads the SNI from its AUTHORITY TLV; a plain listener sends none', async (t) => {
  const haproxy = await startHaproxy(
    ['echo'],
    (port) => `
frontend echo
  mode http
  bind 127.0.0.1:${port('echo')} accept-proxy
  http-request return status 200 content-type text/plain lf-string "authority=%[fc_pp_authority] src=%[src]"
`,
  );
  t.after(() => haproxy.stop());
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      { name: 'https', listen: '127.0.0.1:0', protocol: 'http', pool: 'judge', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } },
      { name: 'plain', listen: '127.0.0.1:0', protocol: 'http', pool: 'judge' },
    ],
    pools: [{ name: 'judge', sendProxyProtocol: 'v2', servers: [{ address: `127.0.0.1:${haproxy.port('echo')}` }] }],
  });
  t.after(() => p.stop());
  assert.equal(await httpsGet(p.addr('https').port, 'site.test'), 'authority=site.test src=127.0.0.1');
  // Another SNI from the same client address: not the pooled connection that announced site.test.
  assert.equal(await httpsGet(p.addr('https').port, 'other.test'), 'authority=other.test src=127.0.0.1');
  assert.equal((await get(p.addr('plain').port)).body.toString(), 'authority= src=127.0.0.1');
});

test('the SSL TLV: client flag, non-zero verify, version and cipher of the client connection', async (t) => {
  const answer = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok';
  const b = await ppBackend((conn, rest) => {
    // The request may have come with the header: answer it, or the first bytes after it.
    if (rest.length > 0) conn.socket.end(answer);
    else conn.socket.once('data', () => conn.socket.end(answer));
  });
  t.after(() => b.close());
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'pp', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }], minVersion: 'TLSv1.3' } }],
    pools: [{ name: 'pp', sendProxyProtocol: 'v2', servers: [{ address: b.address }] }],
  });
  t.after(() => p.stop());
  assert.equal(await httpsGet(p.addr('t').port, 'site.test'), 'ok');
  await waitFor(() => b.conns[0]?.header != null, 3_000, 'the header parsed');
  const tlvs = b.conns[0]!.header!.tlvs;
  assert.equal(tlvs.find((x) => x.type === PP2_TYPE.AUTHORITY)?.value.toString(), 'site.test');
  const ssl = tlvs.find((x) => x.type === PP2_TYPE.SSL);
  assert.ok(ssl !== undefined, 'an SSL TLV');
  const f = sslFields(ssl.value);
  assert.equal(f.client & 0x01, 0x01, 'PP2_CLIENT_SSL');
  assert.notEqual(f.verify, 0, 'no client certificate: verify is non-zero');
  assert.equal(f.sub.get(0x21), 'TLSv1.3');
  assert.match(f.sub.get(0x23) ?? '', /^TLS_/, 'the cipher suite');
});
