// Request header names with `_` (issue 13 row 8): dropped by default, as nginx does
// (`underscores_in_headers off`), because CGI, WSGI and PHP map `X_Forwarded_For` and
// `X-Forwarded-For` to the same HTTP_X_FORWARDED_FOR; a listener with
// `underscoresInHeaders: "keep"` forwards them. The judge: a real nginx with
// `underscores_in_headers on` (a server that reads them) cannot tell `X_Forwarded_Proto` from
// `X-Forwarded-Proto` and believes the first one it sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startProxy } from '../../helpers/fullproxy.ts';
import { rawRequest } from '../../helpers/http.ts';
import { nginxBinary, startNginx, NGINX_CANDIDATES } from '../../helpers/nginx.ts';
import { scriptedServer } from '../../helpers/scripted-server.ts';

const SPOOF = 'GET /u HTTP/1.1\r\nHost: a.test\r\nX_Forwarded_For: 6.6.6.6\r\nX-Forwarded-For: 7.7.7.7\r\nx_custom_name: 1\r\nX-Plain: 2\r\n\r\n';

test('X_Forwarded_For is dropped by default and kept with underscoresInHeaders "keep"; the real X-Forwarded-For is the proxy\'s either way (issue 13 row 8)', async (t) => {
  const server = await scriptedServer(() => 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX_Response_Field: kept\r\n\r\nok');
  t.after(() => server.close()); // registered at once: a failing start must not leave it running
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      { name: 'default', listen: '127.0.0.1:0', protocol: 'http', pool: 'p' },
      { name: 'drop', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', underscoresInHeaders: 'drop' },
      { name: 'keep', listen: '127.0.0.1:0', protocol: 'http', pool: 'p', underscoresInHeaders: 'keep' },
    ],
    pools: [{ name: 'p', servers: [{ address: server.backend.address }] }],
  });
  t.after(() => p.stop());
  for (const listener of ['default', 'drop', 'keep']) {
    await t.test(listener, async () => {
      const before = server.seen.length;
      const r = await rawRequest(p.addr(listener).port, SPOOF);
      assert.equal(r.status, 200);
      assert.equal(r.header('x_response_field'), 'kept', 'responses are not filtered (nginx neither)');
      const seen = server.seen[before]!;
      const underscored = seen.fields.filter(([n]) => n.includes('_'));
      if (listener === 'keep') assert.deepEqual(underscored, [['X_Forwarded_For', '6.6.6.6'], ['x_custom_name', '1']]);
      else assert.deepEqual(underscored, [], `names with _ forwarded: ${JSON.stringify(seen.head)}`);
      assert.deepEqual(seen.values('x-forwarded-for'), ['127.0.0.1'], 'the client\'s X-Forwarded-For is replaced by the peer');
      assert.deepEqual(seen.values('x-plain'), ['2']);
    });
  }
});

test('judged by nginx (underscores_in_headers on): a spoofed X_Forwarded_Proto no longer reaches it; Content-Length 0005 arrives as 5 (issue 13 rows 7, 8)', async (t) => {
  assert.ok(nginxBinary() !== null, `nginx is not installed (looked in ${NGINX_CANDIDATES.join(', ')}): apt-get install nginx (CI's .ci/run does)`);
  // nginx's $http_<name> matches `_` in a received name as if it were `-`, first line wins: what a
  // CGI/WSGI/PHP backend does with HTTP_X_FORWARDED_PROTO.
  const nginx = await startNginx({
    logFormat: '$request_uri',
    http: 'underscores_in_headers on;',
    server: 'location / { default_type text/plain; return 200 "proto=$http_x_forwarded_proto xff=$http_x_forwarded_for cl=$http_content_length\\n"; }',
  });
  t.after(() => nginx.stop());
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      { name: 'default', listen: '127.0.0.1:0', protocol: 'http', pool: 'nginx' },
      { name: 'keep', listen: '127.0.0.1:0', protocol: 'http', pool: 'nginx', underscoresInHeaders: 'keep' },
    ],
    pools: [{ name: 'nginx', servers: [{ address: `127.0.0.1:${nginx.port}` }] }],
  });
  t.after(() => p.stop());
  const req = 'POST /judge HTTP/1.1\r\nHost: a.test\r\nX_Forwarded_Proto: https\r\nX_Forwarded_For: 6.6.6.6\r\nContent-Length: 0005\r\n\r\nhello';
  // Straight to nginx: the spoof works there, which is why the proxy must not pass it on.
  const direct = await rawRequest(nginx.port, req);
  assert.equal(direct.body.toString(), 'proto=https xff= cl=0005\n');
  const dropped = await rawRequest(p.addr('default').port, req);
  assert.equal(dropped.status, 200);
  assert.equal(dropped.body.toString(), 'proto=http xff=127.0.0.1 cl=5\n');
  // "keep" is nginx's own `on`: the operator asked for the names, the backend reads them.
  const kept = await rawRequest(p.addr('keep').port, req);
  assert.equal(kept.body.toString(), 'proto=https xff=127.0.0.1 cl=5\n');
});
