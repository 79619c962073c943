// http mode + sendProxyProtocol: a pooled server connection carries the PROXY header of the
// client it was opened for, so it must only ever serve requests of that client address (issue 5,
// Proof 6; SPEC "Server connections that carried a PROXY header are reused only for the same
// client address"). Two client addresses interleave keep-alive and one-shot connections,
// concurrently; a PROXY-aware keep-alive server records, per server connection, the header's
// client and the X-Forwarded-For of every request on it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { httpGet, ppBackend, type PpBackend, type PpConn } from '../../helpers/pp-backends.ts';

const CLIENTS = ['127.0.0.2', '127.0.0.3'] as const;

interface ConnLog {
  pp: string;
  xffs: string[];
}
const logs = new Map<number, ConnLog>();

/** A minimal HTTP/1.1 keep-alive server on the bytes after the PROXY header (GET only, no bodies). */
function serveHttp(conn: PpConn, rest: Buffer): void {
  const h = conn.header;
  const log: ConnLog = { pp: h !== null && h.command === 'proxy' ? h.addresses.sourceAddress : `(${h?.command ?? 'none'})`, xffs: [] };
  logs.set(conn.id, log);
  let buf: Buffer = Buffer.alloc(0);
  const onData = (d: Buffer): void => {
    buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = buf.subarray(0, end).toString('latin1');
      buf = buf.subarray(end + 4);
      if (/\r\n(content-length: *[1-9]|transfer-encoding:)/i.test(head)) {
        conn.socket.destroy(); // this server takes no bodies; the test sends none
        return;
      }
      const xff = /\r\nx-forwarded-for: *([^\r]*)/i.exec(head)?.[1] ?? '(none)';
      log.xffs.push(xff);
      const body = JSON.stringify({ conn: conn.id, pp: log.pp, xff });
      conn.socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    }
  };
  conn.socket.on('data', onData);
  conn.socket.on('end', () => conn.socket.end());
  if (rest.length > 0) onData(rest);
}

let server: PpBackend;
let fp: RunningProxy;

before(async () => {
  server = await ppBackend(serveHttp);
  fp = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
    pools: [{ name: 'app', sendProxyProtocol: 'v2', servers: [{ address: server.address }] }],
  });
});

after(async () => {
  await fp?.stop();
  await server?.close();
});

test('the config load warns that PROXY toward http servers reduces connection reuse', () => {
  const warned = fp.logs.lines.filter((l) => l['level'] === 40 && /PROXY/.test(String(l['msg'])) && /reuse/.test(String(l['msg'])));
  assert.equal(warned.length, 1, JSON.stringify(fp.logs.lines));
  assert.equal(warned[0]!['pool'], 'app');
  assert.equal(warned[0]!['listener'], 'web');
});

test('interleaved clients of two addresses: no server connection ever carries both', async () => {
  const port = fp.addr('web').port;
  const results: Array<{ client: string; conn: number; pp: string; xff: string }> = [];
  const one = async (client: string, agent: Agent | false): Promise<void> => {
    const r = await httpGet(port, { localAddress: client, agent, path: `/${client}` });
    assert.equal(r.status, 200, r.body);
    results.push({ client, ...(JSON.parse(r.body) as { conn: number; pp: string; xff: string }) });
  };
  const agents = CLIENTS.map(() => new Agent({ keepAlive: true, maxSockets: 2 }));
  try {
    const workers: Promise<void>[] = [];
    CLIENTS.forEach((client, i) => {
      // keep-alive: sequential requests on one or two client connections
      workers.push(
        (async () => {
          for (let k = 0; k < 15; k++) await one(client, agents[i]!);
        })(),
      );
      // a new client connection per request
      workers.push(
        (async () => {
          for (let k = 0; k < 15; k++) await one(client, false);
        })(),
      );
      // bursts: several requests at once, mixed connection kinds
      workers.push(
        (async () => {
          for (let k = 0; k < 4; k++) await Promise.all([one(client, agents[i]!), one(client, agents[i]!), one(client, false), one(client, false)]);
        })(),
      );
    });
    await Promise.all(workers);
  } finally {
    for (const a of agents) a.destroy();
  }

  const total = CLIENTS.length * (15 + 15 + 16);
  assert.equal(results.length, total);
  // What each client was told matches who it is.
  for (const r of results) {
    assert.equal(r.pp, r.client, `request of ${r.client} went on server connection ${r.conn} opened for ${r.pp}`);
    assert.equal(r.xff, r.client);
  }
  // What the server recorded, per connection.
  let requests = 0;
  for (const [id, log] of logs) {
    const addrs = new Set([log.pp, ...log.xffs]);
    assert.equal(addrs.size, 1, `server connection ${id} carried ${[...addrs].join(' and ')}`);
    assert.ok(CLIENTS.includes(log.pp as (typeof CLIENTS)[number]), `connection ${id}: header named ${log.pp}`);
    requests += log.xffs.length;
  }
  assert.equal(requests, total, 'every request was seen by the server once');
  for (const c of server.conns) assert.equal(c.error, null, `every server connection started with a valid header`);
  // The keying must not amount to "no reuse at all": each address reused its server connections.
  for (const client of CLIENTS) {
    const mine = [...logs.values()].filter((l) => l.pp === client);
    const reqs = mine.reduce((n, l) => n + l.xffs.length, 0);
    assert.ok(mine.some((l) => l.xffs.length >= 2), `${client}: some server connection served more than one request`);
    assert.ok(mine.length < reqs, `${client}: ${mine.length} server connections for ${reqs} requests`);
  }
});
