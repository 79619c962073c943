// The small vocabulary shared by a client connection and the request in flight on it: which
// timer the session deadline stands for, and why reading from the client is paused.

/** What the session deadline currently guards. */
export const NO_DEADLINE = 0;
export const HEAD_DEADLINE = 1;
export const KEEP_ALIVE_DEADLINE = 2;
/** The request in flight owns the deadline (response / server-idle timeouts). */
export const REQUEST_DEADLINE = 3;

/** Why reading from the client is paused (several can hold at once). */
export const PAUSE_FOR_SERVER = 1; // the request waits for a server connection
export const PAUSE_BACKPRESSURE = 2; // the server connection is not taking the body fast enough
export const PAUSE_PIPELINE = 4; // the next request is buffered; it waits for this response
