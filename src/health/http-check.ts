// The http check: `GET path` with `Host` (the configured host, or the server's address) and
// `Connection: close`; the status of the first final response decides (`expectStatus`, a status or
// an inclusive range). Only the status line is read: the check stops there and closes; interim 1xx
// heads are skipped. Anything else (the server closing or resetting first, a line that is not an
// HTTP/1.x status line, a head over 8 KiB) fails with its reason.
import type { Socket } from 'node:net';
import type { HealthCheckConfig } from '../config/schema.ts';
import type { Server } from '../pool/server.ts';
import type { CheckRun, HealthCheck } from './health-checker.ts';

type HttpCheckConfig = Extract<HealthCheckConfig, { type: 'http' }>;

/** Bytes read before giving up on finding a final status line. */
const MAX_HEAD = 8192;

const STATUS_LINE = /^HTTP\/1\.[01] ([1-5][0-9]{2})(?: |$)/;

/** The first 13 bytes of a final response's status line: `HTTP/1.1 200 ` (or CR after the code). */
const FINAL_START = /^HTTP\/1\.[01] ([2-5][0-9]{2})[ \r]$/;

/**
 * The status of a final response whose status line starts `d` (what a server sends nearly
 * always: the whole head in the first read), read from 13 bytes without copying the rest; 0 when
 * it is not that simple (an interim 1xx, a status line in pieces, not HTTP): finalStatus decides.
 */
export function quickStatus(d: Buffer): number {
  if (d.length < 13) return 0;
  const m = FINAL_START.exec(d.toString('latin1', 0, 13));
  return m === null ? 0 : Number(m[1]);
}

/** `"200-399"` or `"204"` → [low, high]; validated by the schema. */
export function parseStatusRange(spec: string): [number, number] {
  const low = Number(spec.slice(0, 3));
  return [low, spec.length > 3 ? Number(spec.slice(4)) : low];
}

/** The status of the first final response in `head` (latin1), null when more bytes are needed, 0 when it is not HTTP. */
export function finalStatus(head: string): number | null {
  let at = 0;
  for (;;) {
    const eol = head.indexOf('\n', at);
    if (eol < 0) return head.length - at >= 16 && !head.startsWith('HTTP/1.', at) ? 0 : null;
    const m = STATUS_LINE.exec(head.slice(at, head[eol - 1] === '\r' ? eol - 1 : eol));
    if (m === null) return 0;
    const status = Number(m[1]);
    if (status >= 200) return status;
    // An interim response (100, 103): skip its head, the final one follows.
    const crlf = head.indexOf('\r\n\r\n', at);
    const lf = head.indexOf('\n\n', at);
    if (crlf < 0 && lf < 0) return null;
    at = crlf < 0 ? lf + 2 : lf < 0 ? crlf + 4 : Math.min(crlf + 4, lf + 2);
  }
}

function request(path: string, host: string): Buffer {
  return Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: fullproxy-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n`, 'latin1');
}

export function httpCheck(config: HttpCheckConfig): HealthCheck {
  const [low, high] = parseStatusRange(config.expectStatus);
  // The request is the same at every check of a server: made once (per server when the Host is
  // the server's address), not at each of its checks.
  const fixed = config.host === undefined ? null : request(config.path, config.host);
  const perServer = new WeakMap<Server, Buffer>();
  return {
    probe(run: CheckRun, socket: Socket) {
      let req = fixed ?? perServer.get(run.server);
      if (req === undefined) perServer.set(run.server, (req = request(config.path, run.server.address)));
      socket.write(req);
      let head = '';
      socket.on('data', (d: Buffer) => {
        if (run.settled) return;
        if (head === '') {
          const quick = quickStatus(d);
          if (quick !== 0) return run.finish(quick >= low && quick <= high ? 'pass' : 'fail', `status ${quick}`);
        }
        head += d.toString('latin1');
        const status = finalStatus(head);
        if (status === null) {
          if (head.length > MAX_HEAD) run.finish('fail', 'response head too large');
          return;
        }
        if (status === 0) return run.finish('fail', 'not an HTTP response');
        run.finish(status >= low && status <= high ? 'pass' : 'fail', `status ${status}`);
      });
      socket.once('end', () => run.finish('fail', 'closed before a response'));
    },
  };
}
