// What the two fast paths on Node internals (client-reads.ts, direct-writes.ts) share: the one
// switch that forces both fallbacks, and the socket handle class they are allowed to touch.
//
// The switch: FULLPROXY_FAST_PATHS=off (any case) makes accepted sockets read through 'data'
// events and every data-path write go through socket.write(), exactly as on a Node that lacks the
// internals. It exists so the fallbacks are exercised: `npm test` runs the e2e suites once more
// with it (issue 13, row 10), and an operator can rule the fast paths out when chasing a bug. It
// is read once, when this module loads; changing it later has no effect.
//
// The handle class: both fast paths talk to the socket's libuv stream handle directly, which is
// only right for a plain TCP socket. A TLS socket's handle is a TLSWrap (writing to it directly
// would bypass the TLSSocket's own queue, and its reads are decrypted by JS-side machinery), and a
// pipe is a different handle with different semantics; such sockets always take the fallback. The
// check is `handle.constructor === TCP_HANDLE`: one property load, nothing allocated.

/** True when FULLPROXY_FAST_PATHS=off: both fast paths report and use their fallback. */
export const FAST_PATHS_OFF: boolean = (process.env['FULLPROXY_FAST_PATHS'] ?? '').toLowerCase() === 'off';

/** The constructor of Node's TCP stream handles (tcp_wrap's TCP), or null when this Node does not expose it. */
export const TCP_HANDLE: (abstract new () => object) | null = loadTcpHandle();

function loadTcpHandle(): (abstract new () => object) | null {
  try {
    const b = (process as unknown as { binding(name: string): { TCP?: unknown } }).binding('tcp_wrap');
    return typeof b.TCP === 'function' ? (b.TCP as abstract new () => object) : null;
  } catch {
    return null;
  }
}

/** Whether TCP handles in this Node have every named method (checked once, at load, by each fast path). */
export function tcpHandleHas(...methods: readonly string[]): boolean {
  if (TCP_HANDLE === null) return false;
  const proto = TCP_HANDLE.prototype as Record<string, unknown>;
  return methods.every((m) => typeof proto[m] === 'function');
}

/** Whether the fast paths may use this socket handle: a plain TCP handle, never TLS or a pipe. */
export function isTcpHandle(handle: object): boolean {
  return TCP_HANDLE !== null && handle.constructor === TCP_HANDLE;
}
