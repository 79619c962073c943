// Session-ticket keys of TLS listeners (issue 15 §1: "tickets, with keys rotated").
//
// A listener name has one key ring for the life of the process (runtime.ts keeps it by name),
// shared by every generation's contexts (listener/tls.ts): a reload keeps resumption working. The key that
// seals new tickets is replaced every TICKET_KEY_ROTATION_MS; the one before it still opens tickets
// (they are then renewed under the new key) and is erased at the next rotation. So a key is held
// for at most two intervals (what a stolen key can decrypt), and a ticket, told to live
// TICKET_LIFETIME_S, can be opened for its whole life. This is what nginx operators do with several
// `ssl_session_ticket_key` files (the first seals, the others open) and HAProxy's tls-ticket-keys,
// made automatic. Rotation is driven by the runtime's one subscription to the shared clock
// (rotateIfDue): no timer per listener, and a key is erased on time even when no client comes.
//
// Two keys at once need Node's ticket key callback (enableTicketKeyCallback and
// onticketkeycallback on the native context: internal, there since io.js for Node's own
// test-https-resume-after-renew). Node's public `ticketKeys`/`setTicketKeys` hold ONE key, and a
// context then opens only tickets with that key's name (TicketCompatibilityCallback in
// crypto_context.cc): every ticket issued before a rotation would cost a full handshake. Without
// the callback (hasTicketKeyCallback() false) each context keeps the key that was current when it was
// built, so keys change only at a reload; the runtime warns. OpenSSL asks the callback of the
// context a socket started with (the default one: the SNI callback copies a certificate into the
// socket, not the context), but every context gets it. Its cost, a JS call per ticket sealed or
// opened: measured on TLS 1.3 with ECDSA P-256, server CPU per handshake, medians of three runs of
// 4,000: full 524 → 532 µs, resumed 443 → 451 µs (1–2%, within the run-to-run spread).
import { randomBytes, randomFillSync } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';

/** How long a key seals new tickets: hourly, as operators rotate nginx and HAProxy ticket keys. */
export const TICKET_KEY_ROTATION_MS = 3600_000;

/** Ticket lifetime (the hint clients get, the age OpenSSL accepts): one interval (OpenSSL: 7200 s). */
export const TICKET_LIFETIME_S = TICKET_KEY_ROTATION_MS / 1000;

type TicketKeyCallback = (name: Buffer, iv: Buffer, encrypt: boolean) => readonly unknown[];

interface NativeSecureContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: TicketKeyCallback;
}

function nativeContext(context: SecureContext): NativeSecureContext | undefined {
  return (context as unknown as { context?: NativeSecureContext }).context;
}

let ticketKeyCallback: boolean | undefined;

/**
 * Whether this Node lets a context open tickets of two keys: checked once, at the first TLS
 * listener, not at import (the probe context loads OpenSSL's root store: ~0.7 MB of RSS in every
 * process, TLS or not; issue 18 §11).
 */
export function hasTicketKeyCallback(): boolean {
  return (ticketKeyCallback ??= typeof nativeContext(createSecureContext({}))?.enableTicketKeyCallback === 'function');
}

/** Status answers to OpenSSL: 1 ticket opened, 2 opened but renew it, 0 not ours (full handshake). */
const OPENED = 1;
const OPENED_RENEW = 2;
/** Node reads a HMAC and an AES key even for "not ours": any 16 bytes will do. */
const NOT_OURS: readonly unknown[] = [0, Buffer.alloc(16), Buffer.alloc(16)];

/**
 * One 48-byte key (Node's layout: 16 bytes name, 16 HMAC-SHA256 key, 16 AES-128 key) and the
 * answers the callback gives for it, made once: a handshake allocates nothing here but the IV.
 */
class TicketKey {
  readonly bytes: Buffer;
  readonly name: Buffer;
  readonly opened: readonly unknown[];
  readonly openedRenew: readonly unknown[];
  /** [status, HMAC key, AES key, name, IV]: Node copies name and IV out before the next call. */
  readonly #seal: [number, Buffer, Buffer, Buffer, Buffer];

  constructor(bytes: Buffer) {
    this.bytes = bytes;
    this.name = bytes.subarray(0, 16);
    const hmac = bytes.subarray(16, 32);
    const aes = bytes.subarray(32, 48);
    this.opened = [OPENED, hmac, aes];
    this.openedRenew = [OPENED_RENEW, hmac, aes];
    this.#seal = [OPENED, hmac, aes, this.name, Buffer.alloc(16)];
  }

  seal(): readonly unknown[] {
    randomFillSync(this.#seal[4]);
    return this.#seal;
  }
}

/** The session-ticket keys of one listener name: the sealing key and the one before it. */
export class TicketKeys {
  #current: TicketKey;
  #previous: TicketKey | null = null;
  #rotateAt: number;

  constructor(now: number) {
    this.#current = new TicketKey(randomBytes(48));
    this.#rotateAt = now + TICKET_KEY_ROTATION_MS;
  }

  /** The sealing key (48 bytes): the `ticketKeys` of contexts, used alone without the callback. */
  get current(): Buffer {
    return this.#current.bytes;
  }

  /**
   * On the shared clock tick: a new sealing key once the interval is over, the old one kept to
   * open tickets, the one before erased. After a missed interval (a suspended process) the old
   * key is erased too. Returns whether it rotated.
   */
  rotateIfDue(now: number): boolean {
    if (now < this.#rotateAt) return false;
    const dropped = this.#previous;
    this.#previous = now < this.#rotateAt + TICKET_KEY_ROTATION_MS ? this.#current : null;
    if (this.#previous === null) this.#current.bytes.fill(0);
    dropped?.bytes.fill(0);
    this.#current = new TicketKey(randomBytes(48));
    this.#rotateAt = now + TICKET_KEY_ROTATION_MS;
    return true;
  }

  /** Makes `context` seal and open tickets with these keys (no-op without the callback). */
  attach(context: SecureContext): void {
    if (!hasTicketKeyCallback()) return;
    const native = nativeContext(context)!;
    native.enableTicketKeyCallback!();
    native.onticketkeycallback = this.#callback;
  }

  /** Called by OpenSSL through Node, once per ticket sealed or offered (not per byte). */
  readonly #callback: TicketKeyCallback = (name, _iv, encrypt) => {
    if (encrypt) return this.#current.seal();
    if (name.equals(this.#current.name)) return this.#current.opened;
    if (this.#previous !== null && name.equals(this.#previous.name)) return this.#previous.openedRenew;
    return NOT_OURS;
  };
}
