// duration.ts: the one grammar for durations in the config ("250ms", "5s", "2m", "1h", integer ms).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from '../../../src/config/duration.ts';

describe('parseDuration', () => {
  const good: [unknown, number][] = [
    ['250ms', 250],
    ['5s', 5_000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0s', 0],
    ['1.5s', 1_500],
    ['0.5ms', 1], // rounded to whole milliseconds
    [1500, 1500],
    [0, 0],
  ];
  for (const [input, ms] of good) {
    it(`${JSON.stringify(input)} → ${ms}`, () => assert.equal(parseDuration(input), ms));
  }

  const bad: unknown[] = ['5', '-1s', '1d', 1.5, true, false, null, undefined, '', ' 5s', '5s ', '5 s', '5S', 's', '.5s', '1e3ms', -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, [5], { ms: 5 }];
  for (const input of bad) {
    it(`rejects ${typeof input === 'number' ? String(input) : JSON.stringify(input) ?? String(input)}`, () => assert.equal(parseDuration(input), null));
  }

  it('rejects a string whose value overflows a safe integer', () => {
    assert.equal(parseDuration(`${'9'.repeat(20)}h`), null);
  });
});
