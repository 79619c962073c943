// Starts fullproxy from an inline config object, in-process (fast, inspectable) or as a child
// process (signals, RSS, exit codes). Listeners on port 0 are resolved to their bound ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { loadConfigObject } from '../../src/config/load.ts';
import { createLogger } from '../../src/log.ts';
import { Runtime } from '../../src/runtime.ts';
import * as fs from 'node:fs';

export const ROOT = resolve(import.meta.dirname, '../..');
export const NODE = process.execPath;

/** Log lines of an in-process proxy, parsed. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    cb();
  }
  find(msg: string): Record<string, unknown>[] {
    return this.lines.filter((l) => l['msg'] === msg);
  }
}

export interface RunningProxy {
  proxy: Runtime;
  logs: LogCapture;
  /** host:port of a listener by name. */
  addr(listener: string): { host: string; port: number };
  stop(): Promise<void>;
}

export async function startProxy(config: Record<string, unknown>, level = 'info'): Promise<RunningProxy> {
  const loaded = loadConfigObject(config, ROOT);
  if (!loaded.ok) throw new Error(`invalid test config:\n${loaded.errors.join('\n')}`);
  const logs = new LogCapture();
  const log = createLogger({ level: level as 'info' }, logs);
  const proxy = new Runtime(loaded.config, log);
  await proxy.start();
  return {
    proxy,
    logs,
    addr(name) {
      const l = proxy.listeners.get(name);
      if (l === undefined) throw new Error(`no listener ${name}`);
      const a = l.address();
      return { host: a.host, port: a.port };
    },
    stop: () => proxy.stop(),
  };
}

export interface ChildProxy {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  /** Bound address per listener name, from the 'listening' log lines. */
  listeners: Map<string, { host: string; port: number }>;
  exited: Promise<number | null>;
  stderr: string;
  /** The config file the child runs from (SIGHUP and POST /api/v1/reload read it again). */
  file: string;
  /** Writes a new config to `file` (with the same logging defaults as at start); reload it yourself. */
  rewrite(config: Record<string, unknown>): void;
}

/** 'listening' lines are info level: the helpers need them whatever the test asked for. */
function withTestLogging(config: Record<string, unknown>): string {
  const logging = { access: false, ...(config['logging'] as object | undefined), level: 'info' };
  return JSON.stringify({ ...config, logging });
}

/**
 * Runs `node src/main.ts --config <tmp>` and waits until every listener logged 'listening'.
 * `entry`: another form of the same program (test/shipped-form.test.ts runs the built bundle).
 */
export async function spawnProxy(config: Record<string, unknown>, timeoutMs = 10_000, entry = join(ROOT, 'src/main.ts')): Promise<ChildProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, withTestLogging(config));
  const child = spawn(NODE, [entry, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const result: ChildProxy = {
    child,
    lines: [],
    listeners: new Map(),
    stderr: '',
    exited: new Promise((r) => child.once('exit', (code) => r(code))),
    file,
    rewrite: (next) => writeFileSync(file, withTestLogging(next)),
  };
  child.stderr?.on('data', (d: Buffer) => (result.stderr += d.toString()));
  const expected = (config['listeners'] as unknown[]).length;
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`proxy did not start in ${timeoutMs} ms: ${result.stderr}`)), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`proxy exited with ${code}: ${result.stderr}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      result.lines.push(obj);
      if (obj['msg'] === 'listening' || obj['msg'] === 'admin listening') {
        const [host = '', port = '0'] = String(obj['address']).split(/:(?=[0-9]+$)/);
        // After a reload, a listener bound anew (added, or a changed address) logs again: the map follows.
        result.listeners.set(obj['msg'] === 'admin listening' ? '#admin' : String(obj['listener']), { host, port: Number(port) });
        if ([...result.listeners.keys()].filter((k) => k !== '#admin').length === expected) {
          clearTimeout(timer);
          res();
        }
      }
    });
  });
  return result;
}

/** Resident set size of a process in bytes, from /proc. */
export function rssOf(pid: number): number {
  // statm: size resident shared ... in pages
  const statm = fs.readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
  return Number(statm[1]) * 4096;
}

