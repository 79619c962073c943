// Reload tests' small tools: the admin API of a child proxy (stats, POST /api/v1/reload), SIGHUP
// with a wait for the generation it produces, and a keep-alive HTTP client that counts outcomes.
import { Agent, request } from 'node:http';
import type { ChildProxy } from './fullproxy.ts';
import { waitFor } from './wait.ts';

export interface Stats {
  config: { generation: number; lastReload: { ok: boolean; error: string | null; at: string } | null; reloadFailures: number };
  listeners: Record<string, { sessionsTotal: number; requestsTotal: number }>;
  pools: Record<string, { servers: Record<string, { health: string; weight: number; sessionsActive: number; requestsTotal: number }> }>;
  process: { sessionsActive: number };
}

function adminPort(p: ChildProxy): number {
  const a = p.listeners.get('#admin');
  if (a === undefined) throw new Error('the proxy has no admin listener');
  return a.port;
}

export async function stats(p: ChildProxy): Promise<Stats> {
  const r = await fetch(`http://127.0.0.1:${adminPort(p)}/api/v1/stats`);
  return (await r.json()) as Stats;
}

export async function postReload(p: ChildProxy): Promise<{ status: number; body: { ok: boolean; generation?: number; errors?: string[] } }> {
  const r = await fetch(`http://127.0.0.1:${adminPort(p)}/api/v1/reload`, { method: 'POST' });
  return { status: r.status, body: (await r.json()) as { ok: boolean; generation?: number; errors?: string[] } };
}

/** SIGHUP, then waits until lastReload changes (applied or refused); returns the new stats. */
export async function sighup(p: ChildProxy, timeoutMs = 5_000): Promise<Stats> {
  const before = (await stats(p)).config.lastReload?.at ?? null;
  const failuresBefore = (await stats(p)).config.reloadFailures;
  p.child.kill('SIGHUP');
  let now: Stats | null = null;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    now = await stats(p);
    if ((now.config.lastReload?.at ?? null) !== before || now.config.reloadFailures !== failuresBefore) return now;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no reload outcome within ${timeoutMs} ms`);
}

export interface LoadResult {
  ok: number;
  non2xx: number;
  errors: string[];
  bodies: Map<string, number>;
}

/**
 * `connections` keep-alive clients, each sending GET after GET on its own connection until
 * `stop()`; every answer and every socket error is counted. The body's first word (the
 * backend's name) is tallied.
 */
export function keepAliveLoad(port: number, connections: number, path = '/'): { result: LoadResult; stop(): Promise<void> } {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const result: LoadResult = { ok: 0, non2xx: 0, errors: [], bodies: new Map() };
  let running = true;
  const loop = async (): Promise<void> => {
    while (running) {
      await new Promise<void>((resolve) => {
        const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d: Buffer) => chunks.push(d));
          res.on('end', () => {
            if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) result.ok++;
            else result.non2xx++;
            const who = Buffer.concat(chunks).toString().split(' ')[0] ?? '';
            result.bodies.set(who, (result.bodies.get(who) ?? 0) + 1);
            resolve();
          });
          res.on('error', (e) => {
            result.errors.push(e.message);
            resolve();
          });
        });
        req.on('error', (e) => {
          result.errors.push(`${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`);
          resolve();
        });
        req.end();
      });
    }
  };
  const loops = Array.from({ length: connections }, () => loop());
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** One GET on `agent` (keep-alive: the same client connection across calls), status and body. */
export function getOn(agent: Agent, port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Waits until the child logged a listening line for `listener` at a port other than `oldPort`. */
export async function newPortOf(p: ChildProxy, listener: string, oldPort: number, timeoutMs = 5_000): Promise<number> {
  await waitFor(() => (p.listeners.get(listener)?.port ?? oldPort) !== oldPort, timeoutMs, `${listener} bound anew`);
  return p.listeners.get(listener)!.port;
}
