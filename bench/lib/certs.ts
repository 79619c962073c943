// The throwaway certificates of the TLS scenarios (S4, S5): made with the openssl CLI in the run's
// temp dir on first use (a CA, then one ECDSA P-256 and one RSA 2048 leaf for "bench.test" and
// 127.0.0.1), removed with it at the end. No key ever lands in the repo.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type KeyKind = 'ec' | 'rsa';

export interface BenchCertificate {
  /** PEM certificate (fullproxy, nginx) */
  readonly cert: string;
  /** PEM private key */
  readonly key: string;
  /** certificate + key in one file (HAProxy's `crt`) */
  readonly pem: string;
}

/** The name in the certificates' SAN; clients send it as SNI. */
export const BENCH_SNI = 'bench.test';

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
}

export function benchCertificate(dir: string, kind: KeyKind): BenchCertificate {
  const d = join(dir, 'certs');
  const out = { cert: join(d, `${kind}.crt`), key: join(d, `${kind}.key`), pem: join(d, `${kind}.pem`) };
  if (existsSync(out.pem)) return out;
  mkdirSync(d, { recursive: true, mode: 0o755 });
  if (!existsSync(join(d, 'ca.crt'))) {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=fullproxy bench CA', '-keyout', 'ca.key', '-out', 'ca.crt'], d);
  }
  const keyArgs = kind === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  openssl(['req', ...keyArgs, '-nodes', '-subj', `/CN=${BENCH_SNI}`, '-keyout', `${kind}.key`, '-out', `${kind}.csr`], d);
  writeFileSync(join(d, `${kind}.ext`), `subjectAltName=DNS:${BENCH_SNI},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', `${kind}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', `${kind}.ext`, '-out', `${kind}.crt`], d);
  writeFileSync(out.pem, Buffer.concat([readFileSync(out.cert), readFileSync(out.key)]), { mode: 0o644 });
  return out;
}
