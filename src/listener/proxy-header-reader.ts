// Reads an inbound PROXY v1/v2 header from a trusted peer before anything else happens (SPEC
// "PROXY header receive"): detected by signature, may arrive in pieces, must be complete within
// acceptProxyProtocol.timeout; bytes after it in the same segment are payload and are put back.
import type { Socket } from 'node:net';
import type { ClientInfo } from '../pool/connector.ts';
import { parseProxyHeader, PROXY_HEADER_MAX_BYTES } from '../net/proxy-protocol.ts';

export type ProxyHeaderOutcome = { ok: true; info: ClientInfo } | { ok: false; reason: string };

/**
 * Calls `done` once: with the client info the header gave (the real connection's for LOCAL /
 * UNKNOWN), or with the reason the connection must be closed. The socket is left paused.
 */
export function readProxyHeader(socket: Socket, real: ClientInfo, timeoutMs: number, done: (o: ProxyHeaderOutcome) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;
  const finish = (o: ProxyHeaderOutcome, rest: Buffer | null): void => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('end', onEnd);
    socket.pause();
    if (rest !== null && rest.length > 0) socket.unshift(rest);
    done(o);
  };
  const onData = (chunk: Buffer): void => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const r = parseProxyHeader(buf);
    if (r.kind === 'incomplete') {
      if (buf.length > PROXY_HEADER_MAX_BYTES) finish({ ok: false, reason: 'header too long' }, null);
      return;
    }
    if (r.kind === 'error') return finish({ ok: false, reason: r.reason }, null);
    const h = r.header;
    const info: ClientInfo =
      h.command === 'local'
        ? real
        : {
            clientAddress: h.addresses.sourceAddress,
            clientPort: h.addresses.sourcePort,
            localAddress: h.addresses.destinationAddress,
            localPort: h.addresses.destinationPort,
            tls: undefined,
          };
    finish({ ok: true, info }, buf.subarray(r.consumed));
  };
  const onError = (): void => finish({ ok: false, reason: 'connection error before the header' }, null);
  const onEnd = (): void => finish({ ok: false, reason: 'connection closed before the header was complete' }, null);
  const timer = setTimeout(() => finish({ ok: false, reason: `no complete header within ${timeoutMs} ms` }, null), timeoutMs);
  socket.on('data', onData);
  socket.once('error', onError);
  socket.once('end', onEnd);
  socket.resume();
}
