// Inbound PROXY headers from a trusted peer, end to end over real sockets (issue 5, Proof 4):
// a table of malformed v1/v2 headers, each of which must close the connection promptly (within
// 1 s, well before the 3 s header timeout, so the parser decided rather than the timer; stalls:
// at the timeout), count exactly one proxyHeaderErrors, and reach no server; plus valid
// controls, served with the payload intact and the client address the header gave passed on.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import { crc32c } from '../../../src/net/crc32c.ts';
import { httpBackend, type Backend } from '../../helpers/backends.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { ppBackend, type PpBackend } from '../../helpers/pp-backends.ts';
import { waitFor } from '../../helpers/wait.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** 192.0.2.1:40000 → 198.51.100.2:443 */
const ADDR4 = [192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x01, 0xbb];
/** 2001:db8::1:40000 → 2001:db8::2:443 */
const ADDR6 = [0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 1, 0x20, 0x01, 0x0d, 0xb8, ...Array<number>(11).fill(0), 2, 0x9c, 0x40, 0x01, 0xbb];
const V1 = 'PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n';

/** A v2 header: signature, ver_cmd, family, length (default: the body's), body. */
function v2(verCmd: number, fam: number, body: readonly number[], len = body.length): Buffer {
  return Buffer.from([...SIG, verCmd, fam, len >> 8, len & 0xff, ...body]);
}
/** v2 TCP4 with TLVs after the address block; `crc` appends a CRC32C TLV (correct, or off by one bit). */
function v2WithTlvs(tlvs: readonly number[], crc: 'none' | 'good' | 'bad' = 'none'): Buffer {
  const body = [...ADDR4, ...tlvs, ...(crc === 'none' ? [] : [0x03, 0x00, 0x04, 0, 0, 0, 0])];
  const h = v2(0x21, 0x11, body);
  if (crc !== 'none') h.writeUInt32BE((crc32c(h) ^ (crc === 'bad' ? 1 : 0)) >>> 0, h.length - 4);
  return h;
}
const TLV_AUTHORITY = [0x02, 0x00, 0x0b, ...latin1('example.com')];
const TLV_NOOP = [0x04, 0x00, 0x02, 0xaa, 0xbb];

type Mode = 'segment' | 'dribble' | 'eof' | 'stall';
interface Bad {
  name: string;
  bytes: Buffer;
  /** segment: all bytes in one write, the connection kept open; dribble: one byte per write; eof: then FIN; stall: then silence. */
  mode?: Mode;
}

const V2_OK = v2(0x21, 0x11, ADDR4);

const INVALID: Bad[] = [
  // v1
  { name: 'v1 bad signature "PROXZ"', bytes: latin1(V1.replace('PROXY', 'PROXZ')) },
  { name: 'v1 lowercase "proxy"', bytes: latin1(V1.replace('PROXY', 'proxy')) },
  { name: 'v1 lowercase protocol "tcp4"', bytes: latin1(V1.replace('TCP4', 'tcp4')) },
  { name: 'v1 unknown protocol "UDP4"', bytes: latin1(V1.replace('TCP4', 'UDP4')) },
  { name: 'v1 double space after PROXY', bytes: latin1(V1.replace('PROXY ', 'PROXY  ')) },
  { name: 'v1 double space between the addresses', bytes: latin1(V1.replace('192.0.2.1 ', '192.0.2.1  ')) },
  { name: 'v1 double space between the ports', bytes: latin1(V1.replace('40000 ', '40000  ')) },
  { name: 'v1 tab instead of space', bytes: latin1(V1.replace('40000 ', '40000\t')) },
  { name: 'v1 address 256.1.1.1', bytes: latin1(V1.replace('192.0.2.1', '256.1.1.1')) },
  { name: 'v1 address with a leading zero (192.0.2.01)', bytes: latin1(V1.replace('192.0.2.1', '192.0.2.01')) },
  { name: 'v1 address with three dots only (192.0.2)', bytes: latin1(V1.replace('192.0.2.1', '192.0.2')) },
  { name: 'v1 IPv6 address under TCP4', bytes: latin1('PROXY TCP4 ::1 ::1 40000 443\r\n') },
  { name: 'v1 IPv4 address under TCP6', bytes: latin1('PROXY TCP6 192.0.2.1 198.51.100.2 40000 443\r\n') },
  { name: 'v1 bad IPv6 (two "::")', bytes: latin1('PROXY TCP6 2001::db8::1 2001:db8::2 40000 443\r\n') },
  { name: 'v1 port 65536', bytes: latin1(V1.replace('40000', '65536')) },
  { name: 'v1 port with a leading zero (0443)', bytes: latin1(V1.replace(' 443', ' 0443')) },
  { name: 'v1 negative port', bytes: latin1(V1.replace('40000', '-1')) },
  { name: 'v1 missing destination port', bytes: latin1('PROXY TCP4 192.0.2.1 198.51.100.2 40000\r\n') },
  { name: 'v1 extra field', bytes: latin1('PROXY TCP4 192.0.2.1 198.51.100.2 40000 443 7\r\n') },
  { name: 'v1 bare LF', bytes: latin1(V1.replace('\r\n', '\n')) },
  { name: 'v1 CR without LF', bytes: latin1(V1.replace('\r\n', '\rX')) },
  { name: 'v1 UNKNOWN then bare LF', bytes: latin1('PROXY UNKNOWN\n') },
  { name: 'v1 no CRLF within the first 107 bytes', bytes: latin1('PROXY UNKNOWN ' + 'x'.repeat(110)) },
  { name: 'v1 CRLF only after byte 107', bytes: latin1('PROXY UNKNOWN ' + 'x'.repeat(100) + '\r\n') },
  { name: 'no header at all (an HTTP request)', bytes: latin1('GET / HTTP/1.1\r\nHost: x\r\n\r\n') },
  // v2
  { name: 'v2 bad signature', bytes: Buffer.from(V2_OK).fill(0x52, 7, 8) },
  { name: 'v2 version 1', bytes: v2(0x11, 0x11, ADDR4) },
  { name: 'v2 version 3', bytes: v2(0x31, 0x11, ADDR4) },
  { name: 'v2 command 2', bytes: v2(0x22, 0x11, ADDR4) },
  { name: 'v2 command 15', bytes: v2(0x2f, 0x11, ADDR4) },
  { name: 'v2 family 4', bytes: v2(0x21, 0x41, ADDR4) },
  { name: 'v2 transport 3', bytes: v2(0x21, 0x13, ADDR4) },
  { name: 'v2 PROXY over AF_UNIX', bytes: v2(0x21, 0x31, Array<number>(216).fill(0)) },
  { name: 'v2 PROXY over datagram (UDP4)', bytes: v2(0x21, 0x12, ADDR4) },
  { name: 'v2 length shorter than the TCP4 address block (11)', bytes: v2(0x21, 0x11, ADDR4, 11) },
  { name: 'v2 length shorter than the TCP6 address block (35)', bytes: v2(0x21, 0x21, ADDR6, 35) },
  { name: 'v2 length 65535 (over the limit)', bytes: v2(0x21, 0x11, ADDR4, 0xffff) },
  { name: 'v2 TLV runs past the header', bytes: v2(0x21, 0x11, [...ADDR4, 0x02, 0x00, 0x10, 0x61, 0x62]) },
  { name: 'v2 truncated TLV header', bytes: v2(0x21, 0x11, [...ADDR4, 0x02, 0x00]) },
  { name: 'v2 CRC32C mismatch', bytes: v2WithTlvs(TLV_AUTHORITY, 'bad') },
  { name: 'v2 CRC32C TLV of length 3', bytes: v2(0x21, 0x11, [...ADDR4, 0x03, 0x00, 0x03, 1, 2, 3]) },
  // arrival in pieces and early close
  { name: '1-byte dribble of an invalid v1 header (port 65536)', bytes: latin1(V1.replace('40000', '65536')), mode: 'dribble' },
  { name: '1-byte dribble of an invalid v2 header (TLV overrun)', bytes: v2(0x21, 0x11, [...ADDR4, 0x04, 0x00, 0x09, 0x00]), mode: 'dribble' },
  { name: 'FIN in the middle of a v1 header', bytes: latin1(V1.slice(0, 20)), mode: 'eof' },
  { name: 'FIN in the middle of a v2 header', bytes: V2_OK.subarray(0, 20), mode: 'eof' },
  // stalls (a listener with a 500 ms header timeout)
  { name: 'stall: part of a v1 header, then nothing', bytes: latin1(V1.slice(0, 25)), mode: 'stall' },
  { name: 'stall: part of a v2 header, then nothing', bytes: V2_OK.subarray(0, 20), mode: 'stall' },
  { name: 'stall: v2 length promises more bytes than ever come', bytes: v2(0x21, 0x11, ADDR4, 200), mode: 'stall' },
  { name: 'stall: a connection that sends nothing', bytes: Buffer.alloc(0), mode: 'stall' },
];

interface Good {
  name: string;
  header: Buffer;
  /** The client address fullproxy must pass on (null: the real connection's, LOCAL/UNKNOWN). */
  source: { address: string; port: number } | null;
  /** Header and payload in one segment (default), header dribbled byte by byte, or header alone first. */
  mode?: 'segment' | 'dribble' | 'separate';
}

const VALID: Good[] = [
  { name: 'v1 TCP4', header: latin1(V1), source: { address: '192.0.2.1', port: 40000 } },
  { name: 'v1 TCP6', header: latin1('PROXY TCP6 2001:db8::1 2001:db8::2 40000 443\r\n'), source: { address: '2001:db8::1', port: 40000 } },
  {
    name: 'v1 TCP6 of the longest form (104 bytes)',
    header: latin1(`PROXY TCP6 ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}fffe 65535 65535\r\n`),
    source: { address: `${'ffff:'.repeat(7)}ffff`, port: 65535 },
  },
  { name: 'v1 ports 0', header: latin1('PROXY TCP4 192.0.2.1 198.51.100.2 0 0\r\n'), source: { address: '192.0.2.1', port: 0 } },
  { name: 'v1 UNKNOWN', header: latin1('PROXY UNKNOWN\r\n'), source: null },
  { name: 'v2 TCP4', header: V2_OK, source: { address: '192.0.2.1', port: 40000 } },
  { name: 'v2 TCP6', header: v2(0x21, 0x21, ADDR6), source: { address: '2001:db8::1', port: 40000 } },
  { name: 'v2 LOCAL', header: v2(0x20, 0x00, []), source: null },
  { name: 'v2 LOCAL with a TCP4 address block (skipped)', header: v2(0x20, 0x11, ADDR4), source: null },
  { name: 'v2 TCP4 with AUTHORITY, NOOP and a good CRC32C', header: v2WithTlvs([...TLV_AUTHORITY, ...TLV_NOOP], 'good'), source: { address: '192.0.2.1', port: 40000 } },
  { name: 'v1 TCP4 dribbled 1 byte at a time', header: latin1(V1), source: { address: '192.0.2.1', port: 40000 }, mode: 'dribble' },
  { name: 'v2 TCP4 dribbled 1 byte at a time', header: V2_OK, source: { address: '192.0.2.1', port: 40000 }, mode: 'dribble' },
  { name: 'v2 TCP4 alone, payload in a later segment', header: V2_OK, source: { address: '192.0.2.1', port: 40000 }, mode: 'separate' },
];

/** Payload that itself looks like PROXY headers: it must pass through untouched, not be parsed again. */
const PAYLOAD = Buffer.concat([latin1(V1), V2_OK, latin1('payload \r\n\0 end')]);

let fp: RunningProxy;
let backend: PpBackend;
let web: Backend<HttpServer>;
const webXff: string[] = [];

before(async () => {
  backend = await ppBackend();
  web = await httpBackend('web', (req, res) => {
    webXff.push(String(req.headers['x-forwarded-for']));
    res.end(`xff=${String(req.headers['x-forwarded-for'])}`);
  });
  fp = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: [
      { name: 'fast', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo', acceptProxyProtocol: { from: ['127.0.0.1'], timeout: '3s' } },
      { name: 'slow', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'echo', acceptProxyProtocol: { from: ['127.0.0.0/8'], timeout: '500ms' } },
      { name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'web', acceptProxyProtocol: { from: ['127.0.0.1'] } },
    ],
    pools: [
      // v1 toward the server: it reads our header, so the address we pass on is checked.
      { name: 'echo', sendProxyProtocol: 'v1', servers: [{ address: backend.address }] },
      { name: 'web', servers: [{ address: web.address }] },
    ],
  });
});

after(async () => {
  await fp?.stop();
  await backend?.close();
  await web?.close();
});

const counters = (name: string) => fp.proxy.listeners.get(name)!.counters;

async function dribble(s: Socket, bytes: Buffer): Promise<void> {
  s.setNoDelay(true);
  for (let i = 0; i < bytes.length && !s.destroyed && s.writable; i++) {
    await new Promise<void>((resolve) => s.write(bytes.subarray(i, i + 1), () => resolve()));
    await new Promise((r) => setImmediate(r));
  }
}

describe('malformed inbound PROXY headers: closed, counted, nothing reaches a server', () => {
  test(`the table has ≥ 25 vectors (${INVALID.length})`, () => assert.ok(INVALID.length >= 25));

  for (const v of INVALID) {
    test(v.name, async () => {
      const mode = v.mode ?? 'segment';
      const listener = mode === 'stall' ? 'slow' : 'fast';
      const errorsBefore = counters(listener).proxyHeaderErrors;
      const acceptedBefore = backend.accepted;
      const rejectedLogs = fp.logs.find('PROXY header rejected').length;
      const s = await dial(fp.addr(listener).port);
      s.on('error', () => {}); // writes after the close may reset; outcome() records it
      const done = outcome(s);
      const start = Date.now();
      if (mode === 'dribble') await dribble(s, v.bytes);
      else if (v.bytes.length > 0) s.write(v.bytes);
      if (mode === 'eof') s.end();
      const r = await Promise.race([done, new Promise<null>((res) => setTimeout(() => res(null), 3_000).unref())]);
      const took = Date.now() - start;
      if (r === null) s.destroy();
      assert.notEqual(r, null, 'the connection was closed');
      if (mode === 'stall') {
        assert.ok(took >= 450, `a stall is closed by the 500 ms timeout, not before (${took} ms)`);
        assert.ok(took < 500 + 1_000, `closed ${took} ms after the start`);
      } else {
        assert.ok(took < 1_000, `closed within 1 s (${took} ms)`);
      }
      assert.equal(r!.data.length, 0, 'nothing was answered');
      assert.equal(counters(listener).proxyHeaderErrors, errorsBefore + 1, 'proxyHeaderErrors rose by exactly one');
      assert.equal(backend.accepted, acceptedBefore, 'no server connection was made');
      await waitFor(() => fp.logs.find('PROXY header rejected').length > rejectedLogs, 1_000, 'the rejection log line');
      const reason = String(fp.logs.find('PROXY header rejected').at(-1)?.['reason']);
      if (mode === 'segment' || mode === 'dribble') assert.doesNotMatch(reason, /within \d+ ms|closed before/, `decided by the parser, not by a timer or EOF: ${reason}`);
      if (mode === 'stall') assert.match(reason, /within 500 ms/, reason);
    });
  }
});

describe('valid headers (controls): served, payload intact, the header’s client passed on', () => {
  for (const v of VALID) {
    test(v.name, async () => {
      const errorsBefore = counters('fast').proxyHeaderErrors;
      const connsBefore = backend.conns.length;
      const s = await dial(fp.addr('fast').port);
      const localPort = s.localPort;
      const done = outcome(s);
      const mode = v.mode ?? 'segment';
      if (mode === 'segment') s.end(Buffer.concat([v.header, PAYLOAD]));
      else {
        if (mode === 'dribble') await dribble(s, v.header);
        else await new Promise<void>((r) => s.write(v.header, () => r()));
        s.end(PAYLOAD);
      }
      const r = await done;
      assert.equal(r.data.toString('latin1'), PAYLOAD.toString('latin1'), 'the echo is exactly the payload');
      assert.equal(counters('fast').proxyHeaderErrors, errorsBefore);
      assert.equal(backend.conns.length, connsBefore + 1, 'one server connection');
      const sent = backend.conns.at(-1)!.header;
      assert.ok(sent !== null && sent.command === 'proxy', 'fullproxy sent a PROXY v1 header with addresses');
      const expected = v.source ?? { address: '127.0.0.1', port: localPort };
      assert.equal(sent.addresses.sourceAddress, expected.address);
      assert.equal(sent.addresses.sourcePort, expected.port);
    });
  }
});

describe('http listener: a bad header is closed without any HTTP answer; a good one feeds X-Forwarded-For', () => {
  const GET = latin1('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const bad: Bad[] = [
    { name: 'v1 port 65536', bytes: latin1(V1.replace('40000', '65536')) },
    { name: 'v2 version 1', bytes: v2(0x11, 0x11, ADDR4) },
    { name: 'a request without the required header', bytes: Buffer.alloc(0) },
  ];
  for (const v of bad) {
    test(`refused: ${v.name}`, async () => {
      const errorsBefore = counters('web').proxyHeaderErrors;
      const acceptedBefore = web.accepted;
      const s = await dial(fp.addr('web').port);
      s.on('error', () => {});
      const done = outcome(s);
      const start = Date.now();
      s.write(Buffer.concat([v.bytes, GET]));
      const r = await done;
      assert.ok(Date.now() - start < 1_000);
      assert.equal(r.data.length, 0, `no 400 or any byte: ${r.data.toString('latin1')}`);
      assert.equal(counters('web').proxyHeaderErrors, errorsBefore + 1);
      assert.equal(web.accepted, acceptedBefore);
    });
  }
  for (const [name, header, xff] of [
    ['v1', latin1(V1), '192.0.2.1'],
    ['v2 TCP6', v2(0x21, 0x21, ADDR6), '2001:db8::1'],
    ['v2 LOCAL', v2(0x20, 0x00, []), '127.0.0.1'],
  ] as const) {
    test(`served: ${name} + request in one segment → X-Forwarded-For ${xff}`, async () => {
      const s = await dial(fp.addr('web').port);
      const done = outcome(s);
      s.write(Buffer.concat([header, GET]));
      const r = await done;
      const text = r.data.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 /, text);
      assert.ok(text.endsWith(`xff=${xff}`), text);
    });
  }
});
