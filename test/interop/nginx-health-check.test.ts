// Active checks against real servers (issue 16, Proof "Check modes"): an nginx answering 503 on
// /healthz is taken down by http checks while one answering 200 stays up (and gets all the
// traffic); a tcp check against a closed port takes that server down with the reason "refused".
// nginx's access log shows the check requests as it received them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../helpers/fullproxy.ts';
import { refusedPort } from '../helpers/backends.ts';
import { get } from '../helpers/http.ts';
import { startNginx, type Judge } from '../helpers/judges.ts';
import { waitFor } from '../helpers/wait.ts';

let nginx: Judge;

before(async () => {
  nginx = await startNginx(['well', 'sick'], {
    http: (port) => `
  log_format checks '$server_port "$request" $status "$http_user_agent" "$http_host"';
  server {
    listen 127.0.0.1:${port('well')};
    access_log access.log checks;
    location = /healthz { return 200 "well\\n"; }
    location / { add_header x-served-by well; return 200 "well\\n"; }
  }
  server {
    listen 127.0.0.1:${port('sick')};
    access_log access.log checks;
    location = /healthz { return 503 "sick\\n"; }
    location / { add_header x-served-by sick; return 200 "sick\\n"; }
  }
`,
  });
});

after(async () => {
  await nginx?.stop();
});

test('http check: the nginx answering 503 on /healthz goes down ("status 503"), the one answering 200 stays up and gets the traffic', async () => {
  const well = `127.0.0.1:${nginx.port('well')}`;
  const sick = `127.0.0.1:${nginx.port('sick')}`;
  const p = await startProxy({
    listeners: [{ name: 'web', listen: '127.0.0.1:0', protocol: 'http', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: well }, { address: sick }], healthCheck: { type: 'http', path: '/healthz', interval: 100, rise: 2, fall: 3 } }],
  });
  try {
    const pool = p.proxy.pools.get('app')!;
    const w = pool.find(well)!;
    const s = pool.find(sick)!;
    await waitFor(() => s.health === 'down', 5_000, 'the 503 server taken down');
    assert.equal(s.checksFailed, 3, 'exactly fall failures');
    assert.equal(s.checksPassed, 0);
    assert.equal(s.healthReason, '3 checks in a row failed, last: status 503');
    assert.deepEqual({ result: s.lastCheck?.result, reason: s.lastCheck?.reason }, { result: 'fail', reason: 'status 503' });
    await waitFor(() => w.checksPassed >= 3, 5_000, 'the 200 server checked');
    assert.equal(w.health, 'up');
    assert.equal(w.checksFailed, 0);
    assert.equal(w.lastCheck?.reason, 'status 200');
    for (let i = 0; i < 10; i++) {
      const r = await get(p.addr('web').port, { path: `/t${i}` });
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-served-by'], 'well', 'the down server gets no traffic');
    }
    assert.deepEqual(
      p.logs.find('server down').map((l) => [l['server'], l['reason']]),
      [[sick, '3 checks in a row failed, last: status 503']],
      'one down line, for the 503 server only',
    );
    // nginx saw the checks as sent: GET /healthz, our User-Agent, Host = the server's address.
    const log = nginx.file('access.log').split('\n').filter((l) => l.includes('/healthz'));
    const sickLines = log.filter((l) => l.startsWith(`${nginx.port('sick')} `));
    assert.ok(sickLines.length >= 3, log.join('\n'));
    for (const l of sickLines) assert.equal(l, `${nginx.port('sick')} "GET /healthz HTTP/1.1" 503 "fullproxy-health-check" "${sick}"`);
    assert.ok(log.some((l) => l === `${nginx.port('well')} "GET /healthz HTTP/1.1" 200 "fullproxy-health-check" "${well}"`), log.join('\n'));
  } finally {
    await p.stop();
  }
});

test('tcp check: a closed port goes down ("refused"), the nginx port stays up', async () => {
  const well = `127.0.0.1:${nginx.port('well')}`;
  const closed = `127.0.0.1:${await refusedPort()}`;
  const p = await startProxy({
    listeners: [{ name: 'raw', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'app' }],
    pools: [{ name: 'app', servers: [{ address: well }, { address: closed }], healthCheck: { type: 'tcp', interval: 100, rise: 2, fall: 2 } }],
  });
  try {
    const pool = p.proxy.pools.get('app')!;
    const c = pool.find(closed)!;
    const w = pool.find(well)!;
    await waitFor(() => c.health === 'down', 5_000, 'the closed port taken down');
    assert.equal(c.checksFailed, 2);
    assert.equal(c.healthReason, '2 checks in a row failed, last: refused');
    await waitFor(() => w.checksPassed >= 2, 5_000, 'the nginx port checked');
    assert.equal(w.health, 'up');
    assert.equal(w.lastCheck?.reason, 'connected');
  } finally {
    await p.stop();
  }
});
