// A loopback port where connect() hangs (for connect-timeout tests without leaving loopback):
// a child process listens with a backlog of 1, then blocks its event loop (Atomics.wait, no CPU),
// so it never accepts; we fill the accept queue until a SYN goes unanswered.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';

export interface Blackhole {
  port: number;
  close(): Promise<void>;
}

const CHILD = `
const net = require('node:net');
const s = net.createServer();
s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
  // stdout to a pipe is synchronous on Linux: the port is out before the loop blocks for good
  process.stdout.write(String(s.address().port) + '\\n');
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 120000);
});
`;

function tryConnect(port: number, ms: number, held: Socket[]): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    held.push(s);
    s.on('error', () => {});
    const t = setTimeout(() => resolve(false), ms);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export async function blackholePort(): Promise<Blackhole> {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
  });
  const held: Socket[] = [];
  const close = async (): Promise<void> => {
    for (const s of held) s.destroy();
    child.kill('SIGKILL');
    await exited;
  };
  // The accept queue holds backlog + 1 connections; the next SYN is dropped.
  for (let i = 0; i < 20; i++) {
    if (!(await tryConnect(port, 250, held))) return { port, close };
  }
  await close();
  throw new Error('could not fill the accept queue of the blackhole listener');
}
