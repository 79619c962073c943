// Session-ticket key rotation (issue 15 §1 "tickets, with keys rotated"): a listener's sealing key
// is replaced every TICKET_KEY_ROTATION_MS on the shared clock tick; the key before it still opens
// tickets (renewing them), the one before that is erased. Driven here by ticking the shared clock
// with a chosen time (clock.tick(now)): the proxy runs in this process, so no hour is waited for.
// Also: rotation goes on across reloads, and clients are told a ticket lifetime of one interval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect as tlsConnect } from 'node:tls';
import { httpBackend } from '../../helpers/backends.ts';
import { startProxy } from '../../helpers/fullproxy.ts';
import { makePki } from '../../helpers/certs.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { clock } from '../../../src/util/clock.ts';
import { TICKET_KEY_ROTATION_MS, TICKET_LIFETIME_S } from '../../../src/listener/ticket-keys.ts';

const pki = makePki();
const leaf = pki.leaf('site', ['site.test']);

/**
 * One TLS connection and one request (TLS 1.3 tickets come after the handshake). Returns whether
 * the offered session resumed and the session to offer next: the last ticket received, else (a
 * renewed TLS 1.2 ticket, which Node gives no 'session' event for) getSession().
 */
function connectOnce(port: number, version: 'TLSv1.2' | 'TLSv1.3', session?: Buffer): Promise<{ reused: boolean; session: Buffer }> {
  return new Promise((resolve, reject) => {
    let ticket = null as Buffer | null;
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'site.test', ca: pki.ca, minVersion: version, maxVersion: version, ...(session !== undefined ? { session } : {}) });
    s.on('session', (t: Buffer) => (ticket = t));
    s.once('secureConnect', () => {
      const reused = s.isSessionReused();
      s.write('GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n');
      s.on('data', () => {});
      s.once('end', () => {
        const next = ticket ?? s.getSession();
        s.destroy();
        if (next === undefined) reject(new Error('no session ticket'));
        else resolve({ reused, session: next });
      });
    });
    s.once('error', reject);
  });
}

function config(weight: number, origin: string): Record<string, unknown> {
  return {
    logging: { level: 'silent' },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'o', tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
    pools: [{ name: 'o', servers: [{ address: origin, weight }] }],
  };
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`${version}: after a rotation the old key still opens (and renews) tickets; after two it does not; across a reload`, async (t) => {
    const origin = await httpBackend('o', (_req, res) => res.end('ok'));
    t.after(() => origin.close());
    const p = await startProxy(config(1, origin.address));
    t.after(() => p.stop());
    const port = p.addr('web').port;
    // Chosen times for the shared clock, each a little over one interval after the last rotation.
    let now = Date.now();
    const rotate = (): void => {
      now += TICKET_KEY_ROTATION_MS + 1_000;
      clock.tick(now);
    };

    const k0 = await connectOnce(port, version);
    assert.equal(k0.reused, false);
    assert.equal((await connectOnce(port, version, k0.session)).reused, true, 'resumed before any rotation');

    rotate();
    const renewed = await connectOnce(port, version, k0.session);
    assert.equal(renewed.reused, true, 'a ticket of the previous key still resumes after one rotation');

    rotate();
    assert.equal((await connectOnce(port, version, k0.session)).reused, false, 'a ticket two keys old no longer resumes (its key was erased)');
    const k1 = await connectOnce(port, version, renewed.session);
    assert.equal(k1.reused, true, 'the ticket renewed after the first rotation (sealed with its new key) resumes');
    const fresh = await connectOnce(port, version);
    assert.equal(fresh.reused, false);
    assert.equal((await connectOnce(port, version, fresh.session)).reused, true, 'a fresh ticket resumes');

    // A reload builds new contexts: the listener name's keys and their schedule go on.
    const loaded = loadConfigObject(config(2, origin.address), '/');
    assert.ok(loaded.ok);
    assert.equal((await p.proxy.apply(loaded.config)).ok, true);
    assert.equal((await connectOnce(port, version, fresh.session)).reused, true, 'the ticket from before the reload resumes after it');
    rotate();
    const afterReload = await connectOnce(port, version, fresh.session);
    assert.equal(afterReload.reused, true, 'after a reload and a rotation, the previous key opens the ticket');
    rotate();
    assert.equal((await connectOnce(port, version, fresh.session)).reused, false, 'rotation still runs after the reload: the key two rotations old is gone');
    assert.equal((await connectOnce(port, version, afterReload.session)).reused, true);
  });
}

test('clients are told a ticket lifetime of one rotation interval (3600 s; OpenSSL alone says 7200)', async (t) => {
  const origin = await httpBackend('o', (_req, res) => res.end('ok'));
  t.after(() => origin.close());
  const p = await startProxy(config(1, origin.address));
  t.after(() => p.stop());
  const port = p.addr('web').port;
  const out = await new Promise<string>((resolve, reject) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'site.test', '-tls1_2', '-CAfile', pki.caCert], { timeout: 10_000 }, (err, stdout) => (err !== null && stdout === '' ? reject(err) : resolve(stdout)));
    child.stdin!.end('Q\n');
  });
  assert.equal(TICKET_LIFETIME_S * 1000, TICKET_KEY_ROTATION_MS, 'a ticket lives as long as its key seals');
  assert.match(out, new RegExp(`TLS session ticket lifetime hint: ${TICKET_LIFETIME_S} \\(seconds\\)`));
});

test('a missed interval (a suspended process) erases both keys: no ticket from before resumes, fresh ones do', async (t) => {
  const origin = await httpBackend('o', (_req, res) => res.end('ok'));
  t.after(() => origin.close());
  const p = await startProxy(config(1, origin.address));
  t.after(() => p.stop());
  const port = p.addr('web').port;
  const before = await connectOnce(port, 'TLSv1.3');
  assert.equal((await connectOnce(port, 'TLSv1.3', before.session)).reused, true);
  clock.tick(Date.now() + 2 * TICKET_KEY_ROTATION_MS + 1_000);
  assert.equal((await connectOnce(port, 'TLSv1.3', before.session)).reused, false, 'the key that sealed it is older than two intervals');
  const fresh = await connectOnce(port, 'TLSv1.3');
  assert.equal((await connectOnce(port, 'TLSv1.3', fresh.session)).reused, true);
});
