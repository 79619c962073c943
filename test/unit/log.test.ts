// src/log.ts: logs are JSON lines written asynchronously, and the lines still buffered when the
// process exits are written anyway (its comment says so; this proves it, and that a test like this
// one notices the loss: the same burst through a SonicBoom without pino's exit hook loses lines).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { NODE, ROOT } from '../helpers/fullproxy.ts';

const LINES = 20_000;

/** Runs `script` in a child, reads its stdout slowly enough that the pipe fills, returns the lines. */
function linesOf(script: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(NODE, ['--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('child did not exit'));
    }, 60_000);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8').split('\n').filter((l) => l !== ''));
    });
  });
}

test('every line of a burst logged just before process.exit() arrives whole', async () => {
  const lines = await linesOf(`
    import { createLogger } from ${JSON.stringify(join(ROOT, 'src/log.ts'))};
    const log = createLogger({ level: 'info' });
    for (let i = 0; i < ${LINES}; i++) log.info({ i, pad: 'x'.repeat(60) }, 'line');
    process.exit(0);
  `);
  assert.equal(lines.length, LINES);
  lines.forEach((l, i) => assert.equal((JSON.parse(l) as { i: number }).i, i));
});

test('control: the same burst through a SonicBoom without the exit hook loses lines', async () => {
  const lines = await linesOf(`
    import SonicBoom from 'sonic-boom';
    const out = new SonicBoom({ fd: 1, sync: false });
    for (let i = 0; i < ${LINES}; i++) out.write(JSON.stringify({ i, pad: 'x'.repeat(60) }) + '\\n');
    process.exit(0);
  `);
  assert.ok(lines.length < LINES, `lost none of ${LINES}: this test could not tell a missing flush`);
});
