// What the admin API and the metrics read of the running proxy: a narrow view, not the runtime's
// maps, so a reload can swap everything behind it (issue 14). runtime.ts implements it.
import type { Logger } from '../log.ts';
import type { Pool } from '../pool/pool.ts';
import type { Server } from '../pool/server.ts';
import type { SourcePortStats } from '../pool/connector.ts';
import type { ListenerCounters } from '../listener/counters.ts';
import type { CertificateInfo } from '../listener/tls.ts';
import type { SessionTable } from '../session/session-table.ts';
import type { DenyList } from '../listener/deny-list.ts';

/** SPEC `config.lastReload`. */
export interface ReloadStatus {
  ok: boolean;
  error: string | null;
  at: string;
}

/** What POST /api/v1/reload answers: 200 {ok, generation} or 400 {ok, errors}. */
export type ReloadResult = { ok: true; generation: number } | { ok: false; errors: string[] };

export interface ListenerView {
  readonly name: string;
  readonly protocol: string;
  readonly counters: ListenerCounters;
  /** Certificates the listener serves now (empty without `tls`). */
  readonly certificates: readonly CertificateInfo[];
}

/** What a pool's server connection set shows (http listeners; absent for pools only tcp uses). */
export interface ServerConnectionsView {
  readonly openConnections: number;
  readonly idleConnections: number;
  readonly queued: number;
  readonly opened: number;
}

export interface AdminView {
  readonly log: Logger;
  readonly startedAt: number;
  readonly draining: boolean;
  readonly sessions: SessionTable;
  /** Runtime denies (acl-api.ts). */
  readonly denies: DenyList;
  readonly generation: number;
  readonly lastReload: ReloadStatus | null;
  readonly reloadFailures: number;
  listenerViews(): ListenerView[];
  poolList(): Pool[];
  findPool(name: string): Pool | undefined;
  upstreamOf(server: Server): ServerConnectionsView | undefined;
  sourcePortsOf(pool: Pool, server: Server): SourcePortStats;
  eventLoopLagMs(): number;
  reload(): Promise<ReloadResult>;
}
