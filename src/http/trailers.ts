// Which trailer fields (the field section after a chunked body's last chunk) the proxy forwards,
// in both directions (issue 13, row 5): BodyReader.forward() asks forwardableTrailer() for each
// trailer line, and drops the names the message's Connection lists as well (connectionNames*).
//
// RFC 9110 §6.5.1: fields that "describe message framing, routing, authentication, request
// modifiers, response controls, or content format" must be known before the content, so a sender
// must not put them in trailers; §6.5.2: a recipient must not merge a trailer into the header
// section unless that field's definition says how. Plenty of recipients merge anyway (CGI/WSGI/PHP
// environments, Node's `rawTrailers` copied into headers by frameworks, caches storing trailers as
// headers), and such a merge would bypass everything the proxy enforces on heads: the
// X-Forwarded-For/Via it owns, Host routing, hop-by-hop stripping, framing. So a trailer is dropped
// when its name falls in one of those categories:
//
// - framing and connection management (RFC 9112 §6, RFC 9110 §7.6.1): Content-Length,
//   Transfer-Encoding, Trailer, TE, Connection, Keep-Alive, Proxy-Connection, Upgrade;
// - routing and what the proxy writes itself (§7.2, §7.6.2, §7.6.3): Host, Forwarded, Via,
//   Max-Forwards, every X-Forwarded-*, X-Real-IP;
// - authentication and state (§11, RFC 6265): Authorization, WWW-Authenticate,
//   Authentication-Info, every Proxy-* (Proxy-Authorization, -Authenticate, -Authentication-Info),
//   Cookie, Set-Cookie;
// - request modifiers (§10.1, §12, §13, §14): Expect, Range, every If-*, Accept, Accept-*;
// - response controls and caching (§10.2, §8.8, RFC 9111): Location, Retry-After, Vary, Age,
//   Cache-Control, Expires, Pragma, Date, ETag, Last-Modified, Accept-Ranges;
// - content format (§8): every Content-* (Type, Encoding, Range, Location, Language, ...) except
//   Content-Digest, which RFC 9530 §2 defines for trailers;
// - any name with an underscore: CGI-style recipients map `X_Forwarded_For` and `X-Forwarded-For`
//   to the same variable (nginx drops them from heads by default, `underscores_in_headers off`).
//
// A field is judged by its name only, never its value: a `Content-Length: abc` trailer is dropped
// like a `Content-Length: 5` one, never refused — the chunks frame the body, a trailer must not
// (RFC 9110 §6.5.1, which lets a recipient discard it), so no value here can move a message
// boundary. The field-line grammar (body-reader.ts: token name, colon, no control character or
// obs-fold, CRLF) is checked for every trailer line: one that breaks it refuses the whole body,
// as a head would be refused, since parsers disagree on where such a section ends.
//
// Everything else (Server-Timing, Content-Digest, Repr-Digest, Digest, grpc-status, grpc-message,
// application X-* checksums...) is what trailers are for and passes unchanged. A deny list rather
// than an allow list: trailers carry application-defined names the proxy cannot know, and the
// names that can hurt are the ones the head policy already cares about.

const DROPPED: ReadonlySet<string> = new Set([
  // framing, connection management
  'content-length', 'transfer-encoding', 'trailer', 'te', 'connection', 'keep-alive', 'proxy-connection', 'upgrade',
  // routing, proxy-owned
  'host', 'forwarded', 'via', 'max-forwards', 'x-real-ip',
  // authentication, state
  'authorization', 'www-authenticate', 'authentication-info', 'cookie', 'set-cookie',
  // request modifiers
  'expect', 'range', 'accept',
  // response controls, caching
  'location', 'retry-after', 'vary', 'age', 'cache-control', 'expires', 'pragma', 'date', 'etag', 'last-modified',
]);

/** Name prefixes dropped as a family (see the categories above). */
const DROPPED_PREFIXES = ['x-forwarded-', 'proxy-', 'if-', 'accept-', 'content-'] as const;

/** May a trailer field named `name` (lowercase, a token) be forwarded? */
export function forwardableTrailer(name: string): boolean {
  if (DROPPED.has(name) || name.includes('_')) return false;
  for (const p of DROPPED_PREFIXES) if (name.startsWith(p)) return name === 'content-digest';
  return true;
}
