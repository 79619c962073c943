// HTTP/1.1 on raw sockets for tests that must control every byte: a client that writes exact
// bytes and parses the responses itself (status, headers, CL/chunked/close-delimited bodies,
// trailers, 1xx), plus small wrappers around node:http for ordinary requests.
import { connect, type Socket } from 'node:net';
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';

export interface HttpResponse {
  version: string;
  status: number;
  reason: string;
  /** Header fields in wire order, names as sent. */
  headers: Array<[string, string]>;
  /** Trailer fields of a chunked body. */
  trailers: Array<[string, string]>;
  body: Buffer;
  /** The body was sent with Transfer-Encoding: chunked. */
  chunked: boolean;
  /** First value of a header (case-insensitive), or undefined. */
  header(name: string): string | undefined;
  /** Every value of a header (case-insensitive). */
  headerAll(name: string): string[];
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

function makeResponse(version: string, status: number, reason: string, headers: Array<[string, string]>): HttpResponse {
  return {
    version,
    status,
    reason,
    headers,
    trailers: [],
    body: Buffer.alloc(0),
    chunked: false,
    header(name) {
      const l = name.toLowerCase();
      return headers.find(([n]) => n.toLowerCase() === l)?.[1];
    },
    headerAll(name) {
      const l = name.toLowerCase();
      return headers.filter(([n]) => n.toLowerCase() === l).map(([, v]) => v);
    },
  };
}

function parseFields(lines: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of lines) {
    if (line === '') continue;
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`malformed header line ${JSON.stringify(line)}`);
    out.push([line.slice(0, i), line.slice(i + 1).trim()]);
  }
  return out;
}

/**
 * Parses one response from the start of `buf`. Returns null when more bytes are needed (at
 * `eof`, a close-delimited body ends there). `head`: the request was HEAD (no body).
 */
export function parseResponse(buf: Buffer, eof: boolean, head = false): { res: HttpResponse; consumed: number } | null {
  const headEnd = buf.indexOf(HEAD_END);
  if (headEnd < 0) return null;
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = lines.shift() ?? '';
  const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
  if (m === null) throw new Error(`malformed status line ${JSON.stringify(statusLine)}`);
  const res = makeResponse(m[1]!, Number(m[2]), m[3] ?? '', parseFields(lines));
  let pos = headEnd + 4;
  if (head || (res.status >= 100 && res.status < 200) || res.status === 204 || res.status === 304) return { res, consumed: pos };
  const te = res.header('transfer-encoding');
  if (te !== undefined && /chunked\s*$/i.test(te)) {
    res.chunked = true;
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf(CRLF, pos);
      if (eol < 0) return null;
      const size = parseInt(buf.subarray(pos, eol).toString('latin1').split(';')[0]!.trim(), 16);
      if (!Number.isFinite(size)) throw new Error('malformed chunk size');
      pos = eol + 2;
      if (size === 0) {
        // trailer section up to an empty line
        const trailerLines: string[] = [];
        for (;;) {
          const e = buf.indexOf(CRLF, pos);
          if (e < 0) return null;
          const line = buf.subarray(pos, e).toString('latin1');
          pos = e + 2;
          if (line === '') break;
          trailerLines.push(line);
        }
        res.trailers = parseFields(trailerLines);
        res.body = Buffer.concat(parts);
        return { res, consumed: pos };
      }
      if (buf.length < pos + size + 2) return null;
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
  }
  const cl = res.header('content-length');
  if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < pos + n) return null;
    res.body = Buffer.from(buf.subarray(pos, pos + n));
    return { res, consumed: pos + n };
  }
  if (!eof) return null;
  res.body = Buffer.from(buf.subarray(pos));
  return { res, consumed: buf.length };
}

export interface RawClientOptions {
  host?: string;
  localAddress?: string;
}

/** A client connection that writes exact bytes and reads responses one by one. */
export class RawClient {
  readonly socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #eof = false;
  #closedHow: string | null = null;
  #wake: (() => void) | null = null;
  /** Resolves when the connection is gone: 'end' (the peer sent FIN), 'reset', or an error code. */
  readonly closed: Promise<string>;

  private constructor(socket: Socket) {
    this.socket = socket;
    let how = 'close';
    this.closed = new Promise((resolve) => {
      socket.on('data', (d: Buffer) => {
        this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
        this.#poke();
      });
      socket.on('end', () => {
        this.#eof = true;
        if (how === 'close') how = 'end';
        socket.end(); // answer FIN with FIN, as a normal peer does
        this.#poke();
      });
      socket.on('error', (e: NodeJS.ErrnoException) => {
        how = e.code === 'ECONNRESET' ? 'reset' : (e.code ?? 'error');
      });
      socket.on('close', () => {
        this.#eof = true;
        this.#closedHow = how;
        this.#poke();
        resolve(how);
      });
    });
  }

  static open(port: number, opts: RawClientOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = connect({ port, host: opts.host ?? '127.0.0.1', allowHalfOpen: true, noDelay: true, ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}) });
      s.once('error', reject);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(new RawClient(s));
      });
    });
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** True once the peer closed its side (or the socket is gone). */
  get eof(): boolean {
    return this.#eof;
  }

  /** Bytes received and not yet consumed by response(). */
  get pending(): Buffer {
    return this.#buf;
  }

  /** The next complete response (1xx included). Rejects on timeout or when the connection ends first. */
  async response(opts: { head?: boolean; timeoutMs?: number } = {}): Promise<HttpResponse> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
    for (;;) {
      const parsed = parseResponse(this.#buf, this.#eof, opts.head ?? false);
      if (parsed !== null) {
        this.#buf = this.#buf.subarray(parsed.consumed);
        return parsed.res;
      }
      if (this.#eof) throw new Error(`connection closed (${this.#closedHow ?? 'end'}) before a complete response; got ${JSON.stringify(this.#buf.toString('latin1').slice(0, 200))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete response within ${opts.timeoutMs ?? 5_000} ms; got ${JSON.stringify(this.#buf.toString('latin1').slice(0, 200))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Waits until the connection is closed by the peer; rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = 3_000): Promise<string> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.closed,
        new Promise<string>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits until the peer sent FIN (or the socket closed); rejects after `timeoutMs`. */
  async waitEof(timeoutMs = 3_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#eof) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** One request on a new raw connection: writes `bytes`, reads one response, closes. */
export async function rawRequest(port: number, bytes: string | Buffer, opts: RawClientOptions & { head?: boolean; timeoutMs?: number } = {}): Promise<HttpResponse> {
  const c = await RawClient.open(port, opts);
  try {
    c.write(bytes);
    return await c.response(opts);
  } finally {
    c.destroy();
  }
}

export interface SimpleResponse {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

export interface SimpleRequest {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
  localAddress?: string;
  host?: string;
  /** Default: a new connection per request (agent: false). */
  agent?: import('node:http').Agent | false;
  timeoutMs?: number;
}

/** A request with node:http (new connection unless an agent is given); the whole body buffered. */
export function get(port: number, opts: SimpleRequest = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: opts.host ?? '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers ?? {},
        agent: opts.agent ?? false,
        ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Header pairs of Node's flat rawHeaders, names lowercased. */
export function pairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < raw.length; i += 2) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

/** p-th percentile (0..100) of a list of numbers. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
