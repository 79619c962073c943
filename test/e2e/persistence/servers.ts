// Servers and clients for the persistence tests: tcp servers that say who they are on connect, http
// servers that record the Cookie header they got, a tcp client from a chosen source address, and the
// admin API's drain/enable.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { httpBackend, tcpBackend, type Backend } from '../../helpers/backends.ts';
import type { Server as HttpServer } from 'node:http';

/** A tcp server that writes `<name>\n` first, then echoes. */
export function namedTcp(name: string): Promise<Backend> {
  return tcpBackend((s) => {
    s.write(`${name}\n`);
    s.pipe(s);
  });
}

export interface NamedHttp extends Backend<HttpServer> {
  readonly name: string;
  /** The Cookie header of every request it served (undefined: none), in order. */
  readonly cookies: Array<string | undefined>;
}

/** An http server answering its name (body and x-served-by), recording the Cookie headers it got. */
export async function namedHttp(name: string): Promise<NamedHttp> {
  const cookies: Array<string | undefined> = [];
  const b = await httpBackend(name, (req: IncomingMessage, res: ServerResponse) => {
    cookies.push(req.headers.cookie);
    res.setHeader('x-served-by', name);
    res.end(name);
  });
  return Object.assign(b, { name, cookies });
}

/** Opens a tcp session from `localAddress` and returns the server's name (its first line); the session is closed. */
export function whoServesTcp(port: number, localAddress: string, proxyHeader?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    s.setTimeout(5_000, () => s.destroy(new Error('no greeting in 5 s')));
    s.on('connect', () => {
      if (proxyHeader !== undefined) s.write(proxyHeader);
    });
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      const nl = got.indexOf('\n');
      if (nl === -1) return;
      s.end();
      s.destroy();
      resolve(got.slice(0, nl));
    });
    s.on('error', reject);
    s.on('close', () => reject(new Error(`closed before a greeting (got ${JSON.stringify(got)})`)));
  });
}

/** POST /api/v1/pools/:pool/servers/:address/{drain|enable} on the admin API. */
export async function setAdmin(adminPort: number, pool: string, address: string, action: 'drain' | 'enable'): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/api/v1/pools/${encodeURIComponent(pool)}/servers/${encodeURIComponent(address)}/${action}`, { method: 'POST' });
  if (r.status !== 200) throw new Error(`${action} ${address}: ${r.status} ${await r.text()}`);
}
