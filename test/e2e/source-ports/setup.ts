// Shared by the source-ports tests: port ranges that do not collide, a tcp proxy config with
// `source`, established sessions through it, and the admin API's figures.
import { request } from 'node:http';
import type { Socket } from 'node:net';
import type { RunningProxy } from '../../helpers/fullproxy.ts';
import { dial, outcome } from '../../helpers/clients.ts';

/**
 * A base port for a 10..40-port range below the kernel's ephemeral range (32768+), random so that
 * test files running at the same time (and reruns while ports sit in TIME_WAIT) do not meet.
 */
export function portBase(): number {
  return 20_000 + Math.floor(Math.random() * 250) * 40;
}

export function tcpConfig(server: string, source: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    logging: { level: 'info' },
    admin: { listen: '127.0.0.1:0' },
    listeners: [{ name: 't', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: server }], source }],
    ...extra,
  };
}

/** A session through an echo server: resolves once a byte made the round trip (the server connection exists). */
export async function establish(port: number): Promise<Socket> {
  const s = await dial(port);
  await roundTrip(s, 'x');
  return s;
}

export function roundTrip(s: Socket, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer): void => {
      got += d.toString();
      if (got.length >= text.length) {
        s.removeListener('data', onData);
        s.removeListener('error', reject);
        resolve();
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(text);
  });
}

/** Ends a client session and waits until its socket is closed. */
export function hangUp(s: Socket): Promise<void> {
  return new Promise((r) => {
    s.once('close', () => r());
    s.on('end', () => s.end());
    s.end();
  });
}

/** GET an admin API path, parsed JSON. */
export function adminGet(p: RunningProxy, path: string): Promise<Record<string, unknown>> {
  const line = p.logs.find('admin listening')[0];
  const [host = '127.0.0.1', port = '0'] = String(line?.['address']).split(/:(?=[0-9]+$)/);
  return new Promise((resolve, reject) => {
    request({ host, port: Number(port), path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
    })
      .on('error', reject)
      .end();
  });
}

/** `sourcePorts` of one server from GET /api/v1/stats. */
export async function statsSourcePorts(p: RunningProxy, pool: string, server: string): Promise<Record<string, unknown>> {
  const stats = (await adminGet(p, '/api/v1/stats')) as { pools: Record<string, { servers: Record<string, { sourcePorts: Record<string, unknown> }> }> };
  const row = stats.pools[pool]?.servers[server];
  if (row === undefined) throw new Error(`no stats row for ${pool} ${server}`);
  return row.sourcePorts;
}

/**
 * How a new session ends when the proxy refuses it: 'reset' whether the RST arrives before our
 * connect() completed (ECONNRESET from connect) or after.
 */
export async function refusedHow(port: number): Promise<string> {
  let s: Socket;
  try {
    s = await dial(port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ECONNRESET' ? 'reset' : String(code);
  }
  return (await outcome(s)).how;
}
