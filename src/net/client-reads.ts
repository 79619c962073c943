// Accepted client sockets read into the shared scratch buffer (read-buffers.ts) instead of Node
// allocating a 64 KiB buffer per read and pushing it through the Readable stream.
//
// Why: every client read otherwise costs a malloc, a realloc, an ArrayBuffer and a FastBuffer,
// and the young-generation GC must then sweep thousands of dead ArrayBuffers: measured under the
// S7 load of bench/ (tcp, 36k req/s, --trace-gc-nvp), 0.7–1.0 ms of each 1.0–1.3 ms scavenge was
// "sweep_array_buffers"; with these reads a scavenge takes 0.3 ms, and the p99 of S1-like load
// fell in every alternating pair (CPU per request moved less than the machine's noise; the
// issue 4 note of 2026-11-22 has the figures and commands).
//
// How: Node has exactly this mode for sockets it creates from options (`onread`, which the server
// side uses via net.connect), but net.Server builds accepted sockets without it. So an accepted,
// still paused socket is switched into the same mode by hand: the three per-socket slots that
// Socket's `onread` option fills (found by their symbol names on a probe socket) and the handle's
// useUserBuffer. pause()/resume(), 'end', bytesRead and timeouts then work as for onread sockets.
// These are Node internals, checked at load (the slots on a probe socket, the TCP handle's
// useUserBuffer) and per socket (a plain TCP handle only, never TLS or a pipe: fast-paths.ts): if
// a Node version lacks them, sockets stay on 'data' events (same behaviour, more garbage), and
// test/unit/net/client-reads.test.ts fails so the loss is noticed. FULLPROXY_FAST_PATHS=off
// forces that fallback (fast-paths.ts).
//
// The callee owns every chunk it gets (a copy out of the scratch buffer), so code that keeps a
// chunk (ByteBuffer, queued writes) behaves exactly as with 'data' events.
import { Socket } from 'node:net';
import { SHARED_READ_BUFFER, copyOfScratch } from './read-buffers.ts';
import { FAST_PATHS_OFF, isTcpHandle, tcpHandleHas } from './fast-paths.ts';

/** Receives one read: `this` is the socket; the chunk is the callee's to keep. */
export type ChunkHandler = (this: Socket, chunk: Buffer) => void;

const kHandler = Symbol('clientReadHandler');
const kUserBuffer = Symbol('clientReadUserBuffer');

interface ReadSlots {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

/** The symbols behind Socket's `onread` option in this Node, or null when they are not there. */
function findReadSlots(): ReadSlots | null {
  const probe = new Socket({ onread: { buffer: SHARED_READ_BUFFER, callback: () => true } });
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((s) => [s.description, s]));
  const slots = { buffer: byName.get('kBuffer'), callback: byName.get('kBufferCb'), generator: byName.get('kBufferGen') };
  probe.destroy();
  const p = probe as unknown as Record<symbol, unknown>;
  if (slots.buffer === undefined || slots.callback === undefined || slots.generator === undefined) return null;
  if (p[slots.buffer] !== SHARED_READ_BUFFER || typeof p[slots.callback] !== 'function' || p[slots.generator] !== null) return null;
  return slots as ReadSlots;
}

// Forced off, or a Node without the handle method: no probe, every socket on 'data' events.
const SLOTS = FAST_PATHS_OFF || !tcpHandleHas('useUserBuffer') ? null : findReadSlots();

type ClientSocket = Socket & {
  [kHandler]?: ChunkHandler | null;
  [kUserBuffer]?: boolean;
  _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null;
};

/** Which read path accepted sockets get in this Node: for the test and the startup log. */
export function clientReadsMode(): 'user-buffer' | 'data-events' {
  return SLOTS === null ? 'data-events' : 'user-buffer';
}

/** One read into the scratch buffer (Node calls it as a method of the socket). */
function onUserRead(this: ClientSocket, n: number): boolean {
  const chunk = copyOfScratch(n);
  const handler = this[kHandler];
  // No handler: the bytes go into the stream, for 'data' listeners and pipe (Upgrade tunnels). A
  // full stream makes Node stop the handle (false), as for its own reads, and Socket._read starts
  // it again once the reader catches up; pause() here would also stop a flowing pipe for good.
  if (handler == null) return this.push(chunk);
  handler.call(this, chunk);
  // Pausing is the handler's business (socket.pause() stops the handle in this mode too).
  return true;
}

/** 'data' events, when the user-buffer mode is not available for a socket. */
function onDataEvent(this: ClientSocket, chunk: Buffer): void {
  this[kHandler]?.call(this, chunk);
}

function enterUserBufferMode(socket: ClientSocket): boolean {
  const handle = socket._handle;
  // Bytes already in the stream (a PROXY header reader put payload back) must come out first, in
  // order, through 'data'; so must a socket Node did not create from a handle we can reach.
  // A TLS or pipe socket has a handle of another class: its reads stay with Node (fast-paths.ts).
  if (SLOTS === null || handle == null || !isTcpHandle(handle) || typeof handle.useUserBuffer !== 'function' || socket.readableLength > 0) return false;
  const slots = socket as unknown as Record<symbol, unknown>;
  slots[SLOTS.buffer] = SHARED_READ_BUFFER;
  slots[SLOTS.generator] = null;
  slots[SLOTS.callback] = onUserRead;
  handle.useUserBuffer(SHARED_READ_BUFFER);
  return true;
}

/**
 * From now on the socket's reads go to `handler` instead of 'data' events; null sends them back
 * into the stream ('data', pipe). Call it on a paused, accepted socket before resume().
 */
export function deliverReads(socket: Socket, handler: ChunkHandler | null): void {
  const s = socket as ClientSocket;
  s[kHandler] = handler;
  s[kUserBuffer] ??= enterUserBufferMode(s);
  if (s[kUserBuffer]) return;
  // 'data' events instead: one shared listener while there is a handler.
  s.removeListener('data', onDataEvent);
  if (handler !== null) s.on('data', onDataEvent);
}
