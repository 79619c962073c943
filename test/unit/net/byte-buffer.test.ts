// ByteBuffer: pieces appended in order read back as one; views handed out earlier never change
// when more is appended (the proxy may still be writing them); consume drops from the front.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteBuffer } from '../../../src/net/byte-buffer.ts';

test('the first piece is kept as is (no copy); later pieces join it', () => {
  const b = new ByteBuffer();
  const first = Buffer.from('GET / HT');
  assert.equal(b.append(first), first);
  assert.equal(b.append(Buffer.from('TP/1.1\r\n')).toString(), 'GET / HTTP/1.1\r\n');
  assert.equal(b.length, 16);
});

test('a head trickled one byte at a time reads back exactly, and earlier views stay intact', () => {
  const b = new ByteBuffer();
  const text = 'GET /x HTTP/1.1\r\nHost: a\r\n' + 'X-Pad: ' + 'p'.repeat(5000) + '\r\n\r\n';
  const views: Array<[Buffer, string]> = [];
  for (let i = 0; i < text.length; i++) {
    const v = b.append(Buffer.from(text[i]!, 'latin1'));
    if (i % 997 === 0) views.push([v, text.slice(0, i + 1)]);
  }
  assert.equal(b.bytes!.toString('latin1'), text);
  for (const [v, expected] of views) assert.equal(v.toString('latin1'), expected);
});

test('consume drops from the front; appending after it keeps the rest; consuming all empties it', () => {
  const b = new ByteBuffer();
  b.append(Buffer.from('abc'));
  b.append(Buffer.from('def'));
  const before = b.bytes!;
  b.consume(2);
  assert.equal(b.bytes!.toString(), 'cdef');
  b.append(Buffer.from('gh'));
  assert.equal(b.bytes!.toString(), 'cdefgh');
  assert.equal(before.toString(), 'abcdef', 'a view taken before consume is unchanged');
  b.consume(6);
  assert.equal(b.bytes, null);
  assert.equal(b.length, 0);
  const fresh = Buffer.from('z');
  assert.equal(b.append(fresh), fresh);
});

test('clear forgets everything', () => {
  const b = new ByteBuffer();
  b.append(Buffer.from('a'));
  b.append(Buffer.from('b'));
  b.clear();
  assert.equal(b.bytes, null);
  assert.equal(b.append(Buffer.from('c')).toString(), 'c');
});
