// Byte-level mutations shared by the fuzz targets: a valid input plus a few edits from fast-check
// (so failures shrink to the fewest, smallest edits), and the split points a stream arrives in.
import fc from 'fast-check';

/** One edit; `at` is a position scaled onto the input's length when applied. */
export type Edit =
  | { kind: 'flip'; at: number; byte: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; bytes: Buffer }
  | { kind: 'dup'; at: number; len: number }
  | { kind: 'truncate'; at: number };

/** An edit; `tokens` are inserted as often as random bytes (the parser's own separators and keywords). */
export function edit(tokens: readonly string[]): fc.Arbitrary<Edit> {
  const at = fc.integer({ min: 0, max: 0xffff });
  const interesting = fc.constantFrom(...tokens).map((s) => Buffer.from(s, 'latin1'));
  return fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at, byte: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x0a, 0x0d, 0x20, 0x09, 0x3a, 0x7f, 0x80, 0xff)) }),
    fc.record({ kind: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.oneof(interesting, interesting, fc.uint8Array({ minLength: 1, maxLength: 6 }).map((a) => Buffer.from(a))) }),
    fc.record({ kind: fc.constant('dup' as const), at, len: fc.integer({ min: 1, max: 32 }) }),
    fc.record({ kind: fc.constant('truncate' as const), at }),
  );
}

export function applyEdits(input: Buffer, edits: readonly Edit[]): Buffer {
  let b = input;
  for (const e of edits) {
    const at = b.length === 0 ? 0 : e.at % (b.length + 1);
    switch (e.kind) {
      case 'flip':
        if (at < b.length) {
          b = Buffer.from(b);
          b[at] = e.byte;
        }
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + e.len)]);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), e.bytes, b.subarray(at)]);
        break;
      case 'dup':
        b = Buffer.concat([b.subarray(0, at + e.len), b.subarray(at)]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      default: {
        const never: never = e;
        throw new Error(`unknown edit ${JSON.stringify(never)}`);
      }
    }
  }
  return b;
}

/** Split points (sorted, distinct, inside 1..length-1) from fractions, so they follow the input. */
export const splits = fc.array(fc.integer({ min: 1, max: 0xffff }), { maxLength: 6 });

export function pieces(b: Buffer, cuts: readonly number[]): Buffer[] {
  if (b.length < 2) return [b];
  const at = [...new Set(cuts.map((c) => 1 + (c % (b.length - 1))))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let from = 0;
  for (const c of at) {
    out.push(b.subarray(from, c));
    from = c;
  }
  out.push(b.subarray(from));
  return out;
}
