import { retryIfConnectionLost } from './connect-retry.ts';
import type { Database } from './prisma-client.ts';
import type { PredictiveRun, PredictiveRuns } from '../../ports/predictive-runs.ts';

/**
 * PredictiveRuns over `audio_cache_predictive_runs`: one row per tenant, language and line version. Times come
 * from the caller's clock, never the database's `now()` (the clock is injected, and runs may be claimed by
 * instances whose clocks the tests move).
 */
export class PrismaPredictiveRuns implements PredictiveRuns {
  constructor(private readonly db: Database) {}

  async claim(run: PredictiveRun, now: Date, ttlMs: number, staleMs: number): Promise<boolean> {
    const expired = new Date(now.getTime() - ttlMs);
    const stale = new Date(now.getTime() - staleMs);
    // One statement: the row is created with the claim, or taken over only when its run started a ttl ago, or
    // started a stale while ago and never finished (the row lock serializes concurrent claims: the first one
    // moves started_at to now, and the others then see a fresh run). Retried if the connection dies: had the
    // first attempt committed, the second sees that fresh run and answers false, so the prewarm waits for
    // staleMs (one skipped, never two at once).
    const rows = await retryIfConnectionLost(
      () => this.db.$queryRaw<{ claimed: number }[]>`
      INSERT INTO audio_cache_predictive_runs AS r (tenant_id, language, line_version, started_at)
      VALUES (${run.tenantId}::uuid, ${run.language}, ${run.lineVersion}, ${now})
      ON CONFLICT (tenant_id, language, line_version) DO UPDATE
         SET started_at = excluded.started_at, finished_at = NULL
       WHERE r.started_at <= ${expired} OR (r.finished_at IS NULL AND r.started_at <= ${stale})
      RETURNING 1 AS claimed`,
    );
    return rows.length === 1;
  }

  async finish(run: PredictiveRun, now: Date): Promise<void> {
    // Idempotent (a finished run keeps its first finish), so retried too.
    await retryIfConnectionLost(
      () => this.db.$executeRaw`
      UPDATE audio_cache_predictive_runs SET finished_at = ${now}
       WHERE tenant_id = ${run.tenantId}::uuid AND language = ${run.language} AND line_version = ${run.lineVersion}
         AND finished_at IS NULL`,
    );
  }
}
