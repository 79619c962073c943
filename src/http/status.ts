// The single mapping from a failure to the status the client gets, and the small body sent
// (SPEC: malformed HTTP 400/431, unreachable pool 503, failed server 502, slow server 504; no 413:
// bodies are streamed, never bounded).
import type { Socket } from 'node:net';
import type { Failure } from '../errors.ts';

// getBuiltinModule, not an ESM import: see admin/admin-server.ts (an ESM import of node:http loads undici).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

// The failure names are the one vocabulary of src/errors.ts (docs/errors.md).
export type { Failure };

export const FAILURE_STATUS: Readonly<Record<Failure, number>> = {
  'bad-request': 400,
  'request-timeout': 408,
  'header-too-large': 431,
  'no-server': 503,
  'queue-timeout': 503,
  'source-exhausted': 503,
  'connect-failed': 502,
  'server-reset': 502,
  'bad-response': 502,
  'connect-timeout': 504,
  'response-timeout': 504,
};

function body(status: number, failure: Failure): string {
  return `${status} ${STATUS_CODES[status] ?? ''}: ${failure}\n`;
}

/**
 * The whole response for a failure, head and body. `connection` is the Connection header to
 * send: "close" when the connection ends after it, "keep-alive" for an HTTP/1.0 client that
 * keeps it, or null (HTTP/1.1 default).
 */
export function failureResponse(failure: Failure, connection: 'close' | 'keep-alive' | null): string {
  const status = FAILURE_STATUS[failure];
  const text = body(status, failure);
  const conn = connection === null ? '' : `connection: ${connection}\r\n`;
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\nx-fullproxy-reason: ${failure}\r\n${conn}\r\n${text}`;
}

/** Answers and closes the connection (malformed requests, tunnels that could not be set up). */
export function sendRawFailure(socket: Socket, failure: Failure): void {
  if (socket.destroyed) return;
  if (socket.writable) socket.end(failureResponse(failure, 'close'), 'latin1');
  socket.destroySoon();
}
