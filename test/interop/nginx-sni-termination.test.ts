// Proof "SNI selection" of issue 15 with real tools: curl and openssl s_client against a fullproxy
// http listener terminating TLS with three certificates (a default, a.test, b.test: one throwaway
// CA, distinct serials), in front of an nginx that is reached in plain HTTP and answers with the
// X-Forwarded-Proto / X-Forwarded-Port it received. `curl --resolve name:port:127.0.0.1 --cacert`
// verifies the chain and the name, `%{certs}` shows the served certificate's serial; a client that
// sends no SNI (s_client -noservername) or an unknown name gets the default certificate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startNginx } from '../helpers/judges.ts';
import { startProxy } from '../helpers/fullproxy.ts';
import { makePki } from '../helpers/certs.ts';

const pki = makePki();
const byName = {
  'default.test': pki.leaf('default', ['default.test']),
  'a.test': pki.leaf('a', ['a.test']),
  'b.test': pki.leaf('b', ['b.test']),
};

/** A serial as hex digits only, upper case, no leading zeros: curl prints `0a:1b:...`, openssl `0A1B...`. */
function serialHex(s: string): string {
  return s.replaceAll(':', '').toUpperCase().replace(/^0+/, '');
}

function run(cmd: string, args: readonly string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(err);
      else resolve({ code: err === null ? 0 : (err.code as number), stdout, stderr });
    });
    child.stdin!.on('error', () => {}); // a tool that does not read its input (EPIPE)
    child.stdin!.end(input);
  });
}

/** The serial of the certificate `openssl s_client` was served (with `-servername` or without SNI). */
async function sClientSerial(port: number, sni: string | null): Promise<{ serial: string; verify: string }> {
  const out = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, ...(sni === null ? ['-noservername'] : ['-servername', sni]), '-CAfile', pki.caCert], 'Q\n');
  const x509 = await run('openssl', ['x509', '-noout', '-serial'], out.stdout);
  assert.equal(x509.code, 0, `no certificate in the s_client output:\n${out.stdout}\n${out.stderr}`);
  return { serial: x509.stdout.trim().replace(/^serial=/, ''), verify: /Verify return code: (.*)/.exec(out.stdout)?.[1] ?? '' };
}

test('SNI selection with curl and openssl: each name its certificate and a 200 from nginx with X-Forwarded-Proto https; no SNI: the default', async (t) => {
  for (const [tool, arg] of [['curl', '--version'], ['openssl', 'version']] as const) await run(tool, [arg]).catch(() => assert.fail(`${tool} is not installed (CI: .ci/run installs it)`));
  const serials = Object.values(byName).map((l) => l.serial);
  assert.equal(new Set(serials).size, 3, 'the three certificates have distinct serials');

  const nginx = await startNginx(['origin'], {
    // $scheme: what nginx itself was spoken to in; the X-Forwarded-* values: what fullproxy sent.
    http: (port) => `
  server {
    listen 127.0.0.1:${port('origin')};
    location / { default_type text/plain; return 200 "scheme=$scheme proto=$http_x_forwarded_proto port=$http_x_forwarded_port host=$host\\n"; }
  }`,
  });
  t.after(() => nginx.stop());

  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [
      {
        name: 'web',
        listen: '127.0.0.1:0',
        protocol: 'http',
        pool: 'nginx',
        tls: { certificates: Object.values(byName).map((l) => ({ cert: l.cert, key: l.key })) },
      },
    ],
    pools: [{ name: 'nginx', servers: [{ address: `127.0.0.1:${nginx.port('origin')}` }] }],
  });
  t.after(() => p.stop());
  const port = p.addr('web').port;

  for (const [name, leaf] of Object.entries(byName)) {
    await t.test(`curl --resolve ${name}: its certificate (serial ${leaf.serial}), verified by name, and 200 from nginx over plain HTTP`, async () => {
      const r = await run('curl', ['-sS', '--resolve', `${name}:${port}:127.0.0.1`, '--cacert', pki.caCert, '-w', '%{http_code}\\n%{certs}', `https://${name}:${port}/`]);
      assert.equal(r.code, 0, `curl failed: ${r.stderr}`);
      const [body, status, ...certs] = r.stdout.split('\n'); // nginx's body ends in a newline, then -w
      assert.equal(status, '200');
      assert.equal(body, `scheme=http proto=https port=${port} host=${name}`, 'nginx got plain HTTP with X-Forwarded-Proto https and the listener port');
      const served = /Serial Number:\s*([0-9a-fA-F:]+)/.exec(certs.join('\n'))?.[1];
      assert.ok(served !== undefined, `no serial in curl's %{certs}:\n${certs.join('\n')}`);
      assert.equal(serialHex(served), serialHex(leaf.serial));
      const s = await sClientSerial(port, name);
      assert.equal(serialHex(s.serial), serialHex(leaf.serial), 'openssl s_client -servername sees the same certificate');
      assert.equal(s.verify, '0 (ok)');
    });
  }

  await t.test('openssl s_client -noservername (no SNI) and an unknown name get the default (first) certificate', async () => {
    const none = await sClientSerial(port, null);
    assert.equal(serialHex(none.serial), serialHex(byName['default.test'].serial));
    const unknown = await sClientSerial(port, 'unknown.test');
    assert.equal(serialHex(unknown.serial), serialHex(byName['default.test'].serial));
  });
});
