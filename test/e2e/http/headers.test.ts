// Request and response headers (SPEC "Decisions": X-Forwarded-For; hop-by-hop): what the server
// sees and what the client gets back. Clients bind 127.0.0.2 / 127.0.0.3 so peers differ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { httpBackend, tcpBackend } from '../../helpers/backends.ts';
import { startProxy, type RunningProxy } from '../../helpers/fullproxy.ts';
import { RawClient, pairs } from '../../helpers/http.ts';

const UNTRUSTED = '127.0.0.2';
const TRUSTED = '127.0.0.3';

/** A server that answers with the request's header pairs (names lowercased) as JSON. */
async function headerEcho() {
  return httpBackend('echo', (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(pairs(req.rawHeaders)));
    });
  });
}

/** Sends one raw request from `localAddress` and returns the header pairs the server saw. */
async function seenByServer(p: RunningProxy, listener: string, localAddress: string, head: string): Promise<Array<[string, string]>> {
  const c = await RawClient.open(p.addr(listener).port, { localAddress });
  try {
    c.write(head);
    const r = await c.response();
    assert.equal(r.status, 200, `status ${r.status}: ${r.body.toString()}`);
    return JSON.parse(r.body.toString()) as Array<[string, string]>;
  } finally {
    c.destroy();
  }
}

function values(h: Array<[string, string]>, name: string): string[] {
  return h.filter(([n]) => n === name).map(([, v]) => v);
}

test('X-Forwarded-For / -Proto / -Port per listener policy', async (t) => {
  const b = await headerEcho();
  const listener = (name: string, forwardedHeaders: Record<string, unknown>) => ({ name, listen: '127.0.0.1:0', protocol: 'http', pool: 'p', forwardedHeaders });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      listener('append', { xForwardedFor: 'append', trustedProxies: [`${TRUSTED}/32`] }),
      listener('replace', { xForwardedFor: 'replace', trustedProxies: [`${TRUSTED}/32`] }),
    ],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    const cases: Array<{ name: string; listener: string; from: string; xff: string[]; want: string }> = [
      { name: 'append, untrusted peer, no header → the peer', listener: 'append', from: UNTRUSTED, xff: [], want: UNTRUSTED },
      { name: 'append, untrusted peer → incoming value replaced by the peer', listener: 'append', from: UNTRUSTED, xff: ['1.2.3.4'], want: UNTRUSTED },
      { name: 'append, untrusted peer, spoofed list → replaced', listener: 'append', from: UNTRUSTED, xff: ['1.2.3.4, 10.0.0.1'], want: UNTRUSTED },
      { name: 'append, trusted peer → peer appended', listener: 'append', from: TRUSTED, xff: ['1.2.3.4'], want: `1.2.3.4, ${TRUSTED}` },
      { name: 'append, trusted peer, two XFF headers → joined, peer appended', listener: 'append', from: TRUSTED, xff: ['1.2.3.4', '5.6.7.8'], want: `1.2.3.4, 5.6.7.8, ${TRUSTED}` },
      { name: 'append, trusted peer, no header → the peer', listener: 'append', from: TRUSTED, xff: [], want: TRUSTED },
      { name: 'replace, trusted peer → the peer only', listener: 'replace', from: TRUSTED, xff: ['1.2.3.4'], want: TRUSTED },
      { name: 'replace, untrusted peer → the peer only', listener: 'replace', from: UNTRUSTED, xff: ['1.2.3.4'], want: UNTRUSTED },
    ];
    for (const c of cases) {
      await t.test(c.name, async () => {
        const xffLines = c.xff.map((v) => `X-Forwarded-For: ${v}\r\n`).join('');
        const h = await seenByServer(p, c.listener, c.from, `GET /xff HTTP/1.1\r\nHost: h.test\r\n${xffLines}X-Forwarded-Proto: https\r\nX-Forwarded-Port: 1\r\n\r\n`);
        assert.deepEqual(values(h, 'x-forwarded-for'), [c.want], 'one X-Forwarded-For, last element the real peer');
        assert.deepEqual(values(h, 'x-forwarded-proto'), ['http'], 'X-Forwarded-Proto set by the proxy, the client value dropped');
        assert.deepEqual(values(h, 'x-forwarded-port'), [String(p.addr(c.listener).port)], 'X-Forwarded-Port = listener port');
      });
    }
  } finally {
    await p.stop();
    await b.close();
  }
});

test('request hop-by-hop headers are not forwarded; Connection cannot remove what the proxy adds; Via added', async (t) => {
  const b = await headerEcho();
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  const port = String(p.addr('h').port);
  try {
    await t.test('Connection, Keep-Alive, TE, Upgrade (no upgrade), Proxy-Connection and headers named in Connection', async () => {
      const h = await seenByServer(
        p,
        'h',
        UNTRUSTED,
        'GET /hop HTTP/1.1\r\nHost: h.test\r\nConnection: keep-alive, x-secret, X-Other\r\nKeep-Alive: timeout=99, max=7\r\nTE: trailers\r\n' +
          'Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Secret: 1\r\nx-other: 2\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nX-Kept: yes\r\n\r\n',
      );
      const names = h.map(([n]) => n);
      for (const gone of ['keep-alive', 'te', 'upgrade', 'proxy-connection', 'x-secret', 'x-other', 'proxy-authorization']) {
        assert.ok(!names.includes(gone), `${gone} forwarded: ${JSON.stringify(h)}`);
      }
      // The proxy's own connection management towards the server may say keep-alive/close;
      // nothing of the client's Connection header gets through.
      for (const v of values(h, 'connection')) assert.match(v, /^(keep-alive|close)$/i, `client Connection value forwarded: ${v}`);
      assert.deepEqual(values(h, 'x-kept'), ['yes'], 'end-to-end headers are kept');
      assert.deepEqual(values(h, 'host'), ['h.test']);
    });

    await t.test('Connection naming the headers the proxy adds does not remove them', async () => {
      const h = await seenByServer(
        p,
        'h',
        UNTRUSTED,
        'GET /named HTTP/1.1\r\nHost: h.test\r\nConnection: x-forwarded-for, X-Forwarded-Proto, x-forwarded-port, via\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
      );
      assert.deepEqual(values(h, 'x-forwarded-for'), [UNTRUSTED]);
      assert.deepEqual(values(h, 'x-forwarded-proto'), ['http']);
      assert.deepEqual(values(h, 'x-forwarded-port'), [port]);
      assert.equal(values(h, 'via').length, 1, 'Via still added');
    });

    await t.test('Via added; an incoming Via is kept and extended', async () => {
      const plain = await seenByServer(p, 'h', UNTRUSTED, 'GET /via HTTP/1.1\r\nHost: h.test\r\n\r\n');
      const via = values(plain, 'via');
      assert.equal(via.length, 1);
      assert.match(via[0]!, /^1\.1 \S+$/, `Via: ${via[0]}`);
      const chained = await seenByServer(p, 'h', UNTRUSTED, 'GET /via HTTP/1.1\r\nHost: h.test\r\nVia: 1.0 edge\r\n\r\n');
      assert.deepEqual(values(chained, 'via'), [`1.0 edge, ${via[0]}`]);
    });
  } finally {
    await p.stop();
    await b.close();
  }
});

test('response hop-by-hop headers are stripped; Via added', async () => {
  // A raw server so the response headers are exactly what we write.
  const body = 'hello';
  const b = await tcpBackend((s) => {
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        s.write(
          'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive, X-Private\r\nKeep-Alive: timeout=77, max=99\r\n' +
            'X-Private: secret\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nProxy-Authenticate: Basic realm="x"\r\nX-Public: ok\r\n\r\n' +
            body,
        );
      }
    });
  });
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'h', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' }],
    pools: [{ name: 'p', servers: [{ address: b.address }] }],
  });
  try {
    const c = await RawClient.open(p.addr('h').port);
    try {
      c.write('GET / HTTP/1.1\r\nHost: h.test\r\n\r\n');
      const r = await c.response();
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), body);
      const names = r.headers.map(([n]) => n.toLowerCase());
      for (const gone of ['x-private', 'proxy-connection', 'upgrade', 'proxy-authenticate']) assert.ok(!names.includes(gone), `${gone} forwarded to the client: ${JSON.stringify(r.headers)}`);
      for (const v of r.headerAll('keep-alive')) assert.ok(!/77|max=99/.test(v), `the server's Keep-Alive reached the client: ${v}`);
      for (const v of r.headerAll('connection')) assert.ok(!/x-private/i.test(v), `the server's Connection reached the client: ${v}`);
      assert.deepEqual(r.headerAll('x-public'), ['ok']);
      assert.equal(r.headerAll('via').length, 1, 'Via added');
      // the client connection is still usable: the proxy's own keep-alive, not the server's
      c.write('GET /again HTTP/1.1\r\nHost: h.test\r\n\r\n');
      assert.equal((await c.response()).status, 200);
    } finally {
      c.destroy();
    }
  } finally {
    await p.stop();
    await b.close();
  }
});
