// Proof "SNI passthrough" of issue 15 with real tools: a fullproxy tcp listener with
// `routes: [{sni, pool}]` in front of three nginx instances that terminate TLS themselves
// (`listen ... ssl`, each with its own certificate from one throwaway CA): a.test → pool pa,
// b.test → pool pb, anything else (an unknown name, no SNI) → the default pool. curl verifies each
// certificate against the CA and the name, so the client sees the server's certificate (serial and
// subject checked) and the answer of that nginx, which saw the client's own server name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { startNginx, type Judge } from '../helpers/judges.ts';
import { startProxy } from '../helpers/fullproxy.ts';
import { makePki, type Leaf } from '../helpers/certs.ts';

const pki = makePki();
const leaves = {
  a: pki.leaf('nginx-a', ['a.test']),
  b: pki.leaf('nginx-b', ['b.test']),
  // The default pool's server: reached by an unknown name, or by IP (no SNI).
  dflt: pki.leaf('nginx-default', ['other.test', '127.0.0.1']),
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

/** nginx terminating TLS with `leaf`, answering with its own name and the SNI it received. */
function tlsNginx(server: string, leaf: Leaf): Promise<Judge> {
  return startNginx(['tls'], {
    http: (port) => `
  server {
    listen 127.0.0.1:${port('tls')} ssl;
    ssl_certificate ${leaf.cert};
    ssl_certificate_key ${leaf.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / { default_type text/plain; return 200 "server=${server} sni=$ssl_server_name\\n"; }
  }`,
  });
}

/** curl to `url` (verified against the test CA): the body, the status, the first certificate's serial and subject. */
async function curl(args: readonly string[]): Promise<{ body: string; status: string; serial: string; subject: string }> {
  const r = await run('curl', ['-sS', '--cacert', pki.caCert, '-w', '%{http_code}\\n%{certs}', ...args]);
  assert.equal(r.code, 0, `curl ${args.join(' ')} failed: ${r.stderr}`);
  const [body, status, ...certs] = r.stdout.split('\n'); // nginx's body ends in a newline, then -w
  const text = certs.join('\n');
  return {
    body: body!,
    status: status!,
    serial: serialHex(/Serial Number:\s*([0-9a-fA-F:]+)/.exec(text)?.[1] ?? ''),
    subject: /Subject:\s*(.*)/.exec(text)?.[1]?.trim() ?? '',
  };
}

test('SNI passthrough: two names reach two pools of nginx servers terminating TLS themselves; the client sees their certificates; others go to the default pool', async (t) => {
  for (const [tool, arg] of [['curl', '--version'], ['openssl', 'version']] as const) await run(tool, [arg]).catch(() => assert.fail(`${tool} is not installed (CI: .ci/run installs it)`));
  const [na, nb, nd] = await Promise.all([tlsNginx('a', leaves.a), tlsNginx('b', leaves.b), tlsNginx('default', leaves.dflt)]);
  t.after(() => Promise.all([na.stop(), nb.stop(), nd.stop()]));
  const p = await startProxy({
    logging: { level: 'silent' },
    listeners: [{ name: 'sni', listen: '127.0.0.1:0', protocol: 'tcp', pool: 'dflt', routes: [{ sni: 'a.test', pool: 'pa' }, { sni: 'b.test', pool: 'pb' }] }],
    pools: [
      { name: 'pa', servers: [{ address: `127.0.0.1:${na.port('tls')}` }] },
      { name: 'pb', servers: [{ address: `127.0.0.1:${nb.port('tls')}` }] },
      { name: 'dflt', servers: [{ address: `127.0.0.1:${nd.port('tls')}` }] },
    ],
  });
  t.after(() => p.stop());
  const port = p.addr('sni').port;

  for (const [name, server, leaf] of [['a.test', 'a', leaves.a], ['b.test', 'b', leaves.b], ['other.test', 'default', leaves.dflt]] as const) {
    await t.test(`curl --resolve ${name}: nginx ${server}'s certificate (serial ${leaf.serial}) and its 200`, async () => {
      const r = await curl(['--resolve', `${name}:${port}:127.0.0.1`, `https://${name}:${port}/`]);
      assert.equal(r.status, '200');
      assert.equal(r.body, `server=${server} sni=${name}`, 'that nginx answered, and it got the client\'s server name (the ClientHello went through unchanged)');
      assert.equal(r.serial, serialHex(leaf.serial));
      assert.match(r.subject, new RegExp(`CN ?= ?${name.replace('.', '\\.')}`));
    });
  }

  await t.test('no SNI (curl to an IP address, openssl s_client -noservername): the default pool\'s nginx', async () => {
    const r = await curl([`https://127.0.0.1:${port}/`]);
    assert.equal(r.status, '200');
    assert.equal(r.body, 'server=default sni=');
    assert.equal(r.serial, serialHex(leaves.dflt.serial));
    const s = await run('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-noservername', '-CAfile', pki.caCert], 'Q\n');
    const x509 = await run('openssl', ['x509', '-noout', '-serial'], s.stdout);
    assert.equal(serialHex(x509.stdout.trim().replace(/^serial=/, '')), serialHex(leaves.dflt.serial), `s_client output:\n${s.stdout}\n${s.stderr}`);
  });
});
