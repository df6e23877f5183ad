import { AuditionService } from '../audition/audition-service.ts';
import { AccessControl } from '../auth/access-control.ts';
import { PrismaAccountDirectory } from '../auth/prisma-account-directory.ts';
import { AzureBlobStore } from '../blob/azure-blob-store.ts';
import type { BlobStore } from '../blob/blob-store.ts';
import { HitRecorder } from '../cache/hit-recorder.ts';
import { MemoryAudioTier } from '../cache/memory-audio-tier.ts';
import { PgMissLocks } from '../cache/pg-miss-locks.ts';
import { PrismaAudioCacheIndex } from '../cache/prisma-audio-cache-index.ts';
import type { CacheMaintenance } from '../cleanup/cache-maintenance.ts';
import { PrismaCacheMaintenance } from '../cleanup/prisma-cache-maintenance.ts';
import { systemClock, type Clock } from '../clock.ts';
import { parseConfig, type Config } from '../config.ts';
import { createPrismaClient, type PrismaClient } from '../db/prisma-client.ts';
import { AzureSpeechSynthesizer } from '../speech/azure-speech-synthesizer.ts';
import { LocalSpeechSynthesizer } from '../speech/local-speech-synthesizer.ts';
import type { Synthesizer } from '../speech/synthesizer.ts';
import { CacheStatsReader } from '../stats/cache-stats.ts';
import { CacheMetrics, startTelemetry, stopTelemetry } from '../telemetry.ts';

/** The clients a function invocation works with, built from one parsed Config. */
export interface Services {
  config: Config;
  prisma: PrismaClient;
  blobStore: BlobStore;
  access: AccessControl;
  auditions: AuditionService;
  /** Plays counted in memory, written to the index every HIT_FLUSH_SECONDS and on close(). */
  hits: HitRecorder;
  maintenance: CacheMaintenance;
  /** The stats endpoint's and the cleanup log's figures. */
  stats: CacheStatsReader;
  /** Metrics for Application Insights (no-ops without APPLICATIONINSIGHTS_CONNECTION_STRING). */
  metrics: CacheMetrics;
  /** The clock every expiry and age decision reads (injected by tests). */
  now: Clock;
  /** Writes the hit counts still in memory, then ends every connection these services opened. */
  close(): Promise<void>;
}

export interface ServiceOverrides {
  /** Replaces the Azure Speech synthesizer (another engine; tests that count calls). */
  synthesizer?: Synthesizer;
  now?: Clock;
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  startTelemetry(config.applicationInsightsConnectionString); // before the metrics are created
  const metrics = new CacheMetrics();
  const prisma = createPrismaClient(config.databaseUrl);
  const now = overrides.now ?? systemClock;
  const missLocks = new PgMissLocks(config.databaseUrl, config.speech.maxConcurrency * 2);
  const blobStore = AzureBlobStore.fromConfig(config.blobStorage);
  const index = new PrismaAudioCacheIndex(prisma);
  const hits = new HitRecorder(index, console, config.hitFlushMs);
  const synthesizer: Synthesizer =
    overrides.synthesizer ??
    (config.speech.provider === 'local'
      ? new LocalSpeechSynthesizer()
      : new AzureSpeechSynthesizer({ host: config.speech.host, timeoutMs: config.speech.timeoutMs }));
  const auditions = new AuditionService({
    index,
    blobStore,
    synthesizer,
    hits,
    memory: config.memoryCache.maxBytes > 0 ? new MemoryAudioTier({ ...config.memoryCache, now }) : undefined,
    cache: config.cache,
    speech: config.speech,
    missLocks,
    metrics,
    now,
  });
  return {
    config,
    prisma,
    blobStore,
    access: new AccessControl(config.jwt, new PrismaAccountDirectory(prisma), { cacheMs: config.authCacheMs, now }),
    hits,
    auditions,
    maintenance: new PrismaCacheMaintenance(prisma, config.databaseUrl, config.ttsPricePerMillionChars),
    stats: new CacheStatsReader(prisma),
    metrics,
    now,
    async close() {
      await auditions.drain(); // misses still being stored
      synthesizer.close?.(); // connections opened ahead for syntheses that never came
      await hits.close();
      await Promise.all([prisma.$disconnect(), missLocks.close()]);
    },
  };
}

let workerServices: Services | undefined;

/**
 * This worker's services, built on first use and shared by every invocation after it
 * (connection pools and credentials are expensive; settings do not change while a worker
 * lives). A configuration error is thrown on every call until the settings are fixed.
 */
export function getWorkerServices(): Services {
  workerServices ??= createServices(parseConfig());
  return workerServices;
}

/** When the worker stops: misses in flight stored, the last hit counts written, connections closed. */
export async function closeWorkerServices(): Promise<void> {
  const services = workerServices;
  workerServices = undefined;
  await services?.close();
  await stopTelemetry(); // export what is buffered
}
