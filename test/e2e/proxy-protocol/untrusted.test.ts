// A PROXY header from a peer outside acceptProxyProtocol.from is never believed (issue 5,
// Proof 5; SPEC "Other peers are served as if no PROXY header were expected"). Listeners trust
// only 127.0.0.2; the spoofing client is 127.0.0.1.
//   tcp: the header bytes are just payload, forwarded as such; the PROXY header fullproxy sends
//        to the server names 127.0.0.1, never the spoofed address.
//   http: the header is a bad request line → 400; nothing reaches the server, and no request
//        ever carries the spoofed address in X-Forwarded-For.
// Controls: the same bytes from 127.0.0.2 are believed (so the test is not vacuous), and a
// trusted peer that sends no header is refused (a header is required from it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Server as HttpServer } from 'node:http';
import { httpBackend, type Backend } from '../../helpers/backends.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { exchange, httpGet, ppBackend, type PpBackend } from '../../helpers/pp-backends.ts';

const SPOOF = '6.6.6.6';
const SPOOF_V1 = `PROXY TCP4 ${SPOOF} 7.7.7.7 1111 2222\r\n`;
const SPOOF_V2 = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 0x0c, 6, 6, 6, 6, 7, 7, 7, 7, 0x04, 0x57, 0x08, 0xae]);
const GET = 'GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

let fp: RunningProxy;
let raw: PpBackend;
let web: Backend<HttpServer>;
const webSaw: string[] = [];

before(async () => {
  raw = await ppBackend();
  web = await httpBackend('web', (req, res) => {
    webSaw.push(String(req.headers['x-forwarded-for']));
    res.end(`xff=${String(req.headers['x-forwarded-for'])}`);
  });
  const accept = { from: ['127.0.0.2/32'], timeout: '1s' };
  fp = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      { name: 'tcp', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'raw', acceptProxyProtocol: accept },
      { name: 'http', listen: '127.0.0.1:0', protocol: 'http', pool: 'web', acceptProxyProtocol: accept },
    ],
    pools: [
      { name: 'raw', sendProxyProtocol: 'v2', servers: [{ address: raw.address }] },
      { name: 'web', servers: [{ address: web.address }] },
    ],
  });
});

after(async () => {
  await fp?.stop();
  await raw?.close();
  await web?.close();
});

const counters = (name: string) => fp.proxy.listeners.get(name)!.counters;

describe('tcp listener trusting only 127.0.0.2', () => {
  for (const [name, spoof] of [
    ['v1', Buffer.from(SPOOF_V1, 'latin1')],
    ['v2', SPOOF_V2],
  ] as const) {
    test(`a ${name} header from 127.0.0.1 is payload: forwarded as bytes, the server is told 127.0.0.1`, async () => {
      const payload = Buffer.concat([spoof, Buffer.from('hello')]);
      const conns = raw.conns.length;
      const r = await exchange(fp.addr('tcp').port, payload, '127.0.0.1');
      assert.deepEqual(r.data, payload, 'the spoofed header went through as payload, byte for byte');
      assert.equal(raw.conns.length, conns + 1);
      const h = raw.conns.at(-1)!.header;
      assert.ok(h !== null && h.command === 'proxy');
      assert.equal(h.addresses.sourceAddress, '127.0.0.1');
      assert.equal(h.addresses.sourcePort, r.localPort);
      assert.notEqual(h.addresses.destinationAddress, '7.7.7.7');
      assert.equal(counters('tcp').proxyHeaderErrors, 0, 'not parsed, so not an error either');
    });
  }

  test('control: the same header from 127.0.0.2 is believed and stripped', async () => {
    const r = await exchange(fp.addr('tcp').port, SPOOF_V1 + 'hello', '127.0.0.2');
    assert.equal(r.data.toString(), 'hello');
    const h = raw.conns.at(-1)!.header;
    assert.ok(h !== null && h.command === 'proxy');
    assert.deepEqual([h.addresses.sourceAddress, h.addresses.sourcePort, h.addresses.destinationAddress, h.addresses.destinationPort], [SPOOF, 1111, '7.7.7.7', 2222]);
  });

  test('control: 127.0.0.2 must send a header: plain bytes from it are refused and counted', async () => {
    const before = counters('tcp').proxyHeaderErrors;
    const conns = raw.conns.length;
    const r = await exchange(fp.addr('tcp').port, 'hello', '127.0.0.2');
    assert.equal(r.data.length, 0);
    assert.equal(counters('tcp').proxyHeaderErrors, before + 1);
    assert.equal(raw.conns.length, conns);
  });

  test('the server never saw the spoofed address from the untrusted peer', () => {
    const spoofed = raw.conns.filter((c) => c.header?.command === 'proxy' && c.header.addresses.sourceAddress === SPOOF);
    assert.equal(spoofed.length, 1, 'only the trusted control carried it');
  });
});

describe('http listener trusting only 127.0.0.2', () => {
  for (const [name, spoof] of [
    ['v1', Buffer.from(SPOOF_V1, 'latin1')],
    ['v2', SPOOF_V2],
  ] as const) {
    test(`a ${name} header from 127.0.0.1 is a bad request: 400, nothing reaches the server`, async () => {
      const accepted = web.accepted;
      const r = await exchange(fp.addr('http').port, Buffer.concat([spoof, Buffer.from(GET)]), '127.0.0.1');
      assert.match(r.data.toString('latin1'), /^HTTP\/1\.1 400 /);
      assert.equal(web.accepted, accepted, 'no server connection');
      assert.equal(counters('http').proxyHeaderErrors, 0);
    });
  }

  test('a forged X-Forwarded-For from 127.0.0.1 is replaced by 127.0.0.1', async () => {
    const r = await httpGet(fp.addr('http').port, { localAddress: '127.0.0.1', headers: { 'x-forwarded-for': SPOOF } });
    assert.equal(r.body, 'xff=127.0.0.1');
  });

  test('control: the header from 127.0.0.2 is believed: X-Forwarded-For is the address it gave', async () => {
    // No FIN after the request (exchange() would send one): the answer ends the connection.
    const s = await dial(fp.addr('http').port, '127.0.0.1', '127.0.0.2');
    const done = outcome(s);
    s.write(SPOOF_V1 + GET);
    const text = (await done).data.toString('latin1');
    assert.match(text, /^HTTP\/1\.1 200 /, text);
    assert.ok(text.endsWith(`xff=${SPOOF}`), text);
  });

  test('the server never saw the spoofed address from the untrusted peer', () => {
    assert.deepEqual(
      webSaw.filter((x) => x.includes(SPOOF)),
      [SPOOF],
      `only the trusted control carried it: ${webSaw.join(' | ')}`,
    );
  });
});
