// HAProxy judges the active health checks of a pool with sendProxyProtocol (issue 16, Proof "Check
// modes"): its binds have `accept-proxy`, so a connection without a well-formed PROXY header is
// refused ("does not look like a PROXY protocol header"). It logs for every connection whether a
// header came (fc_rcvd_proxy) and the addresses it then believes (src, dst). A LOCAL header (v2) /
// UNKNOWN (v1) makes HAProxy keep the real connection's addresses: src is the check's own source
// address (127.0.0.2, from `source.addresses`), not an address carried in the header. The http
// frontend answers 200 to /healthz only when a header was received, so a passing http check is
// HAProxy's own verdict that it parsed one.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../helpers/fullproxy.ts';
import { startHaproxy, type Judge } from '../helpers/judges.ts';
import { waitFor } from '../helpers/wait.ts';

const SOURCE = '127.0.0.2';

let haproxy: Judge;

before(async () => {
  haproxy = await startHaproxy(
    ['web', 'raw'],
    (port) => `
frontend web
  mode http
  bind 127.0.0.1:${port('web')} accept-proxy
  log stderr format raw local0 info
  log-format "web pp=%[fc_rcvd_proxy] src=%[src] dst=%[dst]:%[dst_port] ua=%{+Q}[capture.req.hdr(0)] %{+Q}r %ST"
  http-request capture req.hdr(user-agent) len 64
  http-request return status 200 content-type text/plain string "ok" if { fc_rcvd_proxy } { path /healthz }
  http-request return status 503

frontend raw
  bind 127.0.0.1:${port('raw')} accept-proxy
  log stderr format raw local0 info
  log-format "raw pp=%[fc_rcvd_proxy] src=%[src] dst=%[dst]:%[dst_port]"
  tcp-request content reject
`,
  );
});

after(async () => {
  await haproxy?.stop();
});

/** HAProxy's log lines of one frontend so far. */
function lines(frontend: 'web' | 'raw'): string[] {
  return haproxy.output().split('\n').filter((l) => l.startsWith(`${frontend} `));
}

for (const version of ['v2', 'v1'] as const) {
  for (const type of ['http', 'tcp'] as const) {
    const frontend = type === 'http' ? 'web' : 'raw';
    test(`${type} checks with sendProxyProtocol ${version}: HAProxy (accept-proxy) takes the ${version === 'v2' ? 'LOCAL' : 'UNKNOWN'} header and keeps the real addresses`, async () => {
      const target = `127.0.0.1:${haproxy.port(frontend)}`;
      const before = lines(frontend).length;
      const p = await startProxy({
        listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
        pools: [
          {
            name: 'app',
            servers: [{ address: target }],
            sendProxyProtocol: version,
            source: { addresses: [SOURCE] },
            healthCheck: type === 'http' ? { type, path: '/healthz', interval: 100, rise: 1, fall: 1 } : { type, interval: 100, rise: 1, fall: 1 },
          },
        ],
      });
      try {
        const s = p.proxy.pools.get('app')!.find(target)!;
        await waitFor(() => s.checksPassed >= 3, 5_000, `${type} checks passing`);
        // A tcp check passes on connect: wait for HAProxy to have logged three of them.
        await waitFor(() => lines(frontend).length - before >= 3, 5_000, `HAProxy logging the checks:\n${haproxy.output()}`);
        assert.equal(s.health, 'up');
        assert.equal(s.checksFailed, 0, `no failed check (last: ${JSON.stringify(s.lastCheck)})`);
        if (type === 'http') assert.equal(s.lastCheck?.reason, 'status 200', 'HAProxy answered 200: it received a PROXY header');
        const seen = lines(frontend).slice(before);
        for (const l of seen) {
          // pp=1: a header came; src: the connection's own source address (LOCAL: no addresses in the header).
          assert.match(l, new RegExp(`^${frontend} pp=1 src=${SOURCE.replaceAll('.', '\\.')} dst=127\\.0\\.0\\.1:${haproxy.port(frontend)}`), l);
          if (type === 'http') assert.match(l, /ua="fullproxy-health-check" "GET \/healthz HTTP\/1\.1" 200$/, l);
        }
        assert.doesNotMatch(haproxy.output(), /does not look like a PROXY protocol header|PROXY protocol error/i);
      } finally {
        await p.stop();
      }
    });
  }
}

test('the judge refuses checks without a header: sendProxyProtocol off against accept-proxy fails the http check', async () => {
  const target = `127.0.0.1:${haproxy.port('web')}`;
  const p = await startProxy({
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: target }], healthCheck: { type: 'http', path: '/healthz', interval: 100, rise: 1, fall: 2 } }],
  });
  try {
    const s = p.proxy.pools.get('app')!.find(target)!;
    await waitFor(() => s.health === 'down', 5_000, 'the server taken down');
    assert.equal(s.checksPassed, 0);
    assert.match(s.healthReason, /^2 checks in a row failed, last: /);
    assert.match(haproxy.output(), /does not look like a PROXY protocol header/);
  } finally {
    await p.stop();
  }
});
