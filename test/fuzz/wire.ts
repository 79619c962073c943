// The fuzz targets' client: exact bytes, in pieces one event-loop turn apart, then FIN; everything
// that comes back until the connection closes, and how it ended.
import { connect } from 'node:net';

export interface Sent {
  data: Buffer;
  localPort: number;
  /** 'end' (FIN from the peer), 'close', an error code ('ECONNRESET'), or 'timeout' (still open after `timeoutMs`: destroyed). */
  how: string;
}

export function send(port: number, parts: readonly Buffer[], opts: { localAddress?: string; timeoutMs?: number } = {}): Promise<Sent> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true, ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) });
    const chunks: Buffer[] = [];
    let how = 'close';
    let localPort = 0;
    const timer = setTimeout(() => {
      how = 'timeout';
      s.destroy();
    }, opts.timeoutMs ?? 3_000);
    s.once('connect', () => {
      localPort = s.localPort ?? 0;
      let i = 0;
      const next = (): void => {
        if (s.destroyed) return;
        if (i < parts.length) {
          s.write(parts[i++]!);
          setImmediate(next);
        } else s.end();
      };
      next();
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => {
      if (how === 'close') how = 'end';
      s.end();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (how === 'close') how = e.code ?? 'error';
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), localPort, how });
    });
  });
}
