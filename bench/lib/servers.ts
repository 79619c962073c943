// The real servers behind every proxy: one nginx worker listening on two loopback ports, pinned
// to the load cpu. "/" answers a 100-byte body from memory, "/1k" 1 KiB (S4), "/1m" a 1 MiB file.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOAD_CPU, freePort, type Tools } from './env.ts';
import { writeConfig } from './configs.ts';
import { waitForPort, type Child, type ProcessRegistry } from './procs.ts';

export const SMALL_BODY = '0123456789'.repeat(10);
/** S4's 1 KiB response body. */
export const KIB_BODY = 'abcdefghijklmnop'.repeat(64);
export const LARGE_SIZE = 1024 * 1024;

export interface Servers {
  readonly child: Child;
  readonly addresses: readonly [string, string];
}

export async function startServers(reg: ProcessRegistry, tools: Tools, dir: string, nofile: number): Promise<Servers> {
  const large = Buffer.alloc(LARGE_SIZE);
  for (let i = 0; i < large.length; i++) large[i] = 33 + (i % 94);
  writeFileSync(join(dir, '1m.bin'), large, { mode: 0o644 });
  const addresses: [string, string] = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const cfg = writeConfig(dir, 'nginx-backend.conf', 'nginx-backend.conf', {
    DIR: dir,
    NOFILE: nofile,
    WORKER_CONNECTIONS: Math.max(1024, nofile - 64),
    SERVER1: addresses[0],
    SERVER2: addresses[1],
    SMALL_BODY,
    KIB_BODY,
  });
  const child = reg.spawn('servers', tools.taskset, ['-c', String(LOAD_CPU), tools.nginx, '-p', dir, '-e', join(dir, 'backend-error.log'), '-c', cfg]);
  for (const a of addresses) {
    const [host, port] = [a.slice(0, a.lastIndexOf(':')), Number(a.slice(a.lastIndexOf(':') + 1))];
    if (!(await waitForPort(host, port, 10_000, child))) {
      await child.stop(1000);
      throw new Error(`the nginx servers did not start: ${child.lastWords()}`);
    }
  }
  // Check what the scenarios rely on.
  const small = await fetch(`http://${addresses[0]}/`);
  const smallText = await small.text();
  const big = await fetch(`http://${addresses[1]}/1m`);
  const bigLen = (await big.arrayBuffer()).byteLength;
  if (small.status !== 200 || smallText !== SMALL_BODY || big.status !== 200 || bigLen !== LARGE_SIZE) {
    await child.stop(1000);
    throw new Error(`the nginx servers answer wrongly: / → ${small.status} (${smallText.length} bytes), /1m → ${big.status} (${bigLen} bytes)`);
  }
  return { child, addresses };
}
