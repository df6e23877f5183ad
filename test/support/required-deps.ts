import { AzureBlobStore, type AzureBlobStoreOptions } from '../../src/adapters/azure-blob-store.ts';
import { ConnectRetry } from '../../src/adapters/postgres/connect-retry.ts';
import { Database, type DatabaseOptions } from '../../src/adapters/postgres/prisma-client.ts';
import { StallGuard } from '../../src/adapters/stall-guard.ts';
import type { AuditionServiceDeps } from '../../src/audition/audition-service.ts';
import { SpeechSynthesis, type SpeechSynthesisDeps } from '../../src/audition/speech-synthesis.ts';
import { AudioCache, type AudioCacheDeps } from '../../src/cache/audio-cache.ts';
import type { HitRecorder } from '../../src/cache/hit-recorder.ts';
import type { MemoryAudioTier } from '../../src/cache/memory-audio-tier.ts';
import { ProjectStoreStatus } from '../../src/cache/project-stores.ts';
import { systemClock } from '../../src/clock.ts';
import type { Clock } from '../../src/clock.ts';
import type { BlobStorageConfig, Config } from '../../src/config.ts';
import { createOutages, OutageLog, type Outages } from '../../src/outage-log.ts';
import type { AudioCacheIndex } from '../../src/ports/audio-cache-index.ts';
import type { BlobStore, ProjectBlobStores } from '../../src/ports/blob-store.ts';
import type { Leases } from '../../src/ports/leases.ts';
import type { SpeechBudget } from '../../src/ports/speech-budget.ts';
import type { Synthesizer } from '../../src/ports/synthesizer.ts';
import type { CacheMetrics } from '../../src/telemetry.ts';

// The dependencies src/app/services.ts gives each class it builds (one Outages, one ProjectStoreStatus, a retry and a
// stall guard per connection pool), filled in for the tests that build one directly; a test passes its own to watch it.

type Fill<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/** What a test gives to build an AuditionService as services.ts does: its ports and settings, in one bag. */
export interface AuditionTestDeps {
  index: AudioCacheIndex;
  blobStore: BlobStore;
  projectStores?: ProjectBlobStores;
  projectStoreStatus?: ProjectStoreStatus;
  synthesizer: Synthesizer;
  cache: Pick<Config['cache'], 'ttlDays' | 'lineLeaseMs'>;
  speech: SpeechSynthesisDeps['speech'] & Pick<Config['speech'], 'timeoutMs'>;
  budget?: SpeechBudget;
  hits: HitRecorder;
  memory?: MemoryAudioTier;
  leases?: Leases;
  metrics?: CacheMetrics;
  prewarmConcurrency?: number;
  now?: Clock;
  outages?: Outages;
}

/**
 * An AuditionService's dependencies as services.ts builds them (its AudioCache and SpeechSynthesis over the ports
 * given), with fresh outage logs and project-store status unless given.
 */
export function auditionDeps(deps: AuditionTestDeps): AuditionServiceDeps {
  const now = deps.now ?? systemClock;
  const outages = deps.outages ?? createOutages();
  const projectStoreStatus = deps.projectStoreStatus ?? new ProjectStoreStatus(now);
  const { synthesizer, hits } = deps;
  const cache = new AudioCache({
    index: deps.index,
    blobStore: deps.blobStore,
    hits,
    memory: deps.memory,
    ttlDays: deps.cache.ttlDays,
    engine: { provider: synthesizer.provider, outputFormat: synthesizer.outputFormat },
    now,
    outages,
    projectStores: projectStoreStatus,
  });
  const synthesis = new SpeechSynthesis({
    synthesizer,
    speech: deps.speech,
    budget: deps.budget,
    metrics: deps.metrics,
    now,
    databaseOutage: outages.database,
  });
  return {
    cache,
    synthesis,
    engine: synthesizer,
    projectStores: deps.projectStores,
    projectStoreStatus,
    hits,
    leases: deps.leases,
    lineLeaseMs: deps.cache.lineLeaseMs,
    speech: deps.speech,
    prewarmConcurrency: deps.prewarmConcurrency ?? 4,
    now,
    outages,
  };
}

/** An AudioCache's dependencies, likewise. */
export function audioCacheDeps(deps: Fill<AudioCacheDeps, 'outages' | 'projectStores'>): AudioCacheDeps {
  return { outages: createOutages(), projectStores: new ProjectStoreStatus(deps.now ?? systemClock), ...deps };
}

/** The database's outage log, as SpeechSynthesis is given it. */
export function databaseOutage(): OutageLog {
  return new OutageLog('the database');
}

/** The database as services.ts opens it: its own connect retry and stall guard unless given. */
export function testDb(
  databaseUrl: string,
  options: Fill<DatabaseOptions, 'connectRetry' | 'stallGuard'> = {},
): Database {
  return Database.open(databaseUrl, {
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
