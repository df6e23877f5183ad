import { LRUCache } from 'lru-cache';
import { systemClock, type Clock } from '../clock.ts';
import { DeadlineExceededError, DependencyStalledError } from '../deadline.ts';
import type { Logger } from '../logger.ts';
import { OutageLog } from '../outage-log.ts';
import { BlobNotFoundError, BlobTooLargeError, type BlobStore } from '../ports/blob-store.ts';

/** A project's own storage account, as one cache line uses it. */
export interface LineStore {
  /** ProjectStorage.storeId: `{serviceUrl}/{containerName}` (no secret). */
  storeId: string;
  projectId: string;
  tenantId: string;
  accountName: string;
  blobs: BlobStore;
}

/** What health and the stats show of one project account, as this instance last found it. */
export interface ProjectStoreState {
  storeId: string;
  projectId: string;
  tenantId: string;
  accountName: string;
  failing: boolean;
  /** When the current failure began (absent while it answers). */
  failingSince?: string;
  /** Why it fails, as a tenant may learn it (StoreFailure); never a network error code or a server's words. */
  lastError?: StoreFailure;
}

/** The project accounts this instance remembers the state of (the least recently used are forgotten beyond it). */
const REMEMBERED = 1_000;

/**
 * The outages of projects' own storage accounts, one OutageLog each: a failing account is warned about once per outage,
 * naming the project and the account (never the key), and its recovery once; health and the stats read which fail now.
 * The cache fails open around each, for that project alone.
 */
export class ProjectStoreStatus {
  readonly #stores = new LRUCache<string, { state: ProjectStoreState; outage: OutageLog }>({ max: REMEMBERED });
  readonly #now: Clock;

  constructor(now: Clock = systemClock) {
    this.#now = now;
  }

  /** The outage log of this line's account: `failed` names the project in its warning. */
  outageFor(store: LineStore): Pick<OutageLog, 'failed' | 'succeeded'> {
    const known = this.#entry(store);
    return {
      failed: (log: Logger, message: string, error: unknown) => {
        if (!known.state.failing) known.state.failingSince = this.#now().toISOString();
        known.state.failing = true;
        known.state.lastError = storeFailureOf(error);
        known.outage.failed(log, `${message} (project ${store.projectId})`, error);
      },
      succeeded: (log: Logger) => {
        known.state.failing = false;
        delete known.state.failingSince;
        known.outage.succeeded(log);
      },
    };
  }

  /** A project whose storage settings cannot be used at all (a malformed name or endpoint): warned about once. */
  unusable(log: Logger, projectId: string, tenantId: string, reason: string): void {
    const storeId = `invalid:${projectId}`;
    const known = this.#entry({ storeId, projectId, tenantId, accountName: '(invalid settings)' });
    if (!known.state.failing) {
      known.state.failingSince = this.#now().toISOString();
      log.warn(
        `audition cache: project ${projectId}'s storage account settings cannot be used (${reason}); ` +
          'its auditions are answered uncached',
      );
    }
    known.state.failing = true;
    known.state.lastError = 'invalid';
  }

  /** The accounts failing now, as this instance knows them (of one tenant, when given). */
  failing(tenantId?: string): ProjectStoreState[] {
    return this.states(tenantId).filter((state) => state.failing);
  }

  /** Every account this instance used lately (of one tenant, when given). */
  states(tenantId?: string): ProjectStoreState[] {
    const states = [...this.#stores.values()].map(({ state }) => ({ ...state }));
    return tenantId === undefined ? states : states.filter((state) => state.tenantId === tenantId.toLowerCase());
  }

  #entry(store: Omit<LineStore, 'blobs'>) {
    let known = this.#stores.get(store.storeId + '\u0000' + store.projectId);
    if (!known) {
      const { storeId, projectId, accountName } = store;
      const state = { storeId, projectId, tenantId: store.tenantId.toLowerCase(), accountName, failing: false };
      known = { state, outage: new OutageLog(`project ${projectId}'s storage account ${accountName}`) };
      this.#stores.set(storeId + '\u0000' + projectId, known);
    }
    return known;
  }
}

/**
 * Why a project's storage account fails, in the words its tenant may read (the stats endpoint): coarse on purpose. A
 * network error code or a server's own text would tell a tenant what answers at an address (`ECONNREFUSED`, a parser
 * error), which is how a cache in front of storage becomes a port scanner.
 */
export type StoreFailure = 'auth' | 'not-found' | 'unreachable' | 'throttled' | 'timeout' | 'invalid';

/** A project account's failure as a StoreFailure. */
export function storeFailureOf(error: unknown): StoreFailure {
  if (error instanceof DeadlineExceededError || error instanceof DependencyStalledError) return 'timeout';
  if (error instanceof BlobTooLargeError) return 'invalid';
  if (error instanceof BlobNotFoundError) return 'not-found';
  if (typeof error !== 'object' || error === null) return 'unreachable';
  const { code, statusCode } = error as { code?: unknown; statusCode?: unknown };
  // The guarded agents' refusals (adapters/guarded-agents.ts): an address or an answer the service will not take.
  if (code === 'ERR_ADDRESS_NOT_ALLOWED' || code === 'ERR_RESPONSE_TOO_LARGE') return 'invalid';
  return failureOfStatus(typeof statusCode === 'number' ? statusCode : undefined, code === 'ETIMEDOUT');
}

/** The StoreFailure of an HTTP status (undefined: no answer came); `timedOut` when it was a timeout. */
export function failureOfStatus(status: number | undefined, timedOut = false): StoreFailure {
  if (timedOut) return 'timeout';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not-found';
  if (status === 429 || status === 503) return 'throttled';
  return 'unreachable';
}
