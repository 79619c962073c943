// The ClientHello server-name reader (src/net/client-hello.ts) against real ClientHellos made by
// Node's TLS client (OpenSSL), whole and split at every byte, split over two TLS records, and
// fuzzed: whatever the bytes, a result and never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import fc from 'fast-check';
import { parseClientHello } from '../../../src/net/client-hello.ts';

/** The first bytes a Node TLS client sends (its ClientHello), with the given options. */
async function clientHello(opts: { servername?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' }): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s: Socket) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf);
          s.destroy();
        }
      });
    });
  });
  const c = tlsConnect({ port, host: '127.0.0.1', ...(opts.servername !== undefined ? { servername: opts.servername } : {}), ...(opts.maxVersion !== undefined ? { maxVersion: opts.maxVersion } : {}), rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('real ClientHellos: the SNI name (lowercased), or null without one, TLS 1.2 and 1.3', async () => {
  assert.deepEqual(parseClientHello(await clientHello({ servername: 'Db.Example.com' })), { kind: 'ok', servername: 'db.example.com' });
  assert.deepEqual(parseClientHello(await clientHello({ servername: 'a.test', maxVersion: 'TLSv1.2' })), { kind: 'ok', servername: 'a.test' });
  assert.deepEqual(parseClientHello(await clientHello({})), { kind: 'ok', servername: null });
});

test('split at every byte: incomplete until the last byte, then the same answer', async () => {
  const hello = await clientHello({ servername: 'split.test' });
  for (let i = 0; i < hello.length; i++) assert.deepEqual(parseClientHello(hello.subarray(0, i)), { kind: 'incomplete' }, `prefix ${i}`);
  assert.deepEqual(parseClientHello(hello), { kind: 'ok', servername: 'split.test' });
  // bytes after it (the next record) change nothing
  assert.deepEqual(parseClientHello(Buffer.concat([hello, Buffer.from([0x14, 0x03, 0x03, 0x00, 0x01, 0x01])])), { kind: 'ok', servername: 'split.test' });
});

test('a ClientHello fragmented over two TLS records', async () => {
  const hello = await clientHello({ servername: 'two.records.test' });
  const body = hello.subarray(5);
  const cut = 40;
  const record = (frag: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 0x03, 0x01, frag.length >> 8, frag.length & 0xff]), frag]);
  const two = Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))]);
  assert.deepEqual(parseClientHello(two), { kind: 'ok', servername: 'two.records.test' });
  assert.deepEqual(parseClientHello(two.subarray(0, 5 + cut + 3)), { kind: 'incomplete' });
});

test('not a ClientHello: errors, not exceptions', () => {
  assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n')).kind, 'error');
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])).kind, 'error'); // empty record
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00])).kind, 'error'); // ServerHello
  assert.equal(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff])).kind, 'error'); // 16 MiB hello
});

test('a host_name that is not a DNS name is an error (no control bytes or spaces reach routing)', async () => {
  const hello = Buffer.from(await clientHello({ servername: 'abcd.test' }));
  const at = hello.indexOf('abcd.test');
  hello[at + 2] = 0x20; // 'ab d.test'
  assert.equal(parseClientHello(hello).kind, 'error');
});

test('fuzz: mutated ClientHellos never throw (fast-check, seed printed on failure)', async () => {
  const base = await clientHello({ servername: 'fuzz.example.org' });
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat(base.length), (flips, cut) => {
      const b = Buffer.from(base.subarray(0, cut === 0 ? base.length : cut));
      for (const [i, v] of flips) if (i < b.length) b[i] = v;
      const r = parseClientHello(b);
      assert.ok(r.kind === 'ok' || r.kind === 'error' || r.kind === 'incomplete');
      if (r.kind === 'ok' && r.servername !== null) assert.match(r.servername, /^[a-z0-9.-]+$/);
    }),
    { numRuns: 3000, seed: 4242 },
  );
});
