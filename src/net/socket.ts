// Socket options and the two ways to end a socket: close (FIN) and reset (RST).
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * TCP keepalive; `ms` false = off. Probes do not move bytesRead/bytesWritten, so they never count
 * as activity. (TCP_NODELAY is set where sockets are made — net.createServer / net.connect
 * `noDelay` — so it costs no extra syscall here: one per connection matters in S2 of the bench.)
 */
export function applySocketOptions(socket: Socket, keepAlive: number | false): void {
  if (keepAlive !== false) socket.setKeepAlive(true, keepAlive);
}

/** Sends RST (SO_LINGER 0) and frees the socket; both ends learn at once that the session is gone. */
export function resetSocket(socket: Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy() throws ERR_SOCKET_CLOSED when the handle is gone (e.g. still connecting).
  if (socket.readyState === 'opening' || (socket as unknown as { _handle: unknown })._handle == null) {
    socket.destroy();
    return;
  }
  // After end() the handle is shutting down, and libuv refuses a reset then (uv_tcp_close_reset:
  // EINVAL); Node then drops the handle without closing it, and the fd stays in the event loop for
  // good, spinning it. The FIN is on its way anyway: close instead.
  if (socket.writableEnded) {
    socket.destroy();
    return;
  }
  socket.resetAndDestroy();
}

/** Ends with FIN after queued data is written; destroys if the peer never closes its side. */
export function closeSocket(socket: Socket): void {
  if (socket.destroyed) return;
  socket.end();
  socket.destroySoon();
}

/** All bytes that moved on the socket either way: the idle sweep compares it tick to tick. */
export function socketBytes(socket: Socket): number {
  return socket.bytesRead + socket.bytesWritten;
}

const kRaw = Symbol('tcpUnderTls');
const kResettable = Symbol('resettable');
type ResettableTls = TLSSocket & { [kRaw]?: Socket; [kResettable]?: boolean };

/**
 * Lets resetSocket() reset a TLSSocket: its own resetAndDestroy() throws (its handle is not a TCP
 * one), so the RST goes out on the TCP socket `raw` under it — idle resets, the kill button, an
 * error on the other side work on TLS sessions too (listener/tls.ts, pool/connector.ts). Until
 * tlsHandshakeDone() a reset closes plainly.
 */
export function allowTlsReset(tls: TLSSocket, raw: Socket): void {
  (tls as ResettableTls)[kRaw] = raw;
  tls.resetAndDestroy = resetTlsSocket;
}

/**
 * The handshake of `tls` completed: resets may use the TCP socket from the next turn of the loop
 * on. Not in the tick the handshake completed in: Node crashes (SIGSEGV) when the TCP handle is
 * reset on OpenSSL's stack.
 */
export function tlsHandshakeDone(tls: TLSSocket): void {
  setImmediate(markResettable, tls);
}

/** The TCP socket under a TLSSocket that allowTlsReset() was given, else the socket itself. */
export function tcpSocketOf(socket: Socket): Socket {
  return (socket as ResettableTls)[kRaw] ?? socket;
}

function markResettable(tls: ResettableTls): void {
  tls[kResettable] = true;
}

function resetTlsSocket(this: ResettableTls): ResettableTls {
  const raw = this[kRaw];
  if (this[kResettable] === true && raw !== undefined && !raw.destroyed && (raw as unknown as { _handle: unknown })._handle != null) raw.resetAndDestroy();
  this.destroy();
  return this;
}
