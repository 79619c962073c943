// A raw HTTP/1.1 server for tests that must see the exact request bytes the proxy forwards and
// answer with exact bytes of their own (a scripted origin, like vtc's `server s1 { rxreq; txresp }`).
// It cuts requests off each connection (Content-Length or chunked bodies, pipelined or not),
// records each one, and writes whatever `answer` returns for it.
import type { Socket } from 'node:net';
import { tcpBackend, type Backend } from './backends.ts';

export interface SeenRequest {
  /** The request line, e.g. `GET / HTTP/1.1`. */
  line: string;
  /** Field lines as received, in order, names as sent. */
  fields: Array<[string, string]>;
  /** The head exactly as received (through its CRLFCRLF). */
  head: string;
  body: Buffer;
  /** Values of a field, names compared case-insensitively. */
  values(name: string): string[];
}

export interface ScriptedServer {
  backend: Backend;
  seen: SeenRequest[];
  close(): Promise<void>;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/** One request from the start of `buf`, or null when more bytes are needed. */
function cut(buf: Buffer): { req: SeenRequest; used: number } | null {
  const he = buf.indexOf(HEAD_END);
  if (he < 0) return null;
  const head = buf.toString('latin1', 0, he + 4);
  const lines = head.slice(0, -4).split('\r\n');
  const line = lines.shift() ?? '';
  const fields = lines.map((l): [string, string] => {
    const c = l.indexOf(':');
    return [l.slice(0, c), l.slice(c + 1).trim()];
  });
  const values = (name: string): string[] => fields.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  let pos = he + 4;
  let body: Buffer;
  if (values('transfer-encoding').length > 0) {
    const parts: Buffer[] = [];
    for (let guard = 0; ; guard++) {
      if (guard > 100_000) throw new Error('runaway chunked body');
      const eol = buf.indexOf('\r\n', pos);
      if (eol < 0) return null;
      const size = parseInt(buf.toString('latin1', pos, eol).split(';')[0]!, 16);
      pos = eol + 2;
      if (size === 0) {
        const end = buf.indexOf(HEAD_END, pos - 2);
        if (end < 0) return null;
        pos = end + 4;
        break;
      }
      if (buf.length < pos + size + 2) return null;
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    const n = Number(values('content-length')[0] ?? '0');
    if (buf.length < pos + n) return null;
    body = Buffer.from(buf.subarray(pos, pos + n));
    pos += n;
  }
  return { req: { line, fields, head, body, values }, used: pos };
}

/** An answer that also closes the connection after its bytes (`end`: FIN, a close-delimited body ends there). */
export interface ScriptedAnswer {
  data: string | Buffer;
  end: boolean;
}

/**
 * `answer(request, index)`: the bytes to write for the index-th request this server saw (over all
 * connections), or a ScriptedAnswer to close the connection after them.
 */
export async function scriptedServer(answer: (req: SeenRequest, index: number) => string | Buffer | ScriptedAnswer): Promise<ScriptedServer> {
  const seen: SeenRequest[] = [];
  const backend = await tcpBackend((s: Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (let guard = 0; guard < 1000; guard++) {
        const got = cut(buf);
        if (got === null) return;
        buf = buf.subarray(got.used);
        seen.push(got.req);
        const out = answer(got.req, seen.length - 1);
        const a: ScriptedAnswer = typeof out === 'string' || Buffer.isBuffer(out) ? { data: out, end: false } : out;
        s.write(typeof a.data === 'string' ? Buffer.from(a.data, 'latin1') : a.data);
        if (a.end) return void s.end();
      }
    });
    s.on('end', () => s.end());
  });
  return { backend, seen, close: () => backend.close() };
}
