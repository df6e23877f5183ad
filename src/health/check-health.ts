import { BlobNotFoundError, type BlobStore } from '../ports/blob-store.ts';

export type CheckStatus = 'ok' | 'failed';

export interface HealthReport {
  healthy: boolean;
  /**
   * `projectStorage`: `degraded` while a project's own storage account fails (as this instance last found it). It
   * does not make the instance unhealthy: those projects are answered uncached, every other project as usual.
   */
  checks: { database: CheckStatus; blobStorage: CheckStatus; projectStorage: 'ok' | 'degraded' };
  /** The project accounts failing now: how many (the log names them; the anonymous answer does not). */
  failingProjectAccounts: number;
  /** Why each failed check failed, for the log only (never for the caller). */
  failures: Partial<Record<'database' | 'blobStorage', unknown>>;
}

const CHECK_TIMEOUT_MS = 3_000;
// A name no cache entry can have: its lookup costs one small 404 and proves the container,
// the credentials and the network path all work.
const PROBE_BLOB = 'health/probe-that-does-not-exist';

export interface HealthDeps {
  /** Resolves when the database answers a trivial query. */
  pingDatabase(): Promise<void>;
  /** The operator's account. */
  blobStore: Pick<BlobStore, 'get'>;
  /** The project accounts failing now, as this instance last found them. */
  projectStoreStatus: { failing(): unknown[] };
}

/** The health check's use case: can this instance reach its database and its blob container right now? */
export class HealthCheck {
  readonly #deps: HealthDeps;

  constructor(deps: HealthDeps) {
    this.#deps = deps;
  }

  async check(): Promise<HealthReport> {
    const deps = this.#deps;
    const [database, blobStorage] = await Promise.allSettled([
      withTimeout(deps.pingDatabase()),
      withTimeout(
        deps.blobStore.get(PROBE_BLOB).then(
          (blob) => blob.stream.destroy(),
          (error: unknown) => {
            if (!(error instanceof BlobNotFoundError)) throw error;
          },
        ),
      ),
    ]);
    const failures: HealthReport['failures'] = {};
    if (database.status === 'rejected') failures.database = database.reason;
    if (blobStorage.status === 'rejected') failures.blobStorage = blobStorage.reason;
    const failingProjectAccounts = deps.projectStoreStatus.failing().length;
    return {
      healthy: database.status === 'fulfilled' && blobStorage.status === 'fulfilled',
      checks: {
        database: database.status === 'fulfilled' ? 'ok' : 'failed',
        blobStorage: blobStorage.status === 'fulfilled' ? 'ok' : 'failed',
        projectStorage: failingProjectAccounts > 0 ? 'degraded' : 'ok',
      },
      failingProjectAccounts,
      failures,
    };
  }
}

function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
