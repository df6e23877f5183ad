import type { PredictiveRun, PredictiveRuns } from '../../src/ports/predictive-runs.ts';
import { MemoryCacheDatabase } from './memory-cache-database.ts';

/**
 * An in-memory PredictiveRuns: the twin of PrismaPredictiveRuns, over a MemoryCacheDatabase (pass the one a
 * MemoryCacheMaintenance uses, so that a tenant's purge forgets its runs), failing as its other twins do.
 */
export class MemoryPredictiveRuns implements PredictiveRuns {
  constructor(readonly database: MemoryCacheDatabase = new MemoryCacheDatabase()) {}

  claim(run: PredictiveRun, now: Date, ttlMs: number, staleMs: number): Promise<boolean> {
    return this.database.run(() => {
      const key = keyOf(run);
      const last = this.database.predictiveRuns.get(key);
      // As the SQL's upsert: taken over only when started a ttl ago, or a stale while ago and never finished.
      const since = (ms: number) => last!.startedAt.getTime() <= now.getTime() - ms;
      if (last && !since(ttlMs) && !(last.finishedAt === null && since(staleMs))) return false;
      this.database.predictiveRuns.set(key, { tenantId: run.tenantId, startedAt: new Date(now), finishedAt: null });
      return true;
    });
  }

  finish(run: PredictiveRun, now: Date): Promise<void> {
    return this.database.run(() => {
      const last = this.database.predictiveRuns.get(keyOf(run));
      if (last && last.finishedAt === null) last.finishedAt = new Date(now);
    });
  }
}

function keyOf({ tenantId, language, lineVersion }: PredictiveRun): string {
  return JSON.stringify([tenantId, language, lineVersion]);
}
