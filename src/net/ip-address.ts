// IP address text <-> bytes, strict: the PROXY codec (net/proxy-protocol.ts), source-ip
// persistence keys, the admin's client filters and the runtime deny list all read addresses here.
// IPv4 goes into 4 bytes, IPv6 into 16 (an IPv4 address as ::ffff:a.b.c.d where callers need one
// form). Shared scratch: JS is single-threaded and no function here yields between filling and
// reading it.
const WORDS = new Uint16Array(8);
const SCRATCH4 = new Uint8Array(4);

/** ::ffff:a.b.c.d */
export function isMapped(b: Uint8Array, off: number): boolean {
  for (let i = 0; i < 10; i++) if (b[off + i] !== 0) return false;
  return b[off + 10] === 0xff && b[off + 11] === 0xff;
}

export function v4Text(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/**
 * RFC 5952 text of 16 bytes, as libuv's inet_ntop6 writes it (so it equals what Node reports
 * for socket peers): lowercase, no leading zeros, the first longest run of >= 2 zero groups
 * as "::"; with `dotted`, ::ffff:a.b.c.d and ::a.b.c.d keep the IPv4 tail in dotted form.
 */
export function v6Text(b: Uint8Array, off: number, dotted: boolean): string {
  for (let i = 0; i < 8; i++) WORDS[i] = (b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!;
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && WORDS[i] === 0) {
      if (curBase < 0) curBase = i;
    } else if (curBase >= 0) {
      if (i - curBase > bestLen) {
        bestBase = curBase;
        bestLen = i - curBase;
      }
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
  if (dotted && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && WORDS[5] === 0xffff))) {
    return (bestLen === 6 ? '::' : '::ffff:') + v4Text(b, off + 12);
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestBase) {
      s += '::';
      i += bestLen - 1;
      continue;
    }
    s += (i === 0 || i === bestBase + bestLen ? '' : ':') + WORDS[i]!.toString(16);
  }
  return s;
}

/**
 * Strict dotted quad in s[start, end): exactly four decimal numbers 0..255, no leading zeros
 * (pp §2.1: "Heading zeroes are not permitted ... to avoid any possible confusion with octal").
 */
export function parseIPv4(s: string, start: number, end: number, out: Uint8Array, off: number): boolean {
  let p = start;
  for (let part = 0; part < 4; part++) {
    if (part > 0) {
      if (p >= end || s.charCodeAt(p) !== 0x2e) return false;
      p++;
    }
    const first = p;
    let v = 0;
    while (p < end) {
      const c = s.charCodeAt(p);
      if (c < 0x30 || c > 0x39) break;
      v = v * 10 + (c - 0x30);
      p++;
      if (p - first > 3) return false;
    }
    if (p === first || v > 255 || (p - first > 1 && s.charCodeAt(first) === 0x30)) return false;
    out[off + part] = v;
  }
  return p === end;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * IPv6 text as inet_pton accepts it (RFC 4291 §2.2): 1..4 hex digits per group, at most one
 * "::", an optional dotted-quad tail in place of the last two groups. Writes 16 bytes at
 * out[off..]. No zone ids.
 */
export function parseIPv6(s: string, out: Uint8Array, off: number): boolean {
  const n = s.length;
  if (n < 2 || n > 45) return false;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (s.charCodeAt(0) === 0x3a) {
    if (s.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    const groupStart = i;
    let v = 0;
    while (i < n) {
      const h = hexValue(s.charCodeAt(i));
      if (h < 0) break;
      v = (v << 4) | h;
      i++;
      if (i - groupStart > 4) return false;
    }
    if (i < n && s.charCodeAt(i) === 0x2e) {
      // Dotted-quad tail: takes two groups and must end the text.
      if (count > 6 || !parseIPv4(s, groupStart, n, SCRATCH4, 0)) return false;
      WORDS[count++] = (SCRATCH4[0]! << 8) | SCRATCH4[1]!;
      WORDS[count++] = (SCRATCH4[2]! << 8) | SCRATCH4[3]!;
      i = n;
      break;
    }
    if (i === groupStart || count === 8) return false;
    WORDS[count++] = v;
    if (i === n) break;
    if (s.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < n && s.charCodeAt(i) === 0x3a) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === n) {
      return false; // a trailing single ':'
    }
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  const tail = gap < 0 ? 0 : count - gap;
  const head = count - tail;
  let w = 0;
  for (; w < head; w++) writeWord(out, off, w, WORDS[w]!);
  for (; w < 8 - tail; w++) writeWord(out, off, w, 0);
  for (let t = 0; t < tail; t++, w++) writeWord(out, off, w, WORDS[head + t]!);
  return true;
}

function writeWord(out: Uint8Array, off: number, w: number, v: number): void {
  out[off + 2 * w] = v >> 8;
  out[off + 2 * w + 1] = v & 0xff;
}

/** A dotted quad as an unsigned 32-bit number (as parseIPv4 reads it: strict); -1 when it is not one. */
export function ipv4Number(s: string, start = 0, end: number = s.length): number {
  if (!parseIPv4(s, start, end, SCRATCH4, 0)) return -1;
  return ((SCRATCH4[0]! << 24) | (SCRATCH4[1]! << 16) | (SCRATCH4[2]! << 8) | SCRATCH4[3]!) >>> 0;
}
