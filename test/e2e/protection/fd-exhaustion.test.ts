// Out of file descriptors (issue 17 Proof "fd exhaustion"): the proxy runs as a child under
// `prlimit --nofile=256`; 400 idle connections arrive. No crash; acceptErrors rises with one log
// line per burst; the CPU does not spin while connections are refused; the admin API answers
// meanwhile (the reserve); a normal connection is served within 2 s once the flood has closed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Socket } from 'node:net';
import { tcpBackend } from '../../helpers/backends.ts';
import { NODE, ROOT } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';

const NOFILE = 256;
const FLOOD = 400;

/** CPU seconds (user + system) the process has used, from /proc (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function echoOnce(port: number, text: string): Promise<string> {
  const s = await dial(port);
  try {
    s.write(text);
    return await new Promise<string>((resolve, reject) => {
      s.once('data', (d: Buffer) => resolve(d.toString()));
      s.once('error', reject);
    });
  } finally {
    s.destroy();
  }
}

/** Opens `n` connections (50 at a time); resolves with the ones still open once all are settled. */
async function flood(port: number, n: number, ended: { count: number }): Promise<Socket[]> {
  const open: Socket[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, () =>
        dial(port).then(
          (s) => s,
          () => null, // reset before the client's connect completed
        ),
      ),
    );
    for (const s of batch) {
      if (s === null) {
        ended.count++;
        continue;
      }
      open.push(s);
      void outcome(s).then(() => ended.count++);
    }
  }
  return open;
}

test(`under prlimit --nofile=${NOFILE}, ${FLOOD} idle connections: no crash, acceptErrors counted and logged once per burst, no spin, served again after`, { skip: process.platform !== 'linux' && 'needs /proc and prlimit' }, async (t) => {
  const backend = await tcpBackend((s) => s.on('data', (d) => s.write(d)));
  t.after(() => backend.close()); // also when the proxy fails to start
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-fd-'));
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      logging: { level: 'info', access: false },
      admin: { listen: '127.0.0.1:0' },
      listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
      pools: [{ name: 'p', servers: [{ address: backend.address }] }],
    }),
  );
  const child = spawn('prlimit', [`--nofile=${NOFILE}:${NOFILE}`, NODE, join(ROOT, 'src/main.ts'), '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: Record<string, unknown>[] = [];
  const ports = new Map<string, number>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      const obj = JSON.parse(line) as Record<string, unknown>;
      lines.push(obj);
      if (obj['msg'] === 'listening' || obj['msg'] === 'admin listening') ports.set(obj['msg'] === 'listening' ? String(obj['listener']) : '#admin', Number(String(obj['address']).split(':').pop()));
    } catch {
      /* not a log line */
    }
  });
  let exitCode: number | null = null;
  const exited = new Promise<void>((r) => child.once('exit', (code) => ((exitCode = code ?? -1), r())));
  const held: Socket[] = [];
  try {
    await waitFor(() => ports.size === 2 || exitCode !== null, 10_000, 'the proxy to listen');
    assert.equal(exitCode, null, stderr);
    const port = ports.get('t')!;
    const admin = ports.get('#admin')!;
    const stats = async (): Promise<{ process: { acceptErrors: number; sessionsActive: number } }> => (await fetch(`http://127.0.0.1:${admin}/api/v1/stats`)).json() as Promise<{ process: { acceptErrors: number; sessionsActive: number } }>;
    const outOfFds = (): number => lines.filter((l) => String(l['msg']).startsWith('out of file descriptors')).length;

    const ended = { count: 0 };
    held.push(...(await flood(port, FLOOD, ended)));
    // Settled: every connection either served (an idle session) or refused.
    await waitFor(() => ended.count + backend.accepted >= FLOOD, 10_000, 'every connection served or refused');
    const during = await stats();
    assert.ok(during.process.acceptErrors > 0, `acceptErrors counted: ${JSON.stringify(during.process)}`);
    assert.equal(during.process.acceptErrors, ended.count, 'each refused connection counted once');
    assert.ok(during.process.sessionsActive > 0 && during.process.sessionsActive < FLOOD, `some served, some refused: ${during.process.sessionsActive}`);
    assert.equal(outOfFds(), 1, 'one log line for the burst');
    t.diagnostic(`flood of ${FLOOD}: ${during.process.sessionsActive} sessions served, ${during.process.acceptErrors} refused (acceptErrors)`);
    // The admin API answered (stats above): the reserve holds descriptors for it.

    // While the flood is held and new connections keep coming (10 a second, each refused), the
    // process does not spin: what it costs is per attempt, nothing while nothing happens.
    const cpu0 = cpuSeconds(child.pid!);
    const t0 = Date.now();
    const refused = { count: 0 };
    let attempts = 0;
    while (Date.now() - t0 < 2_000) {
      held.push(...(await flood(port, 1, refused)));
      attempts++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const share = (cpuSeconds(child.pid!) - cpu0) / ((Date.now() - t0) / 1000);
    await waitFor(() => refused.count === attempts, 2_000, 'the attempts refused');
    t.diagnostic(`CPU while holding the flood and refusing ${attempts} attempts in ${Date.now() - t0} ms: ${(share * 100).toFixed(1)} % of a core`);
    assert.ok(share < 0.1, `CPU ${Math.round(share * 100)} % of a core while refusing`);
    assert.equal(exitCode, null, `no crash: ${stderr}`);

    // The flood closes: a normal connection is served within 2 s.
    for (const s of held) s.resetAndDestroy();
    held.length = 0;
    const closed = Date.now();
    let answer = '';
    while (answer !== 'hello' && Date.now() - closed < 2_000) {
      answer = await echoOnce(port, 'hello').catch(() => '');
      if (answer !== 'hello') await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(answer, 'hello', 'served within 2 s after the flood closed');
    t.diagnostic(`served again ${Date.now() - closed} ms after the flood closed`);
    assert.ok(outOfFds() <= 2, `one line per burst, not per attempt: ${outOfFds()}`);
    assert.equal(exitCode, null, `no crash: ${stderr}`);
  } finally {
    for (const s of held) s.destroy();
    if (exitCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await backend.close();
  }
});
