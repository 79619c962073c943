// The single mapping from a failure to the status the client gets, and the small body sent
// (SPEC: malformed HTTP 400/413/431, unreachable pool 503, failed server 502, slow server 504).
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { STATUS_CODES } from 'node:http';

export type Failure =
  | 'bad-request'
  | 'header-too-large'
  | 'request-timeout'
  | 'no-server'
  | 'queue-timeout'
  | 'source-exhausted'
  | 'connect-failed'
  | 'server-reset'
  | 'bad-response'
  | 'connect-timeout'
  | 'response-timeout';

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

/** Answers through Node's response object; `close` ends the client connection after it. */
export function sendFailure(res: ServerResponse, failure: Failure, close = false): void {
  if (res.headersSent) {
    // Too late for a status: the client sees a truncated response, the honest signal.
    res.destroy();
    return;
  }
  const status = FAILURE_STATUS[failure];
  const text = body(status, failure);
  res.shouldKeepAlive = res.shouldKeepAlive && !close;
  res.writeHead(status, ['content-type', 'text/plain', 'content-length', String(Buffer.byteLength(text)), 'x-fullproxy-reason', failure, ...(close ? ['connection', 'close'] : [])]);
  res.end(text);
}

/** Answers on the raw socket when Node's parser rejected the request (no response object exists). */
export function sendRawFailure(socket: Socket, failure: Failure): void {
  if (socket.destroyed) return;
  const status = FAILURE_STATUS[failure];
  const text = body(status, failure);
  if (socket.writable) {
    socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
  }
  socket.destroySoon();
}
