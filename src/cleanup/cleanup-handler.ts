import type { InvocationContext, Timer } from '@azure/functions';
import type { Services } from '../app/services.ts';
import type { Logger } from '../logger.ts';
import type { CacheStats, UsageWindow } from '../stats/cache-stats.ts';
import { cleanCache } from './clean-cache.ts';

/** The cleanup timer's handler: one pass, nothing else. */
export function createCleanupHandler(services: () => Services) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    await runCleanupPass(services(), context);
  };
}

/**
 * One cleanup pass with the app's settings: what the timer and `npm run cleanup` both run.
 * After the guide's lines, the stats endpoint's figures for all tenants (no text of any line).
 */
export async function runCleanupPass(services: Services, log: Logger) {
  const report = await cleanCache(
    { maintenance: services.maintenance, blobStore: services.blobStore, log },
    { maxEntriesPerTenant: services.config.cache.maxEntriesPerTenant, now: services.now },
  );
  if (report.ran) {
    try {
      log.info(describeUsage(await services.stats.read({ now: services.now(), pricePerMillionChars: services.config.ttsPricePerMillionChars })));
    } catch (error) {
      log.warn(`Cache usage figures unavailable: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return report;
}

/** The all-tenant figures as one log line. */
export function describeUsage(stats: CacheStats): string {
  const ratio = (value: number | null) => (value === null ? 'n/a' : `${(value * 100).toFixed(1)}%`);
  const window = (name: string, w: UsageWindow) =>
    `${name}: ${w.entriesCreated} entries created, ${w.hits} hits, ${w.misses} syntheses, hit ratio ${ratio(w.hitRatio)}, ` +
    `${w.charactersSaved} characters ($${w.dollarsSaved.toFixed(2)}) saved`;
  const top = stats.topEntries.map((e) => `${e.voice} ${e.hits} hits ${(e.sizeBytes / 1024).toFixed(0)} KB`).join(', ');
  return (
    `Cache usage (all tenants): ${window('last 24 h', stats.last24h)}; ${window('last 7 d', stats.last7d)}; ` +
    `all cached entries: ${stats.savings.characters} characters ($${stats.savings.dollars.toFixed(2)} at $${stats.savings.pricePerMillionChars}/M) saved; ` +
    `most played: ${top || 'none'}`
  );
}
