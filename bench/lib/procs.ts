// Child processes of a bench run and what /proc says about them: every process is spawned in its
// own process group through ProcessRegistry, so that stopping it also stops the workers it forked
// (nginx), and killAll() on exit, Ctrl-C or error leaves nothing behind.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Output kept per process; wrk and the bench clients print far less than this. */
const OUTPUT_LIMIT = 256 * 1024;

export class Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  exited = false;
  readonly #exit: Promise<void>;
  #stdout = '';
  #stderr = '';

  constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.proc = proc;
    if (proc.pid === undefined) throw new Error(`${name}: spawn failed`);
    this.pid = proc.pid;
    proc.stdout?.setEncoding('utf8');
    proc.stderr?.setEncoding('utf8');
    proc.stdout?.on('data', (s: string) => {
      this.#stdout = (this.#stdout + s).slice(-OUTPUT_LIMIT);
    });
    proc.stderr?.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-OUTPUT_LIMIT);
    });
    this.#exit = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.exited = true;
        this.exitCode = code;
        this.signal = signal;
        resolve();
      });
    });
  }

  get stdout(): string {
    return this.#stdout;
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** The last meaningful line of the output, for an "n/a (why)" cell. */
  lastWords(): string {
    const lines = `${this.#stdout}\n${this.#stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('at ') && !/^\^+$/.test(l) && !/DeprecationWarning|--trace-deprecation|NOTICE/.test(l));
    // Prefer the line that says what went wrong.
    const err = lines.findLast((l) => /error|alert|emerg|fatal|cannot|not implemented|EADDRINUSE/i.test(l));
    const line = err ?? lines.at(-1) ?? '';
    const status = this.exited ? `exited ${this.signal ?? this.exitCode ?? '?'}` : 'running';
    return `${status}${line === '' ? '' : `: ${shorten(line)}`}`;
  }

  /** Resolves when the process exits, or after `ms` (then `exited` is still false). */
  async waitExit(ms: number): Promise<void> {
    await Promise.race([this.#exit, sleep(ms)]);
  }

  /** SIGTERM to the process group, then SIGKILL after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    killGroup(this.pid, 'SIGTERM');
    await this.waitExit(graceMs);
    if (!this.exited) {
      killGroup(this.pid, 'SIGKILL');
      await this.waitExit(2000);
    }
    // The group leader is gone; workers it forked (nginx) may still be exiting.
    killGroup(this.pid, 'SIGKILL');
  }
}

function shorten(line: string): string {
  // pino JSON lines: show the message and error, not the whole object
  if (line.startsWith('{')) {
    try {
      const o = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
      const parts = [o.msg, o.err?.message].filter((x) => typeof x === 'string');
      if (parts.length > 0) line = parts.join(': ');
    } catch {
      // not JSON after all
    }
  }
  return line.length > 140 ? `${line.slice(0, 137)}...` : line;
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Every process this run started; killAll() stops those still alive. */
export class ProcessRegistry {
  readonly #children = new Set<Child>();
  #stopping = false;

  spawn(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Child {
    // After Ctrl-C the scenario loop may still try to start the next target.
    if (this.#stopping) throw new Error('the bench is stopping');
    const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options, detached: true });
    // A spawn error (ENOENT) surfaces as an 'error' event; keep it from crashing the run.
    proc.on('error', () => {});
    const child = new Child(name, proc);
    this.#children.add(child);
    proc.once('exit', () => this.#children.delete(child));
    return child;
  }

  async killAll(): Promise<void> {
    this.#stopping = true;
    await Promise.all([...this.#children].map((c) => c.stop(1500)));
  }

  /** For process 'exit': no waiting possible, so SIGKILL at once. */
  killAllSync(): void {
    this.#stopping = true;
    for (const c of this.#children) {
      killGroup(c.pid, 'SIGKILL');
    }
  }
}

/** Polls a TCP connect to host:port until it succeeds; false when `child` exits or time runs out. */
export async function waitForPort(host: string, port: number, timeoutMs: number, child: Child | null): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const gone = (): boolean => child?.exited === true;
  while (Date.now() < deadline) {
    if (gone()) return false;
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
      s.setTimeout(1000, () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return !gone();
    await sleep(100);
  }
  return false;
}

// ---- /proc ----

interface ProcStat {
  ppid: number;
  /** utime + stime, clock ticks */
  ticks: number;
}

function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // "pid (comm) state ppid ..." — comm may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): field N is fields[N - 3]; ppid = 4, utime = 14, stime = 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** `pid` and all its descendants (nginx master + workers). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const st = readStat(Number(entry));
    if (st === null) continue;
    const list = children.get(st.ppid);
    if (list === undefined) children.set(st.ppid, [Number(entry)]);
    else list.push(Number(entry));
  }
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** utime + stime (clock ticks) of the process tree: the proxy's CPU time. */
export function cpuTicks(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += readStat(pid)?.ticks ?? 0;
  return sum;
}

/** VmRSS (KiB) summed over the process tree. */
export function rssKiB(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      const m = /^VmRSS:\s+([0-9]+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
      if (m?.[1] !== undefined) sum += Number(m[1]);
    } catch {
      // exited
    }
  }
  return sum;
}

/** Open file descriptors summed over the process tree (sockets, listeners, files). */
export function fdCount(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) {
    try {
      sum += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // exited
    }
  }
  return sum;
}

/** An executable on PATH or in the sbin directories (haproxy and nginx live in /usr/sbin). */
export function findExecutable(name: string): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const p = join(dir, name);
    try {
      if (existsSync(p) && statSync(p).isFile() && (statSync(p).mode & 0o111) !== 0) return p;
    } catch {
      // unreadable dir
    }
  }
  return null;
}
