import { AppError } from '../errors.ts';
import type { CacheStats, CacheStatsReader } from '../ports/cache-stats.ts';
import { budgetDay, type SpeechBudget } from '../ports/speech-budget.ts';

export interface TenantCacheStats extends CacheStats {
  tenantId: string;
  generatedAt: string;
  /** Characters synthesized today (UTC) on the service's key, for projects without their own. */
  defaultKey: { charactersPerDay: number | null; usedToday: number; remainingToday: number | null };
}

/**
 * One tenant's cache figures (never another tenant's) and what is left of its budget on the
 * service's default key today. `charactersPerDay` is DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY
 * (0: no limit).
 */
export async function readCacheStats(
  deps: { stats: CacheStatsReader; speechBudget: SpeechBudget },
  {
    tenantId,
    now,
    pricePerMillionChars,
    charactersPerDay,
  }: { tenantId: string; now: Date; pricePerMillionChars: number; charactersPerDay: number },
): Promise<TenantCacheStats> {
  const [figures, usedToday] = await Promise.all([
    deps.stats.read({ tenantId, now, pricePerMillionChars }),
    deps.speechBudget.used(tenantId, budgetDay(now)),
  ]).catch((error: unknown) => {
    throw new AppError('unavailable', 'The cache figures could not be read right now; try again shortly', {
      retryAfterSeconds: 5,
      cause: error,
    });
  });
  const limited = charactersPerDay > 0;
  const defaultKey = {
    charactersPerDay: limited ? charactersPerDay : null,
    usedToday,
    remainingToday: limited ? Math.max(0, charactersPerDay - usedToday) : null,
  };
  return { tenantId, generatedAt: now.toISOString(), ...figures, defaultKey };
}
