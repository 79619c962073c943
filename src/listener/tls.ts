// TLS termination on a listener (issue 15): everything TLS of one listener is built by one function
// from its config (buildListenerTls), at generation build time, so a reload swaps certificates the
// way it swaps every other setting: new connections get the new ones, established TLS sessions go
// on with the context they were accepted with.
//
//   certificates ──read, parse, key check──▶ contexts grouped by name set ──▶ SNI table + default
//
// The accept side (TlsHandshakes) wraps an accepted, vetted socket in a server TLSSocket (no
// tls.Server: its per-socket handshake timer and server-wide state are what we replace) and hands
// the decrypted socket to the protocol's handler once the handshake is done. Handshakes that do
// not finish in `handshakeTimeout` are closed from the shared clock tick, not a timer per socket.
import { readFileSync } from 'node:fs';
import { X509Certificate, constants, createPrivateKey } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext, type TLSSocketOptions } from 'node:tls';
import type { ListenerConfig } from '../config/schema.ts';
import { DEFAULTS } from '../config/defaults.ts';
import { readFailure } from '../config/read-failure.ts';
import type { Logger } from '../log.ts';
import type { ClientInfo, ClientTls } from '../pool/connector.ts';
import { clock } from '../util/clock.ts';
import { allowTlsReset, tlsHandshakeDone } from '../net/socket.ts';
import type { ListenerCounters } from './counters.ts';
import { TICKET_LIFETIME_S, type TicketKeys } from './ticket-keys.ts';

/** One `tls.certificates[]` entry: file paths (absolute once load.ts resolved them). */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

/** A certificate pair read and checked: what contexts are built from. */
export interface LoadedCertificate {
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
  /** "rsa", "ec", "ed25519", ...: one context holds at most one pair per type. */
  readonly keyType: string;
  readonly info: CertificateInfo;
}

/** What the admin side and the expiry warning show of a served certificate. */
export interface CertificateInfo {
  /** The certificate file (as resolved). */
  readonly file: string;
  readonly subject: string;
  readonly serial: string;
  /** Expiry, ms since the epoch. */
  readonly notAfter: number;
  /** DNS names of the SAN, lower case; `*.example.com` wildcards as written. */
  readonly names: readonly string[];
}

export type CertificatesResult = { ok: true; certificates: LoadedCertificate[] } | { ok: false; errors: string[] };

/** A certificate expiring sooner than this is worth a warning at load (issue 15 §5). */
export const EXPIRY_WARNING_MS = 30 * 24 * 3600 * 1000;

/**
 * Client-initiated renegotiation is refused outright (SPEC "TLS"; Node alone allows 3 per 10
 * minutes). The server's cipher order wins over the client's (testssl.sh rates "no server cipher
 * order" HIGH): OpenSSL's default list already puts the AEAD suites first, so a client that also
 * offers CBC suites first still gets an AEAD one.
 */
const SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_CIPHER_SERVER_PREFERENCE;

/**
 * Reads and checks every pair of `files`; problems come back as config error lines naming the JSON
 * path (`at` is the `tls` block's, e.g. `listeners[0].tls`) and the file as the config wrote it
 * (`shown`, default: the path itself). Shared by load.ts (check, start, reload) and the build.
 */
export function readCertificates(files: readonly CertificateFiles[], at: string, resolvePath: (file: string) => string = (f) => f): CertificatesResult {
  const errors: string[] = [];
  const certificates: LoadedCertificate[] = [];
  files.forEach((f, i) => {
    const here = `${at}.certificates[${i}]`;
    const certFile = resolvePath(f.cert);
    const keyFile = resolvePath(f.key);
    const read = (file: string, shown: string, key: 'cert' | 'key'): Buffer | null => {
      try {
        return readFileSync(file);
      } catch (err) {
        errors.push(`${here}.${key}: cannot read ${shown}: ${readFailure(err)}`);
        return null;
      }
    };
    const certPem = read(certFile, f.cert, 'cert');
    const keyPem = read(keyFile, f.key, 'key');
    let x509: X509Certificate | null = null;
    if (certPem !== null) {
      try {
        x509 = new X509Certificate(certPem);
      } catch {
        errors.push(`${here}.cert: ${f.cert} is not a PEM certificate`);
      }
    }
    let keyType: string | null = null;
    let key: ReturnType<typeof createPrivateKey> | null = null;
    if (keyPem !== null) {
      try {
        key = createPrivateKey(keyPem);
        keyType = key.asymmetricKeyType ?? 'unknown';
      } catch {
        errors.push(`${here}.key: ${f.key} is not a PEM private key (encrypted keys are not supported)`);
      }
    }
    if (x509 === null || key === null || certPem === null || keyPem === null || keyType === null) return;
    if (!x509.checkPrivateKey(key)) {
      errors.push(`${here}.key: ${f.key} does not match the certificate ${f.cert} (${here}.cert)`);
      return;
    }
    certificates.push({
      certPem,
      keyPem,
      keyType,
      info: { file: certFile, subject: x509.subject.replaceAll('\n', ', '), serial: x509.serialNumber, notAfter: Date.parse(x509.validTo), names: dnsNames(x509) },
    });
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, certificates };
}

/** The SAN's DNS names, lower case (`DNS:a.test, DNS:*.b.test, IP Address:127.0.0.1`). */
function dnsNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san === undefined) return [];
  const names: string[] = [];
  for (const entry of san.split(', ')) {
    if (!entry.startsWith('DNS:')) continue;
    let name = entry.slice(4);
    if (name.startsWith('"')) {
      try {
        name = JSON.parse(name) as string; // Node quotes names with unusual characters
      } catch {
        continue;
      }
    }
    names.push(name.toLowerCase());
  }
  return names;
}

/**
 * Everything TLS of one listener of one generation: the contexts, the SNI table, and the options
 * every accepted socket is wrapped with (one object, shared: accepting allocates nothing more).
 */
export class ListenerTls {
  readonly handshakeTimeout: number;
  readonly certificates: readonly CertificateInfo[];
  readonly options: TLSSocketOptions;
  /** The first certificate's context: clients without SNI, or with a name no certificate has. */
  readonly defaultContext: SecureContext;
  /** Certificates listed but never served (a second pair for names that already have one). */
  readonly unserved: readonly CertificateInfo[];
  readonly #exact = new Map<string, SecureContext>();
  /** `*.example.com` stored under "example.com": a wildcard covers exactly one label (RFC 6125 §6.4.3). */
  readonly #wildcard = new Map<string, SecureContext>();

  /** `ticketKeys`: the listener name's session-ticket keys (runtime.ts), the same in every generation. */
  constructor(lc: ListenerConfig, loaded: readonly LoadedCertificate[], ticketKeys: TicketKeys) {
    const tls = lc.tls!;
    this.#ticketKeys = ticketKeys;
    this.handshakeTimeout = tls.handshakeTimeout;
    this.certificates = loaded.map((c) => c.info);
    // An RSA and an ECDSA certificate can serve the same names, the client's signature algorithms
    // picking (OpenSSL keeps one key pair per key type in a context) — but only in the context a
    // socket starts with: when the SNI callback switches contexts, Node copies just one key pair
    // from the new one (measured: RSA-only clients then fail). So the default context holds every
    // pair whose names equal the first certificate's (one per key type), and the SNI callback keeps
    // it for those names; any other name gets a context of its first certificate, and a further
    // pair for the same names is not served (`unserved`, warned about at load: generation.ts).
    const first = loaded[0]!;
    const firstNames = nameKey(first);
    const defaultPairs: LoadedCertificate[] = [];
    const unserved: CertificateInfo[] = [];
    const contexts = new Map<string, SecureContext>();
    for (const c of loaded) {
      const key = nameKey(c);
      if (key === firstNames && !defaultPairs.some((d) => d.keyType === c.keyType)) defaultPairs.push(c);
      else if (key === firstNames || contexts.has(key)) unserved.push(c.info);
      else contexts.set(key, this.#context(tls.minVersion, [c]));
    }
    this.defaultContext = this.#context(tls.minVersion, defaultPairs);
    this.unserved = unserved;
    contexts.set(firstNames, this.defaultContext);
    for (const c of loaded) {
      const context = contexts.get(nameKey(c))!;
      for (const name of c.info.names) {
        if (name.startsWith('*.')) {
          if (!this.#wildcard.has(name.slice(2))) this.#wildcard.set(name.slice(2), context);
        } else if (!this.#exact.has(name)) this.#exact.set(name, context);
      }
    }
    const alpn = listenerAlpn(lc);
    // No context given back = the socket keeps its default one, with every key pair (see above).
    const sni = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
      const context = this.contextFor(servername);
      if (context === this.defaultContext) cb(null);
      else cb(null, context);
    };
    this.options = {
      isServer: true,
      secureContext: this.defaultContext,
      SNICallback: sni,
      requestCert: false,
      rejectUnauthorized: false,
      ...(alpn.length > 0 ? { ALPNProtocols: alpn } : {}),
    };
  }

  readonly #ticketKeys: TicketKeys;

  #context(minVersion: string, pairs: readonly LoadedCertificate[]): SecureContext {
    // Measured: with [RSA, ECDSA] in one createSecureContext call only ECDSA clients can connect;
    // with RSA last both work (test/e2e/tls/termination.test.ts).
    const ordered = [...pairs].sort((x, y) => (x.keyType === 'rsa' ? 1 : 0) - (y.keyType === 'rsa' ? 1 : 0));
    const context = createSecureContext({
      cert: ordered.map((c) => c.certPem),
      key: ordered.map((c) => c.keyPem),
      minVersion: minVersion as 'TLSv1.2' | 'TLSv1.3',
      secureOptions: SECURE_OPTIONS,
      // Session tickets sealed with the listener's own keys, not a fresh random set per context:
      // a client's ticket still resumes after a reload rebuilt the contexts (issue 15). Where the
      // key callback is missing, the key current now (not rotated in this context: see TicketKeys).
      ticketKeys: this.#ticketKeys.current,
      // The lifetime clients are told, and the age OpenSSL still accepts: no longer than a key seals.
      sessionTimeout: TICKET_LIFETIME_S,
      // ciphers and groups: OpenSSL's defaults (issue 15: "OpenSSL's secure defaults").
    });
    this.#ticketKeys.attach(context);
    return context;
  }

  /** The context for a client's SNI name: exact, then a one-label wildcard, then the default. */
  contextFor(servername: string): SecureContext {
    const name = servername.toLowerCase();
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = this.#wildcard.get(name.slice(dot + 1));
      if (wild !== undefined) return wild;
    }
    return this.defaultContext;
  }
}

/** The set of names a certificate serves, as one comparable string. */
function nameKey(c: LoadedCertificate): string {
  return [...c.info.names].sort().join(' ');
}

/** ALPN offered: the configured list; http listeners default to http/1.1, tcp listeners offer none unless configured. */
export function listenerAlpn(lc: ListenerConfig): string[] {
  if (lc.tls?.alpn !== undefined) return [...lc.tls.alpn];
  return lc.protocol === 'http' ? [...DEFAULTS.listener.tls.alpn] : [];
}

/**
 * Builds a listener's TLS from its config (`at`: its JSON path, for errors). Throws with the error
 * lines when a file went missing or changed since load.ts checked it: a reload then fails cleanly
 * and the running certificates stay.
 */
export function buildListenerTls(lc: ListenerConfig, at: string, ticketKeys: TicketKeys): ListenerTls {
  if (lc.tls === undefined) throw new Error(`${at}: no tls block`);
  const r = readCertificates(lc.tls.certificates, `${at}.tls`);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return new ListenerTls(lc, r.certificates, ticketKeys);
}

// ---------------------------------------------------------------------------------------------
// The accept side.

/** Takes the decrypted socket (paused) once the handshake is done: the listener's protocol handler. */
export interface TlsReady {
  handle(socket: Socket, info: ClientInfo): void;
}

interface Handshake {
  readonly raw: Socket;
  readonly info: ClientInfo;
  readonly deadline: number;
  readonly ready: TlsReady;
  reason: string | null;
}

const kHandshake = Symbol('handshake');
type ServerTlsSocket = TLSSocket & { [kHandshake]?: Handshake | null };

/**
 * The handshakes in progress on one bound listener: each is closed when it fails or when its
 * deadline passes on the shared clock tick; failures are counted (`tlsHandshakeErrors`) and logged
 * at debug, never thrown. Nothing of a failed handshake is kept.
 */
export class TlsHandshakes {
  readonly #pending = new Set<ServerTlsSocket>();
  readonly #counters: ListenerCounters;
  readonly #log: Logger;
  readonly #listener: string;
  #stopTick: (() => void) | null = null;

  constructor(listener: string, counters: ListenerCounters, log: Logger) {
    this.#listener = listener;
    this.#counters = counters;
    this.#log = log;
  }

  /** Handshakes in progress (tests). */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Wraps an accepted socket (paused; bytes a PROXY header reader read past the header were put
   * back, and TLSSocket takes what the socket has buffered first) and starts the handshake.
   */
  start(raw: Socket, info: ClientInfo, tls: ListenerTls, ready: TlsReady): void {
    const socket = new TLSSocket(raw, tls.options) as ServerTlsSocket;
    socket[kHandshake] = { raw, info, deadline: Date.now() + tls.handshakeTimeout, ready, reason: null };
    // Idle resets and the kill button reach TLS sessions through the TCP socket under them (net/socket.ts).
    allowTlsReset(socket, raw);
    socket.on('secure', onSecure);
    socket.on('error', onHandshakeError);
    socket.on('close', onHandshakeClose);
    (socket as ServerTlsSocket & { [kOwner]?: TlsHandshakes })[kOwner] = this;
    this.#pending.add(socket);
    this.#stopTick ??= clock.onTick((now) => this.#expire(now));
  }

  #expire(now: number): void {
    for (const socket of this.#pending) {
      const h = socket[kHandshake];
      if (h == null || h.deadline > now) continue;
      h.reason = 'handshake timeout';
      socket.destroy();
      this.#done(socket, true);
    }
  }

  /** The socket left the handshake: done (secure) or failed (counted once). */
  #done(socket: ServerTlsSocket, failed: boolean): void {
    if (!this.#pending.delete(socket)) return;
    const h = socket[kHandshake];
    socket[kHandshake] = null;
    socket.removeListener('secure', onSecure);
    socket.removeListener('error', onHandshakeError);
    socket.removeListener('close', onHandshakeClose);
    if (this.#pending.size === 0 && this.#stopTick !== null) {
      this.#stopTick();
      this.#stopTick = null;
    }
    if (h == null) return;
    if (failed) {
      socket.on('error', ignore); // a late second error on a dead socket must not become an uncaught one
      this.#counters.tlsHandshakeErrors++;
      this.#log.debug({ listener: this.#listener, peer: `${h.info.clientAddress}:${h.info.clientPort}`, reason: h.reason ?? 'closed during the handshake' }, 'TLS handshake failed');
      if (!socket.destroyed) socket.destroy();
      return;
    }
    // Handed on paused, as the plain-text pipeline does: the handler resumes when it can take bytes.
    socket.pause();
    tlsHandshakeDone(socket);
    endOnTlsError(socket);
    // What the client's TLS was, for the servers (PROXY v2 SSL and AUTHORITY TLVs: connector.ts).
    const servername = (socket as TLSSocket & { servername?: string | false }).servername;
    const tls: ClientTls = { version: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().standardName, servername: typeof servername === 'string' && servername !== '' ? servername : null };
    h.ready.handle(socket, { ...h.info, tls });
  }

  /** Called by the socket's listeners (shared functions: no closure per handshake). */
  static settle(socket: ServerTlsSocket, failed: boolean, reason: string | null): void {
    const owner = (socket as ServerTlsSocket & { [kOwner]?: TlsHandshakes })[kOwner];
    const h = socket[kHandshake];
    if (h != null && reason !== null && h.reason === null) h.reason = reason;
    if (owner !== undefined) owner.#done(socket, failed);
  }
}

const kOwner = Symbol('handshakes');

/**
 * A TLS error after the handshake (a broken record, a fatal alert) ends the socket. Node reports
 * it on an internal '_tlsError' event, and on 'error' only once a tls.Server has released the
 * socket's control — and even then leaves the socket open (Node's _tls_wrap.js). We make our own
 * TLSSocket, so neither happened: a client that sent a bad record kept its session, and the
 * server connection, open until clientIdle. Destroying it with the error gives every handler
 * (tcp, http) its 'error' and 'close' as for a plain socket. test/e2e/tls/reset.test.ts fails if
 * Node ever stops emitting the event.
 */
function endOnTlsError(socket: TLSSocket): void {
  socket.on('_tlsError', destroyWithError);
}

function destroyWithError(this: TLSSocket, err: Error): void {
  this.destroy(err);
}

function onSecure(this: ServerTlsSocket): void {
  TlsHandshakes.settle(this, false, null);
}

function onHandshakeError(this: ServerTlsSocket, err: NodeJS.ErrnoException): void {
  TlsHandshakes.settle(this, true, err.code ?? err.message);
}

function onHandshakeClose(this: ServerTlsSocket): void {
  TlsHandshakes.settle(this, true, null);
}

function ignore(): void {}
