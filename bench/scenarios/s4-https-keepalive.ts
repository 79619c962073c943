// S4: HTTPS keep-alive — waits for TLS termination in fullproxy (the TLS issue).
import type { Scenario } from './scenario.ts';

export const s4: Scenario = {
  id: 'S4',
  title: 'HTTPS keep-alive',
  method: 'like S1 over TLS; runs once fullproxy terminates TLS.',
  unavailable: 'TLS not implemented',
  targets: [],
  restartPerRepetition: false,
  measure: () => Promise.reject(new Error('S4 needs TLS')),
  columns: [],
  checks: () => [],
};
