// The session table's cap (issue 17 Proof "Session cap"): with limits.maxSessions 100 and onFull
// "reset-oldest-idle" the 101st connection gets in and the session idle the longest is reset (IPVS's
// drop_entry); a burst over the cap resets one session per newcomer, never the same one twice, so
// the table does not grow past the cap; with "refuse" the 101st is reset and the 100 go on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Socket as NetSocket, type Socket } from 'node:net';
import { tcpBackend, type Backend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';
import { TICK_MS } from '../../../src/util/clock.ts';
import { SessionTable } from '../../../src/session/session-table.ts';
import type { Session } from '../../../src/session/session.ts';

const CAP = 100;

interface Held {
  socket: Socket;
  end: Promise<{ how: string; data: Buffer }>;
  ended: boolean;
}

async function echo(s: Socket, text: string): Promise<string> {
  s.write(text);
  return new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString())));
}

/** One established session: dialled and echoed once. */
async function open(port: number, from = '127.0.0.2'): Promise<Held> {
  const socket = await dial(port, '127.0.0.1', from);
  const h: Held = { socket, end: outcome(socket), ended: false };
  void h.end.then(() => (h.ended = true));
  assert.equal(await echo(socket, 'hi'), 'hi');
  return h;
}

async function setup(onFull: 'refuse' | 'reset-oldest-idle'): Promise<{ p: RunningProxy; backend: Backend; port: number }> {
  const backend = await tcpBackend((s) => s.on('data', (d) => s.write(d)));
  const p = await startProxy({
    logging: { level: 'silent' },
    limits: { maxSessions: CAP, onFull },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: backend.address }] }],
  }).catch(async (err: unknown) => {
    await backend.close();
    throw err;
  });
  return { p, backend, port: p.addr('t').port };
}

/** 100 sessions; then all but the first move a byte, so the first is the one idle the longest. */
async function fill(port: number): Promise<Held[]> {
  const held: Held[] = [];
  for (let i = 0; i < CAP; i++) held.push(await open(port));
  const t = Date.now();
  await waitFor(() => Date.now() - t >= TICK_MS * 2, 2_000, 'two ticks');
  for (const h of held.slice(1)) h.socket.write('.');
  const t2 = Date.now();
  await waitFor(() => Date.now() - t2 >= TICK_MS * 2, 2_000, 'the sweep to see the activity');
  return held;
}

test('reset-oldest-idle: the 101st gets in and the session idle the longest is reset', async () => {
  const { p, backend, port } = await setup('reset-oldest-idle');
  const held: Held[] = [];
  try {
    held.push(...(await fill(port)));
    assert.equal(p.proxy.sessions.size, CAP);
    const newcomer = await open(port, '127.0.0.3');
    held.push(newcomer);
    const first = await held[0]!.end;
    assert.equal(first.how, 'reset', 'the oldest idle session was reset');
    await waitFor(() => p.proxy.sessions.size === CAP, 2_000, 'the table back at the cap');
    assert.equal(held.filter((h) => h.ended).length, 1, 'only that one');
    assert.equal(await echo(newcomer.socket, 'still'), 'still');
    assert.equal(p.proxy.listeners.get('t')!.counters.rejectedLimits, 0, 'nobody refused');

    // A burst of 5 over the cap: 5 sessions reset (5 different ones), 5 newcomers served.
    const burst = await Promise.all(Array.from({ length: 5 }, () => open(port, '127.0.0.3')));
    held.push(...burst);
    await waitFor(() => held.filter((h) => h.ended).length === 6, 5_000, 'five more reset');
    await waitFor(() => p.proxy.sessions.size === CAP, 2_000, 'the table at the cap');
    for (const h of burst) assert.equal(h.ended, false);
  } finally {
    for (const h of held) h.socket.destroy();
    await p.stop();
    await backend.close();
  }
});

test('refuse: the 101st is reset at once and the 100 go on', async () => {
  const { p, backend, port } = await setup('refuse');
  const held: Held[] = [];
  try {
    for (let i = 0; i < CAP; i++) held.push(await open(port));
    const accepted = backend.accepted;
    let how: string;
    try {
      const s = await dial(port, '127.0.0.1', '127.0.0.3');
      s.write('x');
      const r = await outcome(s);
      how = r.how;
      assert.equal(r.data.length, 0);
    } catch (err) {
      how = (err as NodeJS.ErrnoException).code === 'ECONNRESET' ? 'reset' : String(err);
    }
    assert.equal(how, 'reset');
    assert.equal(backend.accepted, accepted, 'no server connection for it');
    assert.equal(p.proxy.listeners.get('t')!.counters.rejectedLimits, 1);
    assert.equal(p.proxy.sessions.size, CAP);
    assert.equal(held.filter((h) => h.ended).length, 0);
    assert.equal(await echo(held[0]!.socket, 'ok'), 'ok');
    // A place freed is taken again.
    held[0]!.socket.resetAndDestroy();
    await waitFor(() => p.proxy.sessions.size === CAP - 1, 2_000, 'one place free');
    const again = await open(port, '127.0.0.3');
    held.push(again);
  } finally {
    for (const h of held) h.socket.destroy();
    await p.stop();
    await backend.close();
  }
});

test('reset-oldest-idle never picks a session already closing (it leaves the table only once its sockets closed)', () => {
  const table = new SessionTable(3);
  const owner = { terminate: (s: Session): void => void (s.state = 'closing') };
  const timeouts = { clientIdle: 0, serverIdle: 0, idleReset: true, clientKeepAlive: false as const, serverKeepAlive: false as const };
  const sessions = [0, 1, 2].map((i) => table.create('t', 'tcp', new NetSocket(), '127.0.0.2', 1000 + i, owner, timeouts));
  try {
    sessions.forEach((s, i) => (s.lastClientActivity = s.lastServerActivity = 1_000 + i));
    assert.equal(table.oldestIdle(), sessions[0]);
    sessions[0]!.owner.terminate(sessions[0]!, 'rejected', true);
    assert.equal(table.full, true, 'still in the table until its sockets close');
    assert.equal(table.oldestIdle(), sessions[1], 'the next one, not the same victim again');
  } finally {
    for (const s of sessions) table.remove(s);
  }
});
