// murmur3 against the reference implementation's vectors, the weighted slot fill, and the
// table walk that passes over servers at maxConnections.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillWeighted, HashTable, murmur3 } from '../../../src/scheduler/hash.ts';
import { makeServers } from './fake-server.ts';

test('murmur3 matches MurmurHash3_x86_32 reference vectors', () => {
  // The vectors most murmur3 ports test against (e.g. the mmh3 Python package's test suite).
  const vectors: [string, number, number][] = [
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['aaa', 0x9747b28c, 0x283e0130],
    ['aa', 0x9747b28c, 0x5d211726],
    ['a', 0x9747b28c, 0x7fa09ea6],
    ['abcd', 0x9747b28c, 0xf0478627],
    ['abc', 0x9747b28c, 0xc84a62dd],
    ['ab', 0x9747b28c, 0x74875592],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['π'.repeat(8), 0x9747b28c, 0xd58063c1], // U+03C0: 2-byte UTF-8
    ['a'.repeat(256), 0x9747b28c, 0x37405bdc],
    ['abc', 0, 0xb3dd93fa],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', 0, 0xee925b90],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
  ];
  for (const [key, seed, want] of vectors) {
    assert.equal(murmur3(key, seed), want, `murmur3(${JSON.stringify(key)}, 0x${seed.toString(16)})`);
  }
});

/** Straightforward byte-array murmur3, to check the streaming UTF-8 encoder in murmur3(). */
function murmur3Bytes(bytes: Uint8Array, seed: number): number {
  let h = seed | 0;
  const blocks = bytes.length >> 2;
  const mix = (k: number): number => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    return Math.imul(k, 0x1b873593);
  };
  for (let i = 0; i < blocks; i++) {
    const k = bytes[i * 4]! | (bytes[i * 4 + 1]! << 8) | (bytes[i * 4 + 2]! << 16) | (bytes[i * 4 + 3]! << 24);
    h ^= mix(k);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks * 4;
  if (bytes.length > tail) {
    let k = 0;
    for (let i = bytes.length - 1; i >= tail; i--) k = (k << 8) | bytes[i]!;
    h ^= mix(k);
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test('murmur3 hashes the UTF-8 bytes of any string (2-, 3-, 4-byte and lone surrogates)', () => {
  const keys = ['10.0.0.1', '[2001:db8::1]:443', 'é', 'ü-ß', '€uro', '日本語のホスト', '😀', 'a😀bc', '\ud800', 'x\udc00y', '\ud83d'];
  for (const key of keys) {
    for (const seed of [0, 1, 0x9747b28c]) {
      assert.equal(murmur3(key, seed), murmur3Bytes(new TextEncoder().encode(key), seed), JSON.stringify(key));
    }
  }
});

test('fillWeighted interleaves equal weights and keeps proportions', () => {
  const out = new Uint32Array(8);
  fillWeighted([1, 1, 1, 1], out);
  assert.deepEqual([...out], [0, 1, 2, 3, 0, 1, 2, 3]);
  fillWeighted([2, 1, 1], out);
  assert.deepEqual([...out], [0, 0, 1, 2, 0, 0, 1, 2]);
  const big = new Uint32Array(10_000);
  fillWeighted([3, 1, 0.5], big);
  const counts = [0, 0, 0];
  for (const p of big) counts[p]!++;
  // 3 : 1 : 0.5 of 10 000 = 6667 : 2222 : 1111, each ±1.
  assert.ok(Math.abs(counts[0]! - 6667) <= 1 && Math.abs(counts[1]! - 2222) <= 1 && Math.abs(counts[2]! - 1111) <= 1, String(counts));
});

test('fillWeighted treats non-positive weights as 0, and all non-positive as equal', () => {
  const out = new Uint32Array(6);
  fillWeighted([0, 2, -1], out);
  assert.deepEqual([...out], [1, 1, 1, 1, 1, 1]);
  fillWeighted([0, 0], out);
  assert.deepEqual([...out], [0, 1, 0, 1, 0, 1]);
});

test('HashTable.lookup falls back to one fixed server with capacity, asking each server at most once', () => {
  const servers = makeServers(3);
  let calls = 0;
  for (const s of servers) {
    const has = s.hasCapacity.bind(s);
    s.hasCapacity = () => (calls++, has());
  }
  const table = new HashTable<(typeof servers)[number]>();
  table.build(servers, Uint32Array.from([0, 0, 1, 1, 2, 2, 0, 1]));
  assert.equal(table.lookup(2), servers[1]);
  assert.equal(table.lookup(8 + 2), servers[1], 'hash modulo size');
  servers[1]!.capacity = false;
  const fallback = table.lookup(2);
  assert.ok(fallback === servers[0] || fallback === servers[2]);
  for (let i = 0; i < 10; i++) assert.equal(table.lookup(2), fallback, 'the same key falls back the same way');
  fallback!.capacity = false;
  assert.equal(table.lookup(2), servers.find((s) => s !== fallback && s !== servers[1]));
  for (const s of servers) s.capacity = false;
  calls = 0;
  assert.equal(table.lookup(2), null);
  assert.equal(calls, 3);
  assert.equal(new HashTable().lookup(5), null, 'empty table');
});

test('HashTable.lookup spreads the keys of a full server over the others by weight', () => {
  const servers = makeServers([1, 1, 1, 3]);
  const table = new HashTable<(typeof servers)[number]>();
  const slots = new Uint32Array(256);
  fillWeighted([1, 1, 1, 1], slots);
  table.build(servers, slots);
  servers[1]!.capacity = false;
  const counts = [0, 0, 0, 0];
  let displaced = 0;
  for (let key = 0; key < 20_000; key++) {
    const hash = murmur3(`key-${key}`);
    if (slots[hash % 256] !== 1) continue;
    displaced++;
    counts[table.lookup(hash)!.index]!++;
  }
  // Weights 1 : 1 : 3 among the others → 20% : 20% : 60% of the displaced keys, ± 3%.
  assert.equal(counts[1], 0);
  const shares = counts.map((c) => c / displaced);
  for (const [i, want] of [[0, 0.2], [2, 0.2], [3, 0.6]] as const) {
    assert.ok(Math.abs(shares[i]! - want) <= 0.03, `server ${i}: ${shares[i]} (${counts})`);
  }
});
