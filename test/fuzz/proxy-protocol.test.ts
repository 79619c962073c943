// Fuzz target (b): the inbound PROXY parser (src/net/proxy-protocol.ts), v1 and v2. Inputs: valid
// headers from our builders (random addresses, ports, AUTHORITY / SSL / CRC32C TLVs) with byte
// edits (the parser's separators and keywords inserted as often as random bytes), random bytes
// behind a v1 or v2 start, and payload after the header.
// Properties, on the parser alone: it never throws; what it returns is well formed; it is
// incremental — every prefix of an input that parses is 'incomplete' up to the header's end and
// the same header from there, and an error on a prefix stays an error with more bytes; an
// unedited header parses back to what was built. End to end: the same inputs, split at random
// points, into a listener that accepts PROXY from 127.0.0.1: the server sees exactly the address
// the parser reads from the whole input (or the real one for LOCAL / UNKNOWN) and exactly the
// payload after it, or — when the parser refuses the input — nothing at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import fc from 'fast-check';
import { buildProxyV1, buildProxyV2, parseProxyHeader, type ParseResult, type ProxyAddresses } from '../../src/net/proxy-protocol.ts';
import { startProxy } from '../helpers/fullproxy.ts';
import { ppBackend } from '../helpers/pp-backends.ts';
import { budget, fuzz } from './fuzz-run.ts';
import { applyEdits, edit, pieces, splits } from './mutate.ts';
import { send } from './wire.ts';

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const TOKENS = ['PROXY ', 'TCP4 ', 'TCP6 ', 'UNKNOWN', ' ', '\r\n', '\n', '\r', ':', '.', '::', '::ffff:', '0', '65535', '65536', '00', '-1', '255', '256',
  '\x21', '\x20', '\x11', '\x21\x11', '\x22', '\x31', '\x00\x00', '\xff\xff', '\x08\x00', '\x03\x00\x04', '\x02\x00\x01a', '\x20\x00\x05\x01\x00\x00\x00\x00'];

const addresses: fc.Arbitrary<ProxyAddresses> = fc.oneof(
  fc.record({ family: fc.constant('tcp4' as const), sourceAddress: fc.ipV4(), sourcePort: fc.integer({ min: 0, max: 65535 }), destinationAddress: fc.ipV4(), destinationPort: fc.integer({ min: 0, max: 65535 }) }),
  fc.record({ family: fc.constant('tcp6' as const), sourceAddress: fc.ipV6(), sourcePort: fc.integer({ min: 0, max: 65535 }), destinationAddress: fc.ipV6(), destinationPort: fc.integer({ min: 0, max: 65535 }) }),
);

interface Built {
  bytes: Buffer;
  /** What was built (null: UNKNOWN / LOCAL); only meaningful while no edit was made. */
  addresses: ProxyAddresses | null;
  /** Random bytes, not a header we built. */
  random: boolean;
}

const v1 = fc.option(addresses, { nil: null }).map((a): Built => ({ bytes: buildProxyV1(a), addresses: a, random: false }));
const v2 = fc
  .tuple(
    fc.option(addresses, { nil: null }),
    fc.option(fc.domain(), { nil: undefined }),
    fc.option(fc.record({ version: fc.constantFrom('TLSv1.2', 'TLSv1.3'), cipher: fc.option(fc.constantFrom('TLS_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256'), { nil: undefined }) }), { nil: undefined }),
    fc.boolean(),
  )
  .map(([a, authority, ssl, crc32c]): Built => ({ bytes: buildProxyV2(a, { authority, ssl, crc32c }), addresses: a, random: false }));
const randomTail = fc.uint8Array({ maxLength: 120 }).map((a) => Buffer.from(a));
const random = fc
  .tuple(fc.constantFrom(Buffer.from('PROXY ', 'latin1'), Buffer.concat([V2_SIG, Buffer.from([0x21])]), V2_SIG.subarray(0, 5), Buffer.alloc(0)), randomTail)
  .map(([head, tail]): Built => ({ bytes: Buffer.concat([head, tail]), addresses: null, random: true }));

const input = fc.record({
  built: fc.oneof({ weight: 3, arbitrary: v1 }, { weight: 3, arbitrary: v2 }, { weight: 1, arbitrary: random }),
  edits: fc.oneof(fc.constant([]), fc.array(edit(TOKENS), { minLength: 1, maxLength: 3 })),
  payload: fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
});

/** RFC 5952 hex form of an IPv6 text (the WHATWG URL serializer), so ::ffff:1.2.3.4 and ::ffff:102:304 compare equal. */
function canonical(addr: string): string {
  return isIP(addr) === 6 ? new URL(`http://[${addr}]/`).hostname : addr;
}

function wellFormed(r: ParseResult, len: number): void {
  if (r.kind === 'incomplete') return;
  if (r.kind === 'error') {
    assert.ok(typeof r.reason === 'string' && r.reason !== '', 'an error has a reason');
    return;
  }
  assert.equal(r.kind, 'ok');
  assert.ok(Number.isInteger(r.consumed) && r.consumed > 0 && r.consumed <= len, `consumed ${r.consumed} of ${len}`);
  const h = r.header;
  assert.ok(h.version === 1 || h.version === 2);
  for (const tlv of h.tlvs) assert.ok(Buffer.isBuffer(tlv.value) && Number.isInteger(tlv.type) && tlv.type >= 0 && tlv.type <= 255);
  if (h.command === 'local') return assert.equal(h.addresses, null);
  const a = h.addresses;
  const fam = a.family === 'tcp4' ? 4 : 6;
  assert.equal(isIP(a.sourceAddress), fam, `source ${a.sourceAddress} is ${a.family}`);
  assert.equal(isIP(a.destinationAddress), fam, `destination ${a.destinationAddress} is ${a.family}`);
  for (const p of [a.sourcePort, a.destinationPort]) assert.ok(Number.isInteger(p) && p >= 0 && p <= 65535, `port ${p}`);
}

/** Prefix lengths to check: all of them for short inputs, else 48 spread over the input and around the end of the header. */
function prefixLengths(len: number, consumed: number): number[] {
  if (len <= 160) return Array.from({ length: len }, (_, i) => i);
  const out = new Set<number>();
  for (let i = 0; i < 40; i++) out.add(Math.floor((len * i) / 40));
  for (let d = -4; d <= 4; d++) if (consumed + d >= 0 && consumed + d < len) out.add(consumed + d);
  return [...out];
}

test('fuzz: PROXY parser alone — never throws, well-formed, incremental, round trip', async (t) => {
  const counts: Record<string, number> = { ok: 0, local: 0, error: 0, incomplete: 0, roundTrips: 0 };
  await fuzz(
    t,
    'proxy-protocol parser',
    fc.property(input, ({ built, edits, payload }) => {
      const header = applyEdits(built.bytes, edits);
      const buf = Buffer.concat([header, payload]);
      const full = parseProxyHeader(buf);
      wellFormed(full, buf.length);
      counts[full.kind === 'ok' && full.header.command === 'local' ? 'local' : full.kind]!++;
      const consumed = full.kind === 'ok' ? full.consumed : buf.length;
      for (const k of prefixLengths(buf.length, consumed)) {
        const p = parseProxyHeader(buf.subarray(0, k));
        wellFormed(p, k);
        if (full.kind === 'ok' && k < full.consumed) assert.equal(p.kind, 'incomplete', `prefix ${k} of a header of ${full.consumed} bytes: ${JSON.stringify(p)}`);
        if (full.kind === 'ok' && k >= full.consumed) {
          assert.equal(p.kind, 'ok', `prefix ${k} holds the whole header of ${full.consumed} bytes`);
          assert.deepEqual(p, full);
        }
        if (p.kind === 'error') assert.equal(full.kind, 'error', `prefix ${k} was refused (${p.reason}) but the whole input parses`);
      }
      if (edits.length === 0 && !built.random) {
        assert.equal(full.kind, 'ok', `our own header refused: ${JSON.stringify(full)} ${built.bytes.toString('hex')}`);
        if (full.kind !== 'ok') return;
        assert.equal(full.consumed, built.bytes.length);
        if (built.addresses === null) assert.equal(full.header.command, 'local');
        else {
          assert.equal(full.header.command, 'proxy');
          const a = full.header.addresses!;
          assert.deepEqual(
            [canonical(a.sourceAddress), canonical(a.destinationAddress), a.sourcePort, a.destinationPort],
            [canonical(built.addresses.sourceAddress), canonical(built.addresses.destinationAddress), built.addresses.sourcePort, built.addresses.destinationPort],
          );
        }
        counts['roundTrips']!++;
      }
    }),
    budget(2),
    () => counts,
  );
});

test('fuzz: PROXY headers split at random points into a listener → the server sees what the parser reads, or nothing', async (t) => {
  const backend = await ppBackend(); // echoes what follows the header our proxy sends it
  const p = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', acceptProxyProtocol: { from: ['127.0.0.0/8'], timeout: '2s' } }],
    pools: [{ name: 'p', servers: [{ address: backend.address }], sendProxyProtocol: 'v2' }],
  });
  const port = p.addr('t').port;
  const counts: Record<string, number> = { forwarded: 0, refused: 0, incomplete: 0 };
  try {
    await fuzz(
      t,
      'proxy-protocol listener',
      fc.asyncProperty(input, splits, async ({ built, edits, payload }, cuts) => {
        const header = applyEdits(built.bytes, edits);
        const buf = Buffer.concat([header, payload]);
        const full = parseProxyHeader(buf);
        const before = backend.conns.length;
        const r = await send(port, pieces(buf, cuts));
        assert.notEqual(r.how, 'timeout', 'the connection ended');
        if (full.kind !== 'ok') {
          counts[full.kind === 'error' ? 'refused' : 'incomplete']!++;
          assert.equal(r.data.length, 0, `nothing comes back for a refused header (${full.kind})`);
          assert.equal(backend.conns.length, before, 'no server connection for a refused header');
          return;
        }
        counts['forwarded']!++;
        assert.equal(backend.conns.length, before + 1, `one server connection (${r.how})`);
        const seen = backend.conns[before]!.header;
        assert.ok(seen !== null && seen.command === 'proxy', 'our header to the server names the client');
        const want = full.header.command === 'local' ? { sourceAddress: '127.0.0.1', sourcePort: r.localPort } : full.header.addresses;
        assert.deepEqual([canonical(seen.addresses.sourceAddress), seen.addresses.sourcePort], [canonical(want.sourceAddress), want.sourcePort]);
        assert.ok(r.data.equals(buf.subarray(full.consumed)), `the payload after the header, exactly: got ${r.data.toString('hex')}, want ${buf.subarray(full.consumed).toString('hex')}`);
      }),
      budget(3),
      () => counts,
    );
  } finally {
    await p.stop();
    await backend.close();
  }
});
