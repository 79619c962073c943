// The fd budget's start-up line: a warning when a listener's maxConnections was chosen and cannot be
// honoured under ulimit -n; at info with the defaults (the ordinary case on a small ulimit).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FdBudget } from '../../../src/listener/fd-budget.ts';
import { loadConfigObject } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log.ts';
import { LogCapture, ROOT } from '../../helpers/fullproxy.ts';

function configWith(maxConnections?: number) {
  const r = loadConfigObject(
    {
      listeners: [{ name: 'a', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p', ...(maxConnections === undefined ? {} : { limits: { maxConnections } }) }],
      pools: [{ name: 'p', servers: [{ address: '127.0.0.1:9' }] }],
    },
    ROOT,
  );
  assert.ok(r.ok);
  return r.config;
}

for (const [what, max, level] of [
  ['defaults', undefined, 30],
  ['a chosen limit', 5_000, 40],
] as const) {
  test(`ulimit -n 256 below the listeners' limits, with ${what}: one line at ${level === 40 ? 'warn' : 'info'}, and not again for the same figures`, () => {
    const logs = new LogCapture();
    const budget = new FdBudget(createLogger({ level: 'info' }, logs), 256);
    const config = configWith(max);
    budget.configure(config);
    budget.configure(config);
    const lines = logs.lines.filter((l) => String(l['msg']).startsWith('the file descriptor limit'));
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!['level'], level);
    assert.equal(budget.max, Math.floor((256 - 64) / 2));
  });
}
