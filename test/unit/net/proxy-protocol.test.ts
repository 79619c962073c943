// PROXY v1/v2 parse and build: round trips, TLVs and CRC32C, arrival in pieces, and the receiver
// rules of haproxy doc/proxy-protocol.txt (cited as "pp §x") as tables of malformed and of
// truncated-but-plausible inputs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SocketAddress } from 'node:net';
import { V1BinaryProxyProtocol, V2ProxyProtocol, IPv4ProxyAddress, IPv6ProxyAddress } from 'proxy-protocol-js';
import {
  PP2_TYPE,
  PROXY_HEADER_MAX_BYTES,
  PROXY_V1_MAX_BYTES,
  buildProxyV1,
  buildProxyV2,
  parseProxyHeader,
} from '../../../src/net/proxy-protocol.ts';
import type { ParseResult, ProxyAddresses, ProxyHeader } from '../../../src/net/proxy-protocol.ts';
import { crc32c } from '../../../src/net/crc32c.ts';

const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
const ADDR4 = [192, 0, 2, 1, 198, 51, 100, 2, 0x9c, 0x40, 0x01, 0xbb]; // 192.0.2.1:40000 → 198.51.100.2:443

/** A v2 header from parts; `len` defaults to the body length. */
function v2(verCmd: number, fam: number, body: ArrayLike<number>, len = body.length): Buffer {
  return Buffer.from([...SIG, verCmd, fam, len >> 8, len & 0xff, ...Array.from(body)]);
}
/** A v2 header whose last 4 bytes are a CRC32C TLV value, filled in correctly (or off by one bit). */
function withCrc(h: Buffer, corrupt = false): Buffer {
  const out = Buffer.from(h);
  out.writeUInt32BE(0, out.length - 4);
  out.writeUInt32BE((crc32c(out) ^ (corrupt ? 1 : 0)) >>> 0, out.length - 4);
  return out;
}
const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

function ok(r: ParseResult): { header: ProxyHeader; consumed: number } {
  assert.equal(r.kind, 'ok', `expected ok, got ${JSON.stringify(r)}`);
  if (r.kind !== 'ok') throw new Error('unreachable');
  return r;
}
function addressesOf(r: ParseResult): ProxyAddresses {
  const { header } = ok(r);
  assert.equal(header.command, 'proxy');
  if (header.command !== 'proxy') throw new Error('unreachable');
  return header.addresses;
}

const A4: ProxyAddresses = { family: 'tcp4', sourceAddress: '192.0.2.1', sourcePort: 40000, destinationAddress: '198.51.100.2', destinationPort: 443 };
const A6: ProxyAddresses = { family: 'tcp6', sourceAddress: '2001:db8::7', sourcePort: 1, destinationAddress: '2001:db8:0:1::1', destinationPort: 65535 };

describe('PROXY v1', () => {
  it('parses the example of pp §2.1 and leaves the request as payload', () => {
    const wire = latin1('PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n');
    const r = ok(parseProxyHeader(wire));
    assert.equal(r.consumed, 47);
    assert.deepEqual(r.header, {
      version: 1,
      command: 'proxy',
      addresses: { family: 'tcp4', sourceAddress: '192.168.0.1', sourcePort: 56324, destinationAddress: '192.168.0.11', destinationPort: 443 },
      tlvs: [],
    });
    assert.equal(wire.subarray(r.consumed).toString('latin1'), 'GET / HTTP/1.1\r\nHost: 192.168.0.11\r\n\r\n');
  });

  it('round-trips tcp4 and tcp6', () => {
    for (const a of [A4, A6]) {
      const wire = buildProxyV1(a);
      assert.deepEqual(addressesOf(parseProxyHeader(wire)), a);
      assert.equal(ok(parseProxyHeader(wire)).consumed, wire.length);
    }
    assert.equal(buildProxyV1(A4).toString('latin1'), 'PROXY TCP4 192.0.2.1 198.51.100.2 40000 443\r\n');
    assert.equal(buildProxyV1(A6).toString('latin1'), 'PROXY TCP6 2001:db8::7 2001:db8:0:1::1 1 65535\r\n');
  });

  it('builds and parses "PROXY UNKNOWN" as local (use the real connection addresses)', () => {
    assert.equal(buildProxyV1(null).toString('latin1'), 'PROXY UNKNOWN\r\n');
    const r = ok(parseProxyHeader(latin1('PROXY UNKNOWN\r\nSSH-2.0-x')));
    assert.deepEqual(r.header, { version: 1, command: 'local', addresses: null, tlvs: [] });
    assert.equal(r.consumed, 15);
    // pp §2.1: "the receiver must ignore anything presented before the CRLF".
    const long = ok(parseProxyHeader(latin1('PROXY UNKNOWN ffff:f::f whatever 65535 65535\r\n')));
    assert.equal(long.header.command, 'local');
  });

  it('accepts the longest lines of pp §2.1 (104 bytes TCP6, 107 bytes UNKNOWN) and nothing longer', () => {
    const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const tcp6 = latin1(`PROXY TCP6 ${full} ${full} 65535 65535\r\n`);
    assert.equal(tcp6.length, 104);
    assert.equal(addressesOf(parseProxyHeader(tcp6)).sourceAddress, full);
    const unknown = latin1(`PROXY UNKNOWN ${full} ${full} 65535 65535\r\n`);
    assert.equal(unknown.length, PROXY_V1_MAX_BYTES);
    assert.equal(ok(parseProxyHeader(unknown)).consumed, 107);
    const tooLong = latin1(`PROXY UNKNOWN ${full} ${full} 65535 655350\r\n`);
    assert.equal(parseProxyHeader(tooLong).kind, 'error');
    // and the error is decided at byte 107, without waiting for a CRLF that may never come
    assert.equal(parseProxyHeader(tooLong.subarray(0, 107)).kind, 'error');
    assert.equal(parseProxyHeader(tooLong.subarray(0, 106)).kind, 'incomplete');
  });

  it('canonicalises IPv6 text as Node reports socket peers', () => {
    const r = addressesOf(parseProxyHeader(latin1('PROXY TCP6 2001:DB8:0:0:0:0:0:1 0:0:0:0:0:0:0:1 1 2\r\n')));
    assert.equal(r.sourceAddress, '2001:db8::1');
    assert.equal(r.destinationAddress, '::1');
    for (const t of ['1:0:0:1:0:0:0:1', '::1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '::ffff:0:0', '1::', '::']) {
      const got = addressesOf(parseProxyHeader(latin1(`PROXY TCP6 ${t} ::2 1 2\r\n`))).sourceAddress;
      assert.equal(got, new SocketAddress({ address: t, family: 'ipv6' }).address, t);
    }
  });

  it('reports a TCP6 pair of IPv4-mapped addresses as tcp4', () => {
    assert.deepEqual(addressesOf(parseProxyHeader(latin1('PROXY TCP6 ::ffff:127.0.0.2 ::FFFF:7f00:1 1 2\r\n'))), {
      family: 'tcp4', sourceAddress: '127.0.0.2', sourcePort: 1, destinationAddress: '127.0.0.1', destinationPort: 2,
    });
  });
});

describe('PROXY v2', () => {
  it('parses a header HAProxy sent (send-proxy-v2) and leaves the payload', () => {
    // captured from haproxy in front of netcat (seriousben/experiment-proxy-protocol README)
    const wire = Buffer.concat([
      Buffer.from('0d0a0d0a000d0a515549540a2111000cac130001ac130003a6520050', 'hex'),
      latin1('GET / HTTP/1.1\r\n'),
    ]);
    const r = ok(parseProxyHeader(wire));
    assert.equal(r.consumed, 28);
    assert.deepEqual(r.header.addresses, {
      family: 'tcp4', sourceAddress: '172.19.0.1', sourcePort: 42578, destinationAddress: '172.19.0.3', destinationPort: 80,
    });
    // and we build the same bytes for the same addresses
    assert.deepEqual(buildProxyV2(r.header.addresses), wire.subarray(0, 28));
  });

  it('round-trips tcp4, tcp6 and local', () => {
    for (const a of [A4, A6]) {
      const wire = buildProxyV2(a);
      assert.equal(wire.length, a === A4 ? 28 : 52);
      assert.deepEqual(ok(parseProxyHeader(wire)), { header: { version: 2, command: 'proxy', addresses: a, tlvs: [] }, consumed: wire.length, kind: 'ok' });
    }
    const local = buildProxyV2(null);
    assert.deepEqual([...local], [...SIG, 0x20, 0x00, 0, 0]);
    assert.deepEqual(ok(parseProxyHeader(local)).header, { version: 2, command: 'local', addresses: null, tlvs: [] });
  });

  it('treats LOCAL with an address block as local and skips the block (pp §2.2)', () => {
    const r = ok(parseProxyHeader(Buffer.concat([v2(0x20, 0x11, ADDR4), latin1('x')])));
    assert.deepEqual(r.header, { version: 2, command: 'local', addresses: null, tlvs: [] });
    assert.equal(r.consumed, 28);
  });

  it('treats PROXY with AF_UNSPEC as local (pp §2.2 lets the receiver use the real addresses)', () => {
    assert.equal(ok(parseProxyHeader(v2(0x21, 0x00, []))).header.command, 'local');
  });

  it('reports a 0x21 header with two IPv4-mapped addresses as tcp4', () => {
    const mapped = (a: number[]) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...a];
    const r = addressesOf(parseProxyHeader(v2(0x21, 0x21, [...mapped([10, 0, 0, 1]), ...mapped([10, 0, 0, 2]), 0, 1, 0, 2])));
    assert.deepEqual(r, { family: 'tcp4', sourceAddress: '10.0.0.1', sourcePort: 1, destinationAddress: '10.0.0.2', destinationPort: 2 });
  });

  it('builds AUTHORITY and CRC32C TLVs, and the CRC is verified on parse', () => {
    const wire = buildProxyV2(A4, { authority: 'example.com', crc32c: true });
    assert.equal(wire.readUInt16BE(14), 12 + 3 + 11 + 7, 'TLVs are inside the length field');
    const { header, consumed } = ok(parseProxyHeader(Buffer.concat([wire, latin1('payload')])));
    assert.equal(consumed, wire.length);
    assert.deepEqual(header.addresses, A4);
    assert.deepEqual(header.tlvs.map((t) => t.type), [PP2_TYPE.AUTHORITY, PP2_TYPE.CRC32C]);
    assert.equal(header.tlvs[0]!.value.toString('utf8'), 'example.com');
    // Every single-bit corruption is caught, by the CRC or a structural check — except in the
    // CRC TLV's own type byte: that turns it into another TLV and the header has no CRC left
    // (the checksum's presence is not itself protected; pp §2.2.3 makes it optional).
    const crcType = wire.length - 7;
    assert.equal(wire[crcType], PP2_TYPE.CRC32C);
    for (let i = 0; i < wire.length; i++) {
      if (i === crcType) continue;
      for (let bit = 0; bit < 8; bit++) {
        const bad = Buffer.from(wire);
        bad[i]! ^= 1 << bit;
        const r = parseProxyHeader(bad);
        if (r.kind === 'ok') assert.fail(`bit ${bit} of byte ${i} flipped and still ok: ${JSON.stringify(r)}`);
      }
    }
  });

  it('builds LOCAL with a CRC32C TLV and an authority in UTF-8', () => {
    const wire = buildProxyV2(null, { authority: 'bücher.example', crc32c: true });
    const { header } = ok(parseProxyHeader(wire));
    assert.equal(header.command, 'local');
    assert.equal(header.tlvs[0]!.value.toString('utf8'), 'bücher.example');
    assert.deepEqual(buildProxyV2(A4, { authority: '' }), buildProxyV2(A4), 'an empty authority is not sent');
  });

  it('returns every TLV in order, as private copies', () => {
    const tlvs = [
      PP2_TYPE.NOOP, 0, 0,
      PP2_TYPE.UNIQUE_ID, 0, 3, 0xaa, 0xbb, 0xcc,
      PP2_TYPE.SSL, 0, 5, 0x01, 0, 0, 0, 0,
      0xe0, 0, 1, 0x42,
    ];
    const wire = v2(0x21, 0x11, [...ADDR4, ...tlvs]);
    const { header } = ok(parseProxyHeader(wire));
    assert.deepEqual(header.tlvs, [
      { type: PP2_TYPE.NOOP, value: Buffer.alloc(0) },
      { type: PP2_TYPE.UNIQUE_ID, value: Buffer.from([0xaa, 0xbb, 0xcc]) },
      { type: PP2_TYPE.SSL, value: Buffer.from([1, 0, 0, 0, 0]) },
      { type: 0xe0, value: Buffer.from([0x42]) },
    ]);
    wire.fill(0);
    assert.deepEqual(header.tlvs[1]!.value, Buffer.from([0xaa, 0xbb, 0xcc]), 'not a view of the socket chunk');
  });

  it('verifies a CRC32C placed anywhere among the TLVs', () => {
    const crcFirst = v2(0x21, 0x11, [...ADDR4, 0x03, 0, 4, 0, 0, 0, 0, 0x04, 0, 2, 9, 9]);
    const crcAt = 16 + 12 + 3;
    const good = Buffer.from(crcFirst);
    good.writeUInt32BE(crc32c(crcFirst), crcAt);
    assert.equal(parseProxyHeader(good).kind, 'ok');
    good[good.length - 1] = 8; // a NOOP byte after the CRC is covered too
    assert.deepEqual(parseProxyHeader(good), { kind: 'error', reason: 'v2: CRC32C mismatch' });
  });
});

describe('normalisation of builder input', () => {
  it('sends IPv4-mapped addresses as TCP4 with plain IPv4 (either form accepted)', () => {
    const mapped: ProxyAddresses = { family: 'tcp6', sourceAddress: '::ffff:127.0.0.2', sourcePort: 5000, destinationAddress: '::FFFF:7f00:1', destinationPort: 80 };
    assert.equal(buildProxyV1(mapped).toString('latin1'), 'PROXY TCP4 127.0.0.2 127.0.0.1 5000 80\r\n');
    assert.equal(buildProxyV2(mapped)[13], 0x11);
    assert.deepEqual(addressesOf(parseProxyHeader(buildProxyV2(mapped))), {
      family: 'tcp4', sourceAddress: '127.0.0.2', sourcePort: 5000, destinationAddress: '127.0.0.1', destinationPort: 80,
    });
  });

  it('sends a mixed IPv4/IPv6 pair as TCP6 with the IPv4 address mapped', () => {
    const mixed: ProxyAddresses = { family: 'tcp4', sourceAddress: '192.0.2.1', sourcePort: 1, destinationAddress: '2001:db8::1', destinationPort: 2 };
    // v1 writes the mapped address in all-hex form (pp §2.1 describes IPv6 text as hex groups)
    assert.equal(buildProxyV1(mixed).toString('latin1'), 'PROXY TCP6 ::ffff:c000:201 2001:db8::1 1 2\r\n');
    const expected: ProxyAddresses = { family: 'tcp6', sourceAddress: '::ffff:192.0.2.1', sourcePort: 1, destinationAddress: '2001:db8::1', destinationPort: 2 };
    assert.deepEqual(addressesOf(parseProxyHeader(buildProxyV1(mixed))), expected);
    assert.deepEqual(addressesOf(parseProxyHeader(buildProxyV2(mixed))), expected);
  });

  it('drops a zone id and canonicalises IPv6 text', () => {
    const a: ProxyAddresses = { family: 'tcp6', sourceAddress: 'FE80:0:0:0:0:0:0:1%eth0', sourcePort: 1, destinationAddress: '::1', destinationPort: 2 };
    assert.equal(buildProxyV1(a).toString('latin1'), 'PROXY TCP6 fe80::1 ::1 1 2\r\n');
  });

  it('rejects what cannot be sent with a RangeError', () => {
    const bad: Array<Partial<ProxyAddresses>> = [
      { sourcePort: 65536 }, { sourcePort: -1 }, { destinationPort: 1.5 }, { destinationPort: Number.NaN },
      { sourceAddress: 'localhost' }, { sourceAddress: '' }, { sourceAddress: '1.2.3' }, { destinationAddress: '010.0.0.1' },
      { destinationAddress: '1::2::3' }, { destinationAddress: '::ffff:1.2.3.256' },
    ];
    for (const b of bad) {
      const a = { ...A4, ...b };
      assert.throws(() => buildProxyV1(a), RangeError, JSON.stringify(b));
      assert.throws(() => buildProxyV2(a), RangeError, JSON.stringify(b));
    }
    assert.throws(() => buildProxyV2(A4, { authority: 'a'.repeat(PROXY_HEADER_MAX_BYTES) }), RangeError);
  });
});

describe('arrival in pieces', () => {
  const headers: Array<[string, Buffer]> = [
    ['v1 tcp4', buildProxyV1(A4)],
    ['v1 tcp6', buildProxyV1(A6)],
    ['v1 unknown', buildProxyV1(null)],
    ['v1 unknown with fields', latin1('PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n')],
    ['v2 tcp4', buildProxyV2(A4)],
    ['v2 tcp6 + authority + crc', buildProxyV2(A6, { authority: 'a.example', crc32c: true })],
    ['v2 local', buildProxyV2(null)],
  ];
  for (const [name, header] of headers) {
    it(`${name}: incomplete until the last byte, then ok with the payload kept`, () => {
      const payload = latin1('\r\nPROXY payload that looks like a header\r\n');
      const wire = Buffer.concat([header, payload]);
      for (let n = 0; n <= wire.length; n++) {
        const r = parseProxyHeader(wire.subarray(0, n));
        if (n < header.length) {
          assert.deepEqual(r, { kind: 'incomplete' }, `prefix of ${n} bytes`);
        } else {
          assert.equal(ok(r).consumed, header.length, `prefix of ${n} bytes`);
        }
      }
      assert.deepEqual(wire.subarray(ok(parseProxyHeader(wire)).consumed), payload);
    });
  }
});

// Each vector is invalid as a whole; the parser must say 'error' (never 'incomplete', which
// would leave the connection waiting for the timeout) and no prefix of it may be 'ok'.
const MALFORMED: Array<[string, Buffer]> = [
  // v1
  ['v1 bad signature PROXX', latin1('PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['v1 lowercase proxy', latin1('proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['v1 lowercase protocol', latin1('PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['v1 TCP5', latin1('PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['v1 UNKNOWN glued to text', latin1('PROXY UNKNOWNX\r\n')],
  ['v1 "PROXY" then CRLF', latin1('PROXY\r\n')],
  ['v1 double space after PROXY', latin1('PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['v1 double space between addresses', latin1('PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n')],
  ['v1 tab as separator', latin1('PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n')],
  ['v1 missing port', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n')],
  ['v1 port 65536', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n')],
  ['v1 port leading zero 080', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 080\r\n')],
  ['v1 negative port', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n')],
  ['v1 port with plus sign', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n')],
  ['v1 octet leading zero 127.000.0.1', latin1('PROXY TCP4 127.000.0.1 5.6.7.8 1 2\r\n')],
  ['v1 octet 256', latin1('PROXY TCP4 256.1.1.1 5.6.7.8 1 2\r\n')],
  ['v1 three octets', latin1('PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n')],
  ['v1 IPv6 in TCP4', latin1('PROXY TCP4 ::1 ::1 1 2\r\n')],
  ['v1 IPv4 in TCP6', latin1('PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n')],
  ['v1 two "::" in TCP6', latin1('PROXY TCP6 1::2::3 ::1 1 2\r\n')],
  ['v1 zone id in TCP6', latin1('PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n')],
  ['v1 hostname', latin1('PROXY TCP4 localhost 5.6.7.8 1 2\r\n')],
  ['v1 no CRLF within 107 bytes', latin1('PROXY UNKNOWN ' + 'x'.repeat(120))],
  ['v1 bare LF', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\nGET /')],
  ['v1 bare LF after UNKNOWN', latin1('PROXY UNKNOWN\nGET /')],
  ['v1 CR followed by another byte', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX\n')],
  ['v1 CR CR LF', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n')],
  ['v1 trailing space before CRLF', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n')],
  ['v1 extra field', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n')],
  ['neither v1 nor v2 (HTTP)', latin1('GET / HTTP/1.1\r\n\r\n')],
  ['neither v1 nor v2 (TLS)', Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10])],
  // v2
  ['v2 bad signature byte', (() => { const b = v2(0x21, 0x11, ADDR4); b[7] = 0x52; return b; })()],
  ['v2 version 1 in the v2 nibble', v2(0x11, 0x11, ADDR4)],
  ['v2 version 3', v2(0x31, 0x11, ADDR4)],
  ...Array.from({ length: 14 }, (_, i): [string, Buffer] => [`v2 command ${i + 2}`, v2(0x20 | (i + 2), 0x11, ADDR4)]),
  ['v2 family 4 (unassigned)', v2(0x21, 0x41, ADDR4)],
  ['v2 transport 3 (unassigned)', v2(0x21, 0x13, ADDR4)],
  ['v2 AF_UNIX stream with PROXY (unsupported: no IP to use)', v2(0x21, 0x31, new Array(216).fill(0))],
  ['v2 UDP over IPv4 (stream only)', v2(0x21, 0x12, ADDR4)],
  ['v2 UDP over IPv6 (stream only)', v2(0x21, 0x22, new Array(36).fill(0))],
  ['v2 AF_INET with UNSPEC transport', v2(0x21, 0x10, ADDR4)],
  ['v2 0x21 with a 12-byte length', v2(0x21, 0x21, ADDR4)],
  ['v2 0x11 with length 0 and PROXY', v2(0x21, 0x11, [])],
  ['v2 LOCAL 0x11 with length shorter than the block', v2(0x20, 0x11, [1, 2, 3])],
  ['v2 length over our 2 KB cap', v2(0x21, 0x11, ADDR4, 0xffff)],
  ['v2 TLV length overrunning the header', v2(0x21, 0x11, [...ADDR4, 0x02, 0x00, 0x05, 0x61, 0x62])],
  ['v2 TLV length overrunning by one byte', v2(0x21, 0x11, [...ADDR4, 0x02, 0x00, 0x03, 0x61, 0x62])],
  ['v2 TLV header truncated (1 byte left)', v2(0x21, 0x11, [...ADDR4, 0x04])],
  ['v2 TLV header truncated (2 bytes left)', v2(0x21, 0x11, [...ADDR4, 0x04, 0x00])],
  ['v2 CRC32C mismatch', withCrc(v2(0x21, 0x11, [...ADDR4, 0x03, 0, 4, 0, 0, 0, 0]), true)],
  ['v2 CRC32C TLV of length 3', v2(0x21, 0x11, [...ADDR4, 0x03, 0, 3, 0, 0, 0])],
  ['v2 two CRC32C TLVs', withCrc(v2(0x21, 0x11, [...ADDR4, 0x03, 0, 4, 0, 0, 0, 0, 0x03, 0, 4, 0, 0, 0, 0]))],
];

describe('malformed headers are errors', () => {
  assert.ok(MALFORMED.length >= 25);
  for (const [name, wire] of MALFORMED) {
    it(name, () => {
      const r = parseProxyHeader(wire);
      assert.equal(r.kind, 'error', `${name}: ${JSON.stringify(r)}`);
      if (r.kind === 'error') assert.ok(r.reason.length > 0);
      for (let n = 0; n < wire.length; n++) assert.notEqual(parseProxyHeader(wire.subarray(0, n)).kind, 'ok', `prefix ${n}`);
      // more bytes never turn an error into something else
      assert.equal(parseProxyHeader(Buffer.concat([wire, latin1('\r\n\r\n')])).kind, 'error');
    });
  }

  it('is decided as early as the bytes allow', () => {
    const at = (s: string | Buffer): string => parseProxyHeader(typeof s === 'string' ? latin1(s) : s).kind;
    assert.equal(at('X'), 'error');
    assert.equal(at('PROXX'), 'error');
    assert.equal(at('PROXY TCP5'), 'error');
    assert.equal(at('PROXY TCP4 1.2.3.4  '), 'error');
    assert.equal(at('PROXY TCP4 256.1.1.1 '), 'error', 'an address is checked when its field ends');
    assert.equal(at('PROXY TCP4 1.2.3.4 5.6.7.8 08'), 'error', 'a leading zero as soon as the second digit arrives');
    assert.equal(at('PROXY TCP4 1.2.3.4 5.6.7.8 65536'), 'error', 'over 65535 before the separator arrives');
    assert.equal(at('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n'), 'error');
    assert.equal(at(Buffer.from([...SIG.slice(0, 3), 0x00])), 'error');
    assert.equal(at(Buffer.from([...SIG, 0x11])), 'error', 'version at byte 13');
    assert.equal(at(Buffer.from([...SIG, 0x22])), 'error', 'command at byte 13');
    assert.equal(at(Buffer.from([...SIG, 0x21, 0x12])), 'error', 'transport at byte 14');
    assert.equal(at(Buffer.from([...SIG, 0x21, 0x21, 0x00, 0x0c])), 'error', 'length at byte 16');
    assert.equal(at(Buffer.from([...SIG, 0x21, 0x11, 0xff, 0xff])), 'error', 'length cap at byte 16');
  });
});

// Truncated but plausible: 'incomplete' is right (the caller's timeout ends the wait), and the
// given completion makes each one valid.
const INCOMPLETE: Array<[string, Buffer, Buffer]> = [
  ['nothing yet', Buffer.alloc(0), latin1('PROXY UNKNOWN\r\n')],
  ['"P"', latin1('P'), latin1('ROXY UNKNOWN\r\n')],
  ['"PROXY"', latin1('PROXY'), latin1(' UNKNOWN\r\n')],
  ['"PROXY TCP"', latin1('PROXY TCP'), latin1('6 ::1 ::1 1 2\r\n')],
  ['"PROXY UNKNOWN"', latin1('PROXY UNKNOWN'), latin1('\r\n')],
  ['UNKNOWN with junk, no CRLF yet', latin1('PROXY UNKNOWN 1.2.3.4 junk'), latin1('\r\n')],
  ['source address only', latin1('PROXY TCP4 1.2.3.4'), latin1(' 5.6.7.8 1 2\r\n')],
  ['port "0" may be complete', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 0'), latin1(' 0\r\n')],
  ['port "6553" may grow to 65535', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 6553'), latin1('5 80\r\n')],
  ['no CRLF yet', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2'), latin1('\r\n')],
  ['CR without its LF yet', latin1('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r'), latin1('\n')],
  ['v2 first byte', Buffer.from([0x0d]), buildProxyV2(A4).subarray(1)],
  ['v2 signature only', Buffer.from(SIG), buildProxyV2(A4).subarray(12)],
  ['v2 15 bytes', buildProxyV2(A4).subarray(0, 15), buildProxyV2(A4).subarray(15)],
  ['v2 fixed part, no address block', buildProxyV2(A4).subarray(0, 16), buildProxyV2(A4).subarray(16)],
  ['v2 address block, TLVs still to come', buildProxyV2(A4, { crc32c: true }).subarray(0, 30), buildProxyV2(A4, { crc32c: true }).subarray(30)],
];

describe('truncated but plausible headers are incomplete', () => {
  for (const [name, prefix, rest] of INCOMPLETE) {
    it(name, () => {
      assert.deepEqual(parseProxyHeader(prefix), { kind: 'incomplete' });
      assert.equal(ok(parseProxyHeader(Buffer.concat([prefix, rest]))).consumed, prefix.length + rest.length);
    });
  }

  it('never waits beyond PROXY_HEADER_MAX_BYTES', () => {
    assert.equal(PROXY_HEADER_MAX_BYTES, 16 + 2048);
    const biggest = buildProxyV2(A4, { authority: 'a'.repeat(2048 - 12 - 3) });
    assert.equal(biggest.length, PROXY_HEADER_MAX_BYTES);
    assert.equal(ok(parseProxyHeader(biggest)).consumed, PROXY_HEADER_MAX_BYTES);
    assert.equal(parseProxyHeader(v2(0x21, 0x11, ADDR4, 2049)).kind, 'error');
  });
});

// proxy-protocol-js as an independent reader of the bytes we build (pp byte layout cross-check).
describe('proxy-protocol-js reads what we build', () => {
  it('v1', () => {
    for (const a of [A4, A6]) {
      const lib = V1BinaryProxyProtocol.parse(buildProxyV1(a));
      assert.equal(lib.inetProtocol, a.family === 'tcp4' ? 'TCP4' : 'TCP6');
      assert.deepEqual([lib.source.ipAddress, lib.source.port, lib.destination.ipAddress, lib.destination.port],
        [a.sourceAddress, a.sourcePort, a.destinationAddress, a.destinationPort]);
    }
  });

  it('v2', () => {
    const l4 = V2ProxyProtocol.parse(buildProxyV2(A4));
    assert.ok(l4.proxyAddress instanceof IPv4ProxyAddress);
    assert.deepEqual([l4.proxyAddress.sourceAddress.address, l4.proxyAddress.sourcePort, l4.proxyAddress.destinationPort], [[192, 0, 2, 1], 40000, 443]);
    const l6 = V2ProxyProtocol.parse(buildProxyV2(A6));
    assert.ok(l6.proxyAddress instanceof IPv6ProxyAddress);
    assert.deepEqual(Buffer.from(l6.proxyAddress.destinationAddress.address), Buffer.from('20010db8000000010000000000000001', 'hex'));
    assert.equal(l6.proxyAddress.destinationPort, 65535);
  });

  // Why its parsers are not used (docs/proxy-protocol.md). If one of these starts failing after
  // an upgrade, the package got stricter: re-evaluate the decision there.
  it('still accepts headers the spec says to reject', () => {
    const accepts = (f: () => unknown): boolean => { try { f(); return true; } catch { return false; } };
    assert.ok(accepts(() => V1BinaryProxyProtocol.parse(latin1('PROXY TCP4 256.1.1.1 hello 65536 080\r\n'))));
    assert.ok(!accepts(() => V1BinaryProxyProtocol.parse(latin1('PROXY UNKNOWN\r\n'))), 'and rejects a valid one');
    const truncated = v2(0x21, 0x11, ADDR4.slice(0, 5), 12);
    const lib = V2ProxyProtocol.parse(truncated);
    assert.ok(lib.proxyAddress instanceof IPv4ProxyAddress && Number.isNaN(lib.proxyAddress.sourcePort), 'truncated v2 read as NaN ports');
    assert.ok(accepts(() => V2ProxyProtocol.parse(withCrc(v2(0x21, 0x11, [...ADDR4, 0x03, 0, 4, 0, 0, 0, 0]), true))), 'bad CRC32C accepted');
  });
});
