// Bounded, seeded fuzzing of the PROXY header parser and builders. Failures print the seed and
// the case number: rerun with FUZZ_SEED=<seed> to get the same inputs in the same order.
// Budget: FUZZ_INPUTS inputs (default 300000) or FUZZ_MS milliseconds (default 20000) per test,
// whichever comes first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SocketAddress, isIP } from 'node:net';
import {
  PROXY_HEADER_MAX_BYTES,
  PROXY_V1_MAX_BYTES,
  buildProxyV1,
  buildProxyV2,
  parseProxyHeader,
} from '../../../src/net/proxy-protocol.ts';
import type { ParseResult, ProxyAddresses } from '../../../src/net/proxy-protocol.ts';
import { crc32c } from '../../../src/net/crc32c.ts';
import { Rng } from '../../helpers/rng.ts';

const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed1e55) >>> 0;
const MAX_INPUTS = Number(process.env['FUZZ_INPUTS'] ?? 300_000);
const MAX_MS = Number(process.env['FUZZ_MS'] ?? 20_000);

function hex(b: Buffer): string {
  return b.toString('hex');
}

// ---- random addresses --------------------------------------------------------------------

type Kind = 'v4' | 'v6' | 'mapped';

/** 16 bytes whose groups are often zero, so that "::" runs of every length show up. */
function v6Bytes(rng: Rng): Buffer {
  const b = rng.bytes(16);
  const zeroP = rng.pick([0, 0.3, 0.6, 0.9]);
  for (let g = 0; g < 8; g++) if (rng.chance(zeroP)) b.writeUInt16BE(0, 2 * g);
  if (rng.chance(0.1)) b.fill(0, 0, 12); // ::a.b.c.d (IPv4-compatible)
  return b;
}

/** A random way to write an address that any of our callers might pass. */
function addressText(rng: Rng, kind: Kind): { text: string; v4: string | null; bytes16: Buffer } {
  if (kind === 'v4' || kind === 'mapped') {
    const q = rng.bytes(4);
    const v4 = `${q[0]}.${q[1]}.${q[2]}.${q[3]}`;
    const bytes16 = Buffer.concat([Buffer.alloc(10), Buffer.from([0xff, 0xff]), q]);
    if (kind === 'v4') return { text: v4, v4, bytes16 };
    const text = rng.pick([
      `::ffff:${v4}`,
      `::FFFF:${v4}`,
      `::ffff:${q.readUInt16BE(0).toString(16)}:${q.readUInt16BE(2).toString(16)}`,
      `0:0:0:0:0:ffff:${v4}`,
      `0000:0000:0000:0000:0000:FFFF:${q.readUInt16BE(0).toString(16).padStart(4, '0')}:${q.readUInt16BE(2).toString(16)}`,
    ]);
    return { text, v4, bytes16 };
  }
  const b = v6Bytes(rng);
  const groups = Array.from({ length: 8 }, (_, g) => b.readUInt16BE(2 * g).toString(16));
  const full = groups.join(':');
  const style = rng.int(4);
  const text =
    style === 0 ? new SocketAddress({ address: full, family: 'ipv6' }).address
      : style === 1 ? full.toUpperCase()
        : style === 2 ? groups.map((g) => g.padStart(4, '0')).join(':')
          : full;
  return { text, v4: null, bytes16: b };
}

function port(rng: Rng): number {
  return rng.chance(0.2) ? rng.pick([0, 1, 9, 10, 99, 100, 65534, 65535]) : rng.int(65536);
}

/** The addresses we expect to read back, computed with Node's own formatter as the oracle. */
function expected(src: ReturnType<typeof addressText>, dst: ReturnType<typeof addressText>, sp: number, dp: number): ProxyAddresses {
  if (src.v4 !== null && dst.v4 !== null) {
    return { family: 'tcp4', sourceAddress: src.v4, sourcePort: sp, destinationAddress: dst.v4, destinationPort: dp };
  }
  const v6 = (a: typeof src): string => {
    const words = Array.from({ length: 8 }, (_, g) => a.bytes16.readUInt16BE(2 * g).toString(16)).join(':');
    return new SocketAddress({ address: words, family: 'ipv6' }).address;
  };
  return { family: 'tcp6', sourceAddress: v6(src), sourcePort: sp, destinationAddress: v6(dst), destinationPort: dp };
}

function randomAddresses(rng: Rng): ProxyAddresses {
  const kinds: Kind[] = ['v4', 'v6', 'mapped'];
  const s = addressText(rng, rng.pick(kinds));
  const d = addressText(rng, rng.pick(kinds));
  return { family: s.v4 !== null && d.v4 !== null ? 'tcp4' : 'tcp6', sourceAddress: s.text, sourcePort: port(rng), destinationAddress: d.text, destinationPort: port(rng) };
}

// ---- inputs for the parser ---------------------------------------------------------------

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const TOKENS = [' ', '  ', '\r', '\n', '\r\n', '0', '00', '9', '65535', '65536', '99999', '-', '+', '.', ':', '::', 'f', 'FFFF', '255', '256', '1.2.3.4', '::ffff:', 'TCP4', 'TCP6', 'UNKNOWN', 'PROXY', '\t', '%', '\0', '\xff'];
const INTERESTING = [0x00, 0x01, 0x0a, 0x0d, 0x20, 0x21, 0x11, 0x12, 0x22, 0x30, 0x31, 0x39, 0x3a, 0x2e, 0x50, 0x7f, 0x80, 0xff, 0x03, 0x02, 0x04];

function validHeader(rng: Rng): Buffer {
  switch (rng.int(9)) {
    case 0: return buildProxyV1(null);
    case 1: return Buffer.from(`PROXY UNKNOWN ${randomAddresses(rng).sourceAddress} x 1 2\r\n`, 'latin1');
    case 2: case 3: return buildProxyV1(randomAddresses(rng));
    case 4: return buildProxyV2(null, rng.chance(0.5) ? { crc32c: true } : {});
    case 5: {
      // TLVs of every kind, crc last or not at all
      const body: number[] = [];
      for (let n = rng.int(4); n > 0; n--) {
        const v = rng.bytes(rng.int(20));
        body.push(rng.pick([0x01, 0x02, 0x04, 0x05, 0x20, 0x30, 0xe0, 0xf8]), v.length >> 8, v.length & 0xff, ...v);
      }
      const h = buildProxyV2(randomAddresses(rng));
      const out = Buffer.concat([h, Buffer.from(body), rng.chance(0.5) ? Buffer.from([0x03, 0, 4, 0, 0, 0, 0]) : Buffer.alloc(0)]);
      out.writeUInt16BE(out.length - 16, 14);
      if (out[out.length - 7] === 0x03 && out.readUInt32BE(out.length - 4) === 0) out.writeUInt32BE(crc32c(out), out.length - 4);
      return out;
    }
    default: {
      const a = randomAddresses(rng);
      return buildProxyV2(a, { crc32c: rng.chance(0.5), authority: rng.chance(0.5) ? 'h' + rng.int(1e6) + '.example' : undefined });
    }
  }
}

function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let m = 1 + rng.int(3); m > 0; m--) {
    const at = b.length === 0 ? 0 : rng.int(b.length);
    switch (rng.int(8)) {
      case 0: if (b.length > 0) b[at]! ^= 1 << rng.int(8); break; // bit flip
      case 1: if (b.length > 0) b[at] = rng.pick(INTERESTING); break;
      case 2: b = b.subarray(0, rng.int(b.length + 1)); break; // truncation
      case 3: b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256)]), b.subarray(at)]); break; // insertion
      case 4: b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]); break; // deletion
      case 5: b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(TOKENS), 'latin1'), b.subarray(at + rng.int(3))]); break; // token splice
      case 6: // v2 length field: small change, random, or the far extremes
        if (b.length >= 16 && b[0] === 0x0d) {
          const len = b.readUInt16BE(14);
          b.writeUInt16BE(rng.pick([len + 1, len - 1, len + 3, len - 3, rng.int(65536), 0, 0xffff, 2048, 2049]) & 0xffff, 14);
        } else if (b.length > 0) b[at] = rng.int(256);
        break;
      default: b = Buffer.concat([b, rng.bytes(rng.int(8))]); // trailing payload
    }
  }
  return b;
}

function randomInput(rng: Rng): Buffer {
  const r = rng.int(10);
  if (r < 2) {
    // random bytes, often starting like a header so that the parser gets past the first byte
    const b = rng.bytes(rng.int(rng.chance(0.1) ? PROXY_HEADER_MAX_BYTES + 50 : 120));
    if (b.length > 0 && rng.chance(0.7)) {
      const lead = rng.chance(0.5) ? Buffer.from('PROXY ', 'latin1') : Buffer.concat([SIG, Buffer.from([0x21])]);
      lead.copy(b, 0, 0, Math.min(lead.length, b.length, 1 + rng.int(lead.length)));
    }
    return b;
  }
  const valid = validHeader(rng);
  return r < 3 ? Buffer.concat([valid, rng.bytes(rng.int(20))]) : mutate(rng, valid);
}

// ---- invariants --------------------------------------------------------------------------

function checkAddresses(a: ProxyAddresses): void {
  for (const p of [a.sourcePort, a.destinationPort]) assert.ok(Number.isInteger(p) && p >= 0 && p <= 65535, `port ${p}`);
  for (const s of [a.sourceAddress, a.destinationAddress]) {
    if (a.family === 'tcp4') assert.equal(isIP(s), 4, s);
    else {
      assert.equal(isIP(s), 6, s);
      assert.equal(s, new SocketAddress({ address: s, family: 'ipv6' }).address, 'canonical like Node');
    }
  }
  assert.ok(a.family === 'tcp6' || !a.sourceAddress.includes(':'));
}

function parseSafely(buf: Buffer): ParseResult {
  try {
    return parseProxyHeader(buf);
  } catch (err) {
    assert.fail(`parseProxyHeader threw on ${hex(buf)}: ${String(err)}`);
  }
}

const seen = { incomplete: 0, error: 0, ok: 0, proxy: 0 };

function checkOne(rng: Rng, buf: Buffer): void {
  const r = parseSafely(buf);
  seen[r.kind]++;
  if (r.kind === 'ok' && r.header.command === 'proxy') seen.proxy++;
  switch (r.kind) {
    case 'incomplete': {
      assert.ok(buf.length < PROXY_HEADER_MAX_BYTES, 'waits within PROXY_HEADER_MAX_BYTES');
      if (buf[0] === 0x50) assert.ok(buf.length < PROXY_V1_MAX_BYTES, 'v1 waits within 107 bytes');
      if (buf.length > 0) assert.equal(parseSafely(buf.subarray(0, rng.int(buf.length))).kind, 'incomplete', 'prefix of incomplete');
      break;
    }
    case 'error': {
      assert.ok(typeof r.reason === 'string' && r.reason.length > 0);
      assert.equal(parseSafely(Buffer.concat([buf, rng.bytes(1 + rng.int(8))])).kind, 'error', 'errors are final');
      break;
    }
    case 'ok': {
      const { header, consumed } = r;
      assert.ok(consumed > 0 && consumed <= buf.length && consumed <= PROXY_HEADER_MAX_BYTES, `consumed ${consumed}`);
      assert.ok(header.version === 1 || header.version === 2);
      assert.deepEqual(parseSafely(buf.subarray(0, consumed)), r, 'decided by the header bytes alone');
      assert.equal(parseSafely(buf.subarray(0, rng.int(consumed))).kind, 'incomplete', 'prefix of ok');
      if (header.command === 'proxy') {
        checkAddresses(header.addresses);
        for (const rebuilt of [buildProxyV1(header.addresses), buildProxyV2(header.addresses, { crc32c: true })]) {
          const again = parseSafely(rebuilt);
          assert.equal(again.kind, 'ok');
          if (again.kind === 'ok') {
            assert.deepEqual(again.header.addresses, header.addresses, 're-built header parses to the same addresses');
            assert.equal(again.consumed, rebuilt.length);
          }
        }
      } else {
        assert.equal(header.addresses, null);
      }
      break;
    }
    default:
      assert.fail(`unexpected result ${JSON.stringify(r)}`);
  }
}

/** Runs `body(rng, i)` until the input or time budget is used; reports seed and case on failure. */
function run(name: string, seed: number, body: (rng: Rng, i: number) => void): number {
  const rng = new Rng(seed);
  const deadline = performance.now() + MAX_MS;
  let i = 0;
  for (; i < MAX_INPUTS; i++) {
    if ((i & 1023) === 0 && performance.now() > deadline) break;
    try {
      body(rng, i);
    } catch (err) {
      const e = err as Error;
      e.message = `[${name}] FUZZ_SEED=${seed} case ${i}: ${e.message}`;
      throw e;
    }
  }
  return i;
}

describe('proxy-protocol fuzz', () => {
  it('parser: never throws, stays in bounds, ok headers survive a rebuild', (t) => {
    const n = run('parser', SEED, (rng) => {
      const buf = randomInput(rng);
      try {
        checkOne(rng, buf);
      } catch (err) {
        (err as Error).message += `\n  input: ${hex(buf)}`;
        throw err;
      }
    });
    assert.ok(n >= Math.min(MAX_INPUTS, 1000), `ran ${n} inputs`);
    // The generator must keep reaching every outcome, or the run proves little.
    const share = (k: number): number => k / n;
    assert.ok(share(seen.error) > 0.2 && share(seen.ok) > 0.05 && share(seen.proxy) > 0.03 && share(seen.incomplete) > 0.02,
      `outcome mix of ${n} inputs: ${JSON.stringify(seen)}`);
    t.diagnostic(`seed ${SEED}: ${n} inputs, outcomes ${JSON.stringify(seen)}`);
  });

  it('builders: random valid addresses and ports parse back, v1 and v2', (t) => {
    const n = run('builders', SEED ^ 0xb1d, (rng) => {
      const kinds: Kind[] = ['v4', 'v6', 'mapped'];
      const s = addressText(rng, rng.pick(kinds));
      const d = addressText(rng, rng.pick(kinds));
      const sp = port(rng);
      const dp = port(rng);
      const input: ProxyAddresses = { family: rng.chance(0.5) ? 'tcp4' : 'tcp6', sourceAddress: s.text, sourcePort: sp, destinationAddress: d.text, destinationPort: dp };
      const want = expected(s, d, sp, dp);
      const v1 = buildProxyV1(input);
      const v2 = buildProxyV2(input, { crc32c: rng.chance(0.5), authority: rng.chance(0.3) ? 'x'.repeat(rng.int(300)) : undefined });
      for (const wire of [v1, v2]) {
        const r = parseProxyHeader(Buffer.concat([wire, rng.bytes(rng.int(4))]));
        assert.equal(r.kind, 'ok', `${JSON.stringify(input)} → ${hex(wire)}: ${JSON.stringify(r)}`);
        if (r.kind !== 'ok') return;
        assert.equal(r.consumed, wire.length);
        assert.deepEqual(r.header.addresses, want, `${JSON.stringify(input)} → ${wire === v1 ? v1.toString('latin1') : hex(wire)}`);
      }
      assert.ok(v1.length <= PROXY_V1_MAX_BYTES);
    });
    t.diagnostic(`seed ${SEED ^ 0xb1d}: ${n} address pairs`);
  });

  it('v1 address fields: accepted exactly when Node calls them IPv4 / IPv6', (t) => {
    const V6_ALPHABET = '0123456789abcdefABCDEF:::::..';
    let accepted = 0;
    const n = run('v1-addresses', SEED ^ 0xadd, (rng) => {
      let text: string;
      if (rng.chance(0.5)) {
        // a valid address, lightly damaged
        const a = addressText(rng, rng.pick(['v4', 'v6', 'mapped'] as const)).text;
        const at = rng.int(a.length + 1);
        text = rng.chance(0.3) ? a : a.slice(0, at) + (rng.chance(0.5) ? rng.pick([...V6_ALPHABET]) : '') + a.slice(at + rng.int(2));
      } else {
        text = Array.from({ length: 1 + rng.int(24) }, () => rng.pick([...V6_ALPHABET])).join('');
      }
      if (text === '' || text.includes(' ')) return;
      const isV6 = text.includes(':');
      const line = Buffer.from(`PROXY ${isV6 ? 'TCP6' : 'TCP4'} ${text} ${isV6 ? '::1' : '127.0.0.1'} 1 2\r\n`, 'latin1');
      const r = parseProxyHeader(line);
      const nodeSays = isIP(text) === (isV6 ? 6 : 4) && line.length <= PROXY_V1_MAX_BYTES;
      assert.equal(r.kind === 'ok', nodeSays, `"${text}": ${JSON.stringify(r)}`);
      if (r.kind === 'ok') accepted++;
      if (r.kind === 'ok' && r.header.addresses !== null && r.header.addresses.family === 'tcp6') {
        assert.equal(r.header.addresses.sourceAddress, new SocketAddress({ address: text, family: 'ipv6' }).address);
      }
    });
    t.diagnostic(`seed ${SEED ^ 0xadd}: ${n} address texts, ${accepted} valid`);
  });
});
