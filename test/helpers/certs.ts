// A throwaway PKI for TLS tests, made with the openssl CLI into a temp dir at run time: a test CA
// and leaf certificates for chosen names. No private key is ever committed (issue 15).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Leaf {
  cert: string;
  key: string;
  /** Upper-case hex, as getPeerCertificate().serialNumber shows it. */
  serial: string;
}

export interface TestPki {
  dir: string;
  caCert: string;
  ca: Buffer;
  /** A leaf for `names` (SAN DNS names; IP addresses go in as IP SANs), signed by the CA. */
  leaf(file: string, names: readonly string[], opts?: { keyType?: 'rsa' | 'ec'; days?: number }): Leaf;
}

function openssl(args: readonly string[], cwd: string): string {
  return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

export function makePki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'fullproxy-pki-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=fullproxy test CA', '-keyout', 'ca.key', '-out', 'ca.crt'], dir);
  const caCert = join(dir, 'ca.crt');
  return {
    dir,
    caCert,
    ca: readFileSync(caCert),
    leaf(file, names, opts = {}) {
      const keyArgs = opts.keyType === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
      openssl(['req', ...keyArgs, '-nodes', '-subj', `/CN=${names[0] ?? file}`, '-keyout', `${file}.key`, '-out', `${file}.csr`], dir);
      const san = names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
      writeFileSync(join(dir, `${file}.ext`), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
      openssl(['x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', String(opts.days ?? 2), '-extfile', `${file}.ext`, '-out', `${file}.crt`], dir);
      const serial = openssl(['x509', '-in', `${file}.crt`, '-noout', '-serial'], dir).trim().replace(/^serial=/, '').toUpperCase();
      return { cert: join(dir, `${file}.crt`), key: join(dir, `${file}.key`), serial };
    },
  };
}
