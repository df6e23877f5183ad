import type { InvocationContext, Timer } from '@azure/functions';
import type { Services } from '../app/services.ts';
import type { Logger } from '../logger.ts';
import { cleanCache } from '../cleanup/clean-cache.ts';
import type { ProjectStoreDeps } from '../cleanup/project-store-deletes.ts';

/** The cleanup timer's handler: one pass, nothing else. */
export function createCleanupHandler(services: () => Services) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    await runCleanupPass(services(), context);
  };
}

/** Projects' own storage accounts, as the cleanup and the purge reach them. */
export function projectStoreDeps(services: Services): ProjectStoreDeps {
  return { maintenance: services.maintenance, accounts: services.accounts, stores: services.projectStores };
}

/** One cleanup pass with the app's settings: what the timer and `npm run cleanup` both run. */
export function runCleanupPass(services: Services, log: Logger) {
  return cleanCache(
    {
      maintenance: services.maintenance,
      leases: services.leases,
      blobStore: services.blobStore,
      stats: services.stats,
      log,
      projects: projectStoreDeps(services),
    },
    {
      maxEntriesPerTenant: services.config.cache.maxEntriesPerTenant,
      now: services.now,
      pricePerMillionChars: services.config.ttsPricePerMillionChars,
    },
  );
}
