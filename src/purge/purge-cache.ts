import { isVoiceName } from '../domain/audition.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Caller } from '../ports/account-directory.ts';
import { NOTHING_PURGED, purgeTenantCache, type PurgeDeps, type PurgeResult } from './purge-tenant-cache.ts';

/** The role allowed to purge (users.role, as the Khipu Cloud API sets it). */
const ADMIN_ROLE = 'admin';

export interface PurgeOutcome extends PurgeResult {
  tenantId: string;
  /** The voice whose entries were purged; null: every voice. */
  voice: string | null;
}

/** A purge that stopped partway: what it did so far, for the log; calling it again finishes it. */
export class PurgeInterruptedError extends AppError {
  constructor(
    readonly progress: PurgeResult,
    cause: unknown,
  ) {
    super(
      'unavailable',
      `The purge was interrupted after ${progress.entriesDeleted} entries; call it again to finish`,
      {
        retryAfterSeconds: 5,
        cause,
      },
    );
  }
}

export interface TenantPurgeDeps extends PurgeDeps {
  /** This instance's memory of the tenants' audio. */
  memory: { forgetTenant(tenantId: string): void };
}

/** Whose entries a purge removes: the caller's tenant's, all or one voice's (a voice name). */
export interface PurgeOrder {
  caller: Caller;
  voice?: string;
}

/**
 * The purge endpoint's use case: an admin's purge of their own tenant's cached auditions (all, or one voice's): rows
 * and blobs in batches, then this instance's memory of the tenant's audio, so that it stops serving them at once
 * (other instances within MEMORY_CACHE_TTL_SECONDS). Never touches another tenant's entries. The caller must have
 * been read fresh from the database: a revoked admin cannot purge a moment later, and a new one can at once.
 */
export class TenantPurge {
  readonly #deps: TenantPurgeDeps;

  constructor(deps: TenantPurgeDeps) {
    this.#deps = deps;
  }

  /** Purges, and answers the counts; `log` hears of a project account that could not be reached. */
  async purge({ caller, voice }: PurgeOrder, log: Logger): Promise<PurgeOutcome> {
    if (caller.role !== ADMIN_ROLE)
      throw new AppError('forbidden', `Only users with the ${ADMIN_ROLE} role may purge the audio cache`);
    if (voice !== undefined && !isVoiceName(voice)) {
      throw new AppError('invalid-request', 'The voice filter is not a voice name', {
        errors: [{ field: 'voice', message: 'must be an Azure voice name such as es-AR-ElenaNeural' }],
      });
    }
    const progress: PurgeResult = { ...NOTHING_PURGED };
    try {
      await purgeTenantCache(this.#deps, { tenantId: caller.tenantId, voiceId: voice }, log, progress);
    } catch (error) {
      throw new PurgeInterruptedError(progress, error);
    } finally {
      // Also after an interruption: what was deleted must not be served from memory either.
      this.#deps.memory.forgetTenant(caller.tenantId);
    }
    return { tenantId: caller.tenantId, voice: voice ?? null, ...progress };
  }
}
