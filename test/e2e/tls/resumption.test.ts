// TLS session resumption survives a reload (issue 15 §1): every generation's contexts seal their
// session tickets with the listener name's own keys (runtime.ts), so a ticket issued before a
// reload that rebuilt the contexts still resumes after it — on TLS 1.2 and 1.3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as tlsConnect } from 'node:tls';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { makePki } from '../../helpers/certs.ts';

const pki = makePki();
const leaf = pki.leaf('site', ['site.test']);

/** One TLS connection (with `session` to resume); resolves with whether it resumed and the ticket it got. */
function connectOnce(port: number, version: 'TLSv1.2' | 'TLSv1.3', session?: Buffer): Promise<{ reused: boolean; session: Buffer }> {
  return new Promise((resolve, reject) => {
    let ticket = null as Buffer | null;
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'site.test', ca: pki.ca, minVersion: version, maxVersion: version, ...(session !== undefined ? { session } : {}) });
    s.on('session', (t: Buffer) => (ticket = t));
    s.once('secureConnect', () => {
      const reused = s.isSessionReused();
      // TLS 1.3 tickets come after the handshake: one round trip (a request) brings them.
      s.write('GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n');
      s.on('data', () => {});
      s.once('end', () => {
        s.destroy();
        // A resumed TLS 1.2 session may come without a new ticket: the one it resumed stays good.
        const next = ticket ?? (reused ? session : undefined);
        if (next === undefined) reject(new Error('no session ticket'));
        else resolve({ reused, session: next });
      });
    });
    s.once('error', reject);
  });
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`${version}: a session ticket from before a reload resumes after it`, async (t) => {
    const origin = await httpBackend('o', (_req, res) => res.end('ok'));
    t.after(() => origin.close());
    const config = (weight: number): Record<string, unknown> => ({
      logging: { level: 'silent' },
      listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'o', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
      pools: [{ name: 'o', servers: [{ address: origin.address, weight }] }],
    });
    const p = await startProxy(config(1));
    t.after(() => p.stop());
    const port = p.addr('web').port;
    const first = await connectOnce(port, version);
    assert.equal(first.reused, false);
    const again = await connectOnce(port, version, first.session);
    assert.equal(again.reused, true, 'resumed within one generation');
    const loaded = loadConfigObject(config(2), '/');
    assert.ok(loaded.ok);
    assert.equal((await p.proxy.apply(loaded.config)).ok, true);
    const afterReload = await connectOnce(port, version, again.session);
    assert.equal(afterReload.reused, true, 'the ticket from before the reload resumed after it');
  });
}
