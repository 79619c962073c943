// FullproxyError and its stable FP_ERR_* codes: the only place errors are defined (undici's
// lib/core/errors.js, fastify's FST_ERR_*). Code matches on `code`, never on messages;
// docs/errors.md lists every code and a test keeps the two in step.

export const ERROR_CODES = {
  FP_ERR_CONFIG_INVALID: 'the configuration failed validation; each problem names its JSON path',
  FP_ERR_NO_SERVER: 'no server of the pool is up, enabled and under maxConnections',
  FP_ERR_CONNECT_TIMEOUT: 'the server did not accept the connection within timeouts.connect',
  FP_ERR_CONNECT_FAILED: 'the connection to the server was refused, reset or unroutable',
  FP_ERR_SOURCE_EXHAUSTED: 'no source (address, port) toward the server was free',
  FP_ERR_RESPONSE_TIMEOUT: 'the server sent no response within pools[].timeouts.response',
  FP_ERR_BAD_RESPONSE: 'the server sent a malformed HTTP response',
  FP_ERR_SERVER_RESET: 'the server closed or reset the connection before a complete response',
  FP_ERR_BAD_REQUEST: 'the client sent a malformed HTTP request',
  FP_ERR_PROXY_HEADER: 'an inbound PROXY protocol header was missing, malformed or late',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class FullproxyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string = ERROR_CODES[code], options?: ErrorOptions) {
    super(message, options);
    this.name = 'FullproxyError';
    this.code = code;
  }
}

