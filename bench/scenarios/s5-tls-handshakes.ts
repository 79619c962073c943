// S5: TLS handshakes per second — waits for TLS termination in fullproxy (the TLS issue).
import type { Scenario } from './scenario.ts';

export const s5: Scenario = {
  id: 'S5',
  title: 'TLS handshakes/s',
  method: 'like S2 over TLS (a full handshake per request); runs once fullproxy terminates TLS.',
  unavailable: 'TLS not implemented',
  targets: [],
  restartPerRepetition: false,
  measure: () => Promise.reject(new Error('S5 needs TLS')),
  columns: [],
  checks: () => [],
};
