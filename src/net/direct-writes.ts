// Writes on the data path go straight to the socket's handle (libuv) instead of through the
// Writable stream, when nothing is queued in the stream.
//
// Why: a socket.write() of an already-framed buffer runs Writable.write → writeOrBuffer →
// Socket._write → writeGeneric, allocates a WriteWrap (a native-backed object) and updates the
// stream's bookkeeping, all to end in the same handle.writeBuffer() call. Most writes on loopback
// complete inside that call (uv_try_write), so the bookkeeping is pure cost: with two writes per
// proxied request it was 4 % of the process's time in the http profile under bench S1 (a sixth
// of its JavaScript time), and skipping it cut CPU per request by ~5 % in tcp and http mode
// (alternating A/B runs; the issue 4 note of 2026-11-22 has the figures).
//
// How: the WriteWrap class and the write-result fields come from the stream_wrap binding (the one
// Node's own net.js uses; process.binding is deprecated in the documentation only, and warns
// under --pending-deprecation). One spare WriteWrap serves every write that completes at once (the
// native side only takes hold of it when a write has to wait). A write that waits keeps its bytes
// referenced until libuv is done; the caller gets false, as from socket.write() on a full queue,
// and 'drain' once every waiting direct write has completed. bytesWritten stays right (Node reads
// it from the handle's own counter), and end() still sends its FIN after these bytes because
// libuv's shutdown waits for queued writes.
//
// Anything the stream might still hold (queued or corked bytes, connecting, ended) takes the
// normal socket.write(), so bytes never overtake each other. So does any socket whose handle is
// not a plain TCP handle (TLS, pipe: fast-paths.ts). These are Node internals, checked at load
// (the binding's fields and the TCP handle's writeBuffer/writeLatin1String): without them every
// write is a socket.write() (same behaviour, more CPU), and test/unit/net/direct-writes.test.ts
// fails so the loss is noticed. FULLPROXY_FAST_PATHS=off forces that fallback (fast-paths.ts).
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { FAST_PATHS_OFF, isTcpHandle, tcpHandleHas } from './fast-paths.ts';

interface WriteReq {
  handle: unknown;
  oncomplete: ((this: WriteReq, status: number) => void) | null;
  async: boolean;
  bytes: number;
  buffer: unknown;
  /** Ours: the socket a waiting write belongs to. */
  socket: DirectSocket | null;
}

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

interface StreamHandle {
  writeBuffer(req: WriteReq, data: Buffer): number;
  writeLatin1String(req: WriteReq, data: string): number;
}

const kWaiting = Symbol('directWritesWaiting');

type DirectSocket = Socket & {
  _handle?: StreamHandle | null;
  /** Direct writes libuv has not finished yet. */
  [kWaiting]?: number;
};

/** The stream_wrap binding when it has what this needs, else null (every write then goes through the stream). */
function loadBinding(): StreamWrapBinding | null {
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    if (typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array)) return null;
    if (typeof b.kLastWriteWasAsync !== 'number') return null;
    return b as StreamWrapBinding;
  } catch {
    return null;
  }
}

// Forced off, or a Node without the binding or the handle methods: every write goes through the stream.
const BINDING = FAST_PATHS_OFF || !tcpHandleHas('writeBuffer', 'writeLatin1String') ? null : loadBinding();
const STATE = BINDING?.streamBaseState ?? new Int32Array(4);
const K_ASYNC = BINDING?.kLastWriteWasAsync ?? 0;

/** Which write path data-path sockets get in this Node: for the test and the startup log. */
export function directWritesMode(): 'handle' | 'stream' {
  return BINDING === null ? 'stream' : 'handle';
}

/** A WriteWrap for the next write: the spare, unless a waiting write took it. */
let spare: WriteReq | null = null;

function takeReq(): WriteReq {
  if (spare !== null) {
    const req = spare;
    spare = null;
    return req;
  }
  // Every field set in one order, as Node's createWriteWrap does, so all requests share one shape.
  const req = new BINDING!.WriteWrap();
  req.handle = null;
  req.oncomplete = null;
  req.async = false;
  req.bytes = 0;
  req.buffer = null;
  req.socket = null;
  return req;
}

/** libuv finished a write that had to wait (called by Node as a method of the request). */
function onWaitedWrite(this: WriteReq, status: number): void {
  const socket = this.socket!;
  this.socket = null;
  this.buffer = null;
  const left = (socket[kWaiting] = socket[kWaiting]! - 1);
  if (socket.destroyed) return;
  if (status < 0) socket.destroy(writeError(status));
  // Listeners check their own state, so a 'drain' while the stream still holds bytes is harmless:
  // the next send() then goes through the stream and reports that queue itself.
  else if (left === 0) socket.emit('drain');
}

function writeError(status: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  const err: NodeJS.ErrnoException = new Error(`write ${code}`);
  err.code = code;
  err.errno = status;
  err.syscall = 'write';
  return err;
}

/**
 * Writes `data` (a Buffer, or a latin1 string such as a serialized head) to the socket. Returns
 * false when the bytes had to be queued: wait for 'drain' before writing more, as with socket.write().
 */
export function send(socket: Socket, data: Buffer | string): boolean {
  const s = socket as DirectSocket;
  const handle = s._handle;
  if (BINDING === null || handle == null || !isTcpHandle(handle) || s.writableLength !== 0 || s.writableCorked !== 0 || s.connecting || s.writableEnded || s.destroyed) {
    return typeof data === 'string' ? socket.write(data, 'latin1') : socket.write(data);
  }
  const req = takeReq();
  req.handle = handle;
  const err = typeof data === 'string' ? handle.writeLatin1String(req, data) : handle.writeBuffer(req, data);
  if (STATE[K_ASYNC] === 0) {
    // Done (or failed) inside the call: the native side never took the request, so it is reused.
    req.handle = null;
    spare = req;
    if (err !== 0) s.destroy(writeError(err));
    return true;
  }
  // libuv queued the rest and holds the request until it is written.
  req.oncomplete = onWaitedWrite;
  req.buffer = data;
  req.socket = s;
  s[kWaiting] = (s[kWaiting] ?? 0) + 1;
  return false;
}

/** Nothing of the socket's output is waiting, in the stream or in libuv: buffers written from may be reused. */
export function isFlushed(socket: Socket): boolean {
  return socket.writableLength === 0 && !((socket as DirectSocket)[kWaiting]! > 0);
}
