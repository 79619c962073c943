// Runs inside a network namespace made by netns.ts (`unshare -n`): the kernel settings there are
// ours to change (ip_local_port_range, tcp_timestamps) without touching the host. One scenario per
// run, named by argv[2]; prints one JSON line with what it saw.
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { startProxy } from '../../helpers/fullproxy.ts';
import { outcome } from '../../helpers/clients.ts';
import { waitFor } from '../../helpers/wait.ts';
import { roundTrip } from './setup.ts';

const SERVER_PORT = 5000;

interface Backend {
  port: number;
  server: NetServer;
  close(): Promise<void>;
}

/**
 * Echoes; "bye" makes the server close first (the TIME_WAIT then stays on its side, not the
 * proxy's). On a fixed port: port 0 would take one of the few ephemeral ports.
 */
async function backend(): Promise<Backend> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.on('data', (d: Buffer) => (d.toString().includes('bye') ? s.end() : s.write(d)));
    s.on('end', () => s.end());
  });
  await new Promise<void>((r) => server.listen(SERVER_PORT, '127.0.0.1', r));
  return {
    port: SERVER_PORT,
    server,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Clients bind explicit ports outside the tiny ephemeral range, so only the proxy's connections compete for it. */
let nextClientPort = 20_000;
function dialFrom(port: number): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1', localPort: nextClientPort++, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

async function close(s: Socket, serverFirst: boolean): Promise<void> {
  const done = outcome(s);
  if (serverFirst) s.write('bye');
  else s.end();
  await done;
}

async function kernel(): Promise<Record<string, unknown>> {
  const b = await backend();
  const p = await startProxy({
    listeners: [{ name: 't', listen: '127.0.0.1:5001', protocol: 'tcp', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: `127.0.0.1:${b.port}` }] }],
  });
  const pool = p.proxy.pools.get('p')!;
  const server = pool.servers[0]!;
  const held: Socket[] = [];
  const result: Record<string, unknown> = {};
  try {
    // Sessions until the first refusal: how many of the range's ports connect() reaches depends
    // on the kernel's port search (per-destination offset), so the test takes what it gets.
    let refused: string | null = null;
    let took = 0;
    for (let i = 0; i < 10 && refused === null; i++) {
      const t0 = Date.now();
      const s = await dialFrom(5001);
      const how = typeof s === 'string' ? s : await Promise.race([roundTrip(s, 'x').then(() => null), outcome(s).then((o) => o.how)]);
      took = Date.now() - t0;
      if (how === null) held.push(s as Socket);
      else refused = how === 'ECONNRESET' ? 'reset' : how;
    }
    result['established'] = held.length;
    result['refused'] = refused;
    result['refusedAfterMs'] = took;
    await waitFor(() => p.logs.find('session end').some((l) => l['reason'] === 'source-exhausted'), 2_000, 'session end');
    result['sourcePorts'] = p.proxy.sourcePortsOf(pool, server);
    result['connectErrors'] = server.connectErrors;
    result['health'] = server.health;
    result['exhaustedLog'] = p.logs.find('source ports exhausted')[0] ?? null;
    // one session ends (server side first: no TIME_WAIT on the proxy's port) → a new one works
    await close(held.shift()!, true);
    await waitFor(() => server.openSockets === held.length, 2_000, 'server socket closed');
    const again = await dialFrom(5001);
    if (typeof again === 'string') result['after'] = again;
    else {
      await roundTrip(again, 'y');
      result['after'] = 'ok';
      held.push(again);
    }
  } finally {
    for (const s of held) s.destroy();
    await p.stop();
    await b.close();
  }
  return result;
}

async function timeWait(): Promise<Record<string, unknown>> {
  const b = await backend();
  const remotePorts: number[] = [];
  b.server.on('connection', (s: Socket) => remotePorts.push(s.remotePort!));
  const p = await startProxy(
    {
      listeners: [{ name: 't', listen: '127.0.0.1:5001', protocol: 'tcp', pool: 'p' }],
      pools: [{ name: 'p', servers: [{ address: `127.0.0.1:${b.port}` }], source: { addresses: ['127.0.0.2'], portRange: [30000, 30002], onExhausted: 'reject' } }],
    },
    'debug',
  );
  const pool = p.proxy.pools.get('p')!;
  const server = pool.servers[0]!;
  const result: Record<string, unknown> = {};
  try {
    // 30000: the client ends first, so the proxy sends the first FIN toward the server and its
    // port 30000 sits in TIME_WAIT; 30001 and 30002: the server closes first.
    for (const serverFirst of [false, true, true]) {
      const s = await dialFrom(5001);
      if (typeof s === 'string') throw new Error(`dial: ${s}`);
      await roundTrip(s, 'x');
      await close(s, serverFirst);
      await waitFor(() => server.openSockets === 0, 2_000, 'server socket closed');
    }
    // next-fit wraps to 30000 (TIME_WAIT, refused by the kernel) → skipped → 30001
    const s = await dialFrom(5001);
    if (typeof s === 'string') result['fourth'] = s;
    else {
      await roundTrip(s, 'z');
      result['fourth'] = 'ok';
      s.destroy();
    }
    result['remotePorts'] = remotePorts;
    result['sourcePorts'] = p.proxy.sourcePortsOf(pool, server);
    result['skipLines'] = p.logs.find('source port busy in the kernel, trying another').map((l) => ({ port: l['sourcePort'], code: l['code'] }));
  } finally {
    await p.stop();
    await b.close();
  }
  return result;
}

/**
 * `queue-refused-<tcp|http>-<holdMs>` (issue 17 §4): the namespace's ephemeral range is the 20 ports
 * of `source.portRange`, and 4 of them are taken by other sockets before the proxy starts (two
 * listeners: EADDRINUSE from bind; two connections whose ports the kernel chose: EADDRINUSE from
 * bind, their sockets have no SO_REUSEADDR). Our accounting thinks all 20 free. 40 concurrent
 * sessions (tcp) or requests (http), each held `holdMs` by the server, with onExhausted "queue"
 * and queueTimeout 1 s: a connection the kernel refuses a port must wait like any other.
 */
const QUEUE_MS = 1_000;
const TAKEN_LISTENING = [40005, 40013];

async function queueRefused(mode: 'tcp' | 'http', holdMs: number): Promise<Record<string, unknown>> {
  const squatters: NetServer[] = [];
  for (const port of TAKEN_LISTENING) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    squatters.push(s);
  }
  const sink = createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => sink.listen(6000, '127.0.0.1', r));
  squatters.push(sink);
  const foreign: Socket[] = [];
  for (let i = 0; i < 2; i++) {
    foreign.push(
      await new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: '127.0.0.1', port: 6000 }); // the kernel picks the port from the 20
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    );
  }
  const holder = createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    if (mode === 'tcp') {
      // served: "ok" at once, then the server closes first after holdMs (no TIME_WAIT on the proxy's port)
      s.once('data', () => {
        s.write('ok');
        setTimeout(() => s.end(), holdMs);
      });
      s.on('end', () => s.end());
    } else {
      let head = '';
      s.on('data', (d: Buffer) => {
        head += d.toString('latin1');
        while (head.includes('\r\n\r\n')) {
          head = head.slice(head.indexOf('\r\n\r\n') + 4);
          setTimeout(() => s.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n'), holdMs);
        }
      });
      s.on('end', () => s.end());
    }
  });
  await new Promise<void>((r) => holder.listen(SERVER_PORT, '127.0.0.1', r));
  const p = await startProxy(
    {
      logging: { level: 'info', access: false },
      listeners: [{ name: 'l', listen: '127.0.0.1:5001', protocol: mode, pool: 'p' }],
      pools: [
        {
          name: 'p',
          servers: [{ address: `127.0.0.1:${SERVER_PORT}` }],
          timeouts: { queue: QUEUE_MS },
          source: { addresses: ['127.0.0.1'], portRange: [40000, 40019], onExhausted: 'queue', queueTimeout: QUEUE_MS },
        },
      ],
    },
    'debug',
  );
  const pool = p.proxy.pools.get('p')!;
  const server = pool.servers[0]!;
  let maxQueued = 0;
  const poll = setInterval(() => {
    maxQueued = Math.max(maxQueued, p.proxy.sourcePortsOf(pool, server).queued ?? 0);
  }, 10);
  const result: Record<string, unknown> = { foreignPorts: foreign.map((s) => s.localPort) };
  try {
    const one = async (i: number): Promise<{ ok: boolean; how: string; ms: number }> => {
      const t0 = Date.now();
      const s = await dialFrom(5001);
      if (typeof s === 'string') return { ok: false, how: s, ms: Date.now() - t0 };
      const done = outcome(s);
      s.write(mode === 'tcp' ? 'x' : `GET /r${i} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
      const o = await done;
      const text = o.data.toString('latin1');
      const ok = mode === 'tcp' ? text === 'ok' : text.startsWith('HTTP/1.1 200 ');
      return { ok, how: mode === 'tcp' ? o.how : text.slice(9, 12), ms: Date.now() - t0 };
    };
    const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => one(i)));
    const failed = rs.filter((r) => !r.ok);
    result['served'] = rs.length - failed.length;
    result['failed'] = failed.length;
    result['failedHow'] = [...new Set(failed.map((r) => r.how))];
    result['failedMs'] = failed.length === 0 ? null : [Math.min(...failed.map((r) => r.ms)), Math.max(...failed.map((r) => r.ms))];
    result['maxQueued'] = maxQueued;
    result['sourcePorts'] = p.proxy.sourcePortsOf(pool, server);
    result['connectErrors'] = server.connectErrors;
    result['exhaustedReasons'] = [...new Set(p.logs.find('source ports exhausted').map((l) => l['reason']))];
    result['skipCodes'] = [...new Set(p.logs.find('source port busy in the kernel, trying another').map((l) => l['code']))];
  } finally {
    clearInterval(poll);
    for (const s of foreign) s.destroy();
    await p.stop();
    holder.close();
    for (const s of squatters) s.close();
  }
  return result;
}

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = { kernel, 'time-wait': timeWait };
const queueCase = /^queue-refused-(tcp|http)-([0-9]+)$/.exec(process.argv[2] ?? '');
if (queueCase !== null) scenarios[queueCase[0]] = () => queueRefused(queueCase[1] as 'tcp' | 'http', Number(queueCase[2]));
const run = scenarios[process.argv[2] ?? ''];
if (run === undefined) throw new Error(`unknown scenario ${process.argv[2]}`);
process.stdout.write(`${JSON.stringify(await run())}\n`);
process.exit(0);
