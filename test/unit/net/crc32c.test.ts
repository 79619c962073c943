// CRC-32C against published check values (RFC 3720 §B.4, the CRC catalogue's "123456789").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CRC32C_INIT, crc32c, crc32cFinal, crc32cUpdate, crc32cZeros } from '../../../src/net/crc32c.ts';

describe('crc32c', () => {
  it('matches the standard check value', () => {
    assert.equal(crc32c(Buffer.from('123456789', 'latin1')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
  });

  it('matches the RFC 3720 B.4 vectors', () => {
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  });

  it('gives the same result piecewise, and crc32cZeros equals feeding zeros', () => {
    const data = Buffer.from('the quick brown fox jumps over the lazy dog', 'latin1');
    let s = crc32cUpdate(CRC32C_INIT, data, 0, 10);
    s = crc32cUpdate(s, data, 10, data.length);
    assert.equal(crc32cFinal(s), crc32c(data));
    const withZeros = Buffer.concat([data, Buffer.alloc(4), data]);
    let z = crc32cUpdate(CRC32C_INIT, data);
    z = crc32cZeros(z, 4);
    z = crc32cUpdate(z, data);
    assert.equal(crc32cFinal(z), crc32c(withZeros));
  });
});
