// HAProxy judges the PROXY headers fullproxy sends (issue 5, Proof 2): a bind with
// `accept-proxy` echoes what HAProxy believes of each connection (src, src_port, dst, dst_port),
// behind fullproxy tcp and http listeners with sendProxyProtocol v1 and v2; and the connector's
// own connections (client null: the path active health checks take) send v2 LOCAL / v1
// UNKNOWN, which HAProxy accepts and answers with the real connection's addresses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { loadConfigObject } from '../../src/config/load.ts';
import { PoolConnector } from '../../src/pool/connector.ts';
import { Pool } from '../../src/pool/pool.ts';
import { createLogger } from '../../src/log.ts';
import { startProxy, ROOT, type RunningProxy } from '../helpers/fullproxy.ts';
import { startHaproxy, type Judge } from '../helpers/judges.ts';
import { exchange, httpGet, ppBackend } from '../helpers/pp-backends.ts';

const CLIENTS = ['127.0.0.2', '127.0.0.3'] as const;
const VERSIONS = ['v1', 'v2'] as const;

let haproxy: Judge;
let fp: RunningProxy;

before(async () => {
  haproxy = await startHaproxy(
    ['echo'],
    (port) => `
frontend echo
  mode http
  bind 127.0.0.1:${port('echo')} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src] %[src_port] %[dst] %[dst_port] xff=%[req.hdr(x-forwarded-for)]"
`,
  );
  const echo = `127.0.0.1:${haproxy.port('echo')}`;
  fp = await startProxy({
    logging: { level: 'warn', access: false },
    listeners: VERSIONS.flatMap((v) => [
      { name: `tcp-${v}`, listen: '127.0.0.1:0', protocol: 'tcp', pool: v },
      { name: `http-${v}`, listen: '127.0.0.1:0', protocol: 'http', pool: v },
    ]),
    pools: VERSIONS.map((v) => ({ name: v, sendProxyProtocol: v, servers: [{ address: echo }] })),
  });
});

after(async () => {
  await fp?.stop();
  await haproxy?.stop();
});

function fields(body: string): { src: string; srcPort: number; dst: string; dstPort: number; rest: string } {
  const [src = '', srcPort = '', dst = '', dstPort = '', ...rest] = body.trim().split(' ');
  return { src, srcPort: Number(srcPort), dst, dstPort: Number(dstPort), rest: rest.join(' ') };
}

for (const v of VERSIONS) {
  describe(`PROXY ${v} toward HAProxy accept-proxy`, () => {
    test('behind a fullproxy tcp listener: src/src_port = the client, dst/dst_port = the listener', async () => {
      const l = fp.addr(`tcp-${v}`);
      for (const client of CLIENTS) {
        for (let i = 0; i < 2; i++) {
          const r = await exchange(l.port, 'GET / HTTP/1.1\r\nHost: judge\r\nConnection: close\r\n\r\n', client);
          const text = r.data.toString();
          assert.match(text, /^HTTP\/1\.1 200 /, `HAProxy answered:\n${text}\n${haproxy.output()}`);
          const f = fields(text.slice(text.indexOf('\r\n\r\n') + 4));
          assert.deepEqual(f, { src: client, srcPort: r.localPort, dst: '127.0.0.1', dstPort: l.port, rest: 'xff=' });
        }
      }
    });

    test('behind a fullproxy http listener: src = the client, X-Forwarded-For agrees', async () => {
      const l = fp.addr(`http-${v}`);
      const seen = new Map<string, number[]>(CLIENTS.map((c) => [c, []]));
      for (let i = 0; i < 6; i++) {
        const client = CLIENTS[i % 2]!;
        const r = await httpGet(l.port, { localAddress: client });
        assert.equal(r.status, 200, r.body);
        seen.get(client)!.push(r.localPort);
        const f = fields(r.body);
        assert.equal(f.src, client, `HAProxy saw ${r.body}`);
        // Server connections are pooled per client address: the port is one this address used,
        // and exactly this connection's on the first request of each address.
        if (i < 2) assert.equal(f.srcPort, r.localPort);
        else assert.ok(seen.get(client)!.includes(f.srcPort), `port ${f.srcPort} is one of ${client}'s`);
        assert.equal(f.dst, '127.0.0.1');
        assert.equal(f.dstPort, l.port);
        assert.equal(f.rest, `xff=${client}`);
      }
    });
  });
}

describe('connections of our own (client null, as health checks will make): LOCAL', () => {
  /** A pool and its connector for `server`, built from a real (validated) config. */
  function connectorFor(version: 'v1' | 'v2', server: string): { connector: PoolConnector; pool: Pool } {
    const loaded = loadConfigObject(
      {
        listeners: [{ name: 'l', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'p' }],
        pools: [{ name: 'p', sendProxyProtocol: version, servers: [{ address: server }] }],
      },
      ROOT,
    );
    if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
    const pc = loaded.config.pools[0]!;
    return { connector: new PoolConnector(pc), pool: new Pool(pc, createLogger({ level: 'silent' })) };
  }

  function connectNull(version: 'v1' | 'v2', server: string): Promise<Socket> {
    const { connector, pool } = connectorFor(version, server);
    return new Promise((resolve, reject) =>
      connector.connect(pool.servers[0]!, null, (err, socket) => (err !== null || socket === null ? reject(err ?? new Error('no socket')) : resolve(socket))),
    );
  }

  function readAll(s: Socket): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.once('end', () => resolve(Buffer.concat(chunks).toString()));
      s.once('error', reject);
    });
  }

  test('the bytes: v2 sends LOCAL (ver_cmd 0x20, AF_UNSPEC, no address block), v1 sends "PROXY UNKNOWN"', async () => {
    const raw = await ppBackend((conn) => conn.socket.end());
    try {
      for (const v of VERSIONS) {
        const s = await connectNull(v, raw.address);
        await new Promise<void>((r) => s.once('end', () => r()).resume()); // the server ends after reading the header
        s.destroy();
      }
      assert.equal(raw.conns.length, 2);
      const [c1, c2] = raw.conns;
      assert.equal(c1!.error, null);
      assert.equal(c1!.raw?.toString('latin1'), 'PROXY UNKNOWN\r\n');
      assert.equal(c1!.header?.command, 'local');
      assert.equal(c2!.error, null);
      assert.equal(c2!.header?.version, 2);
      assert.equal(c2!.header?.command, 'local');
      assert.deepEqual([...c2!.raw!.subarray(12)], [0x20, 0x00, 0x00, 0x00], 'v2 LOCAL, UNSPEC, length 0');
    } finally {
      await raw.close();
    }
  });

  for (const v of VERSIONS) {
    test(`HAProxy accepts the ${v === 'v2' ? 'v2 LOCAL' : 'v1 UNKNOWN'} header and uses the real connection's addresses`, async () => {
      const s = await connectNull(v, `127.0.0.1:${haproxy.port('echo')}`);
      const ourPort = s.localPort;
      const body = readAll(s);
      s.end('GET /healthz HTTP/1.1\r\nHost: judge\r\nConnection: close\r\n\r\n');
      const text = await body;
      assert.match(text, /^HTTP\/1\.1 200 /, `HAProxy answered:\n${text}\n${haproxy.output()}`);
      const f = fields(text.slice(text.indexOf('\r\n\r\n') + 4));
      assert.deepEqual(f, { src: '127.0.0.1', srcPort: ourPort, dst: '127.0.0.1', dstPort: haproxy.port('echo'), rest: 'xff=' });
    });
  }
});
