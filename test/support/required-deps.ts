import { AzureBlobStore, type AzureBlobStoreOptions } from '../../src/adapters/azure-blob-store.ts';
import { ConnectRetry } from '../../src/adapters/postgres/connect-retry.ts';
import { createPrismaClient, type PrismaClient } from '../../src/adapters/postgres/prisma-client.ts';
import { StallGuard } from '../../src/adapters/stall-guard.ts';
import type { AuditionServiceDeps } from '../../src/audition/audition-service.ts';
import type { AudioCacheDeps } from '../../src/cache/audio-cache.ts';
import { ProjectStoreStatus } from '../../src/cache/project-stores.ts';
import { systemClock } from '../../src/clock.ts';
import type { BlobStorageConfig } from '../../src/config.ts';
import { createOutages, OutageLog } from '../../src/outage-log.ts';

// The dependencies src/app/services.ts gives each class it builds (one Outages, one ProjectStoreStatus, a retry and a
// stall guard per connection pool), filled in for the tests that build one directly; a test passes its own to watch it.

type Fill<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/** An AuditionService's dependencies, with fresh outage logs and project-store status unless given. */
export function auditionDeps(deps: Fill<AuditionServiceDeps, 'outages' | 'projectStoreStatus'>): AuditionServiceDeps {
  return { outages: createOutages(), projectStoreStatus: new ProjectStoreStatus(deps.now ?? systemClock), ...deps };
}

/** An AudioCache's dependencies, likewise. */
export function audioCacheDeps(deps: Fill<AudioCacheDeps, 'outages' | 'projectStores'>): AudioCacheDeps {
  return { outages: createOutages(), projectStores: new ProjectStoreStatus(deps.now ?? systemClock), ...deps };
}

/** The database's outage log, as MissTurns and SpeechSynthesis are given it. */
export function databaseOutage(): OutageLog {
  return new OutageLog('the database');
}

/** A Prisma client as services.ts opens one: its own connect retry and stall guard unless given. */
export function testPrismaClient(
  databaseUrl: string,
  options: Fill<Parameters<typeof createPrismaClient>[1], 'connectRetry' | 'stallGuard'> = {},
): PrismaClient {
  return createPrismaClient(databaseUrl, {
    connectRetry: new ConnectRetry(),
    stallGuard: new StallGuard('the database'),
    ...options,
  });
}

/** The operator's Blob store as services.ts builds it: its own stall guard unless given. */
export function testBlobStore(
  config: BlobStorageConfig,
  options: Fill<AzureBlobStoreOptions, 'stallGuard'> = {},
): AzureBlobStore {
  return AzureBlobStore.fromConfig(config, { stallGuard: new StallGuard('Blob Storage'), ...options });
}
