import { AzureBlobStore } from '../adapters/azure-blob-store.ts';
import { AzureProjectBlobStores } from '../adapters/azure-project-blob-stores.ts';
import { AzureSpeechSynthesizer } from '../adapters/azure-speech-synthesizer.ts';
import { LocalSpeechSynthesizer } from '../adapters/local-speech-synthesizer.ts';
import { ConnectRetry } from '../adapters/postgres/connect-retry.ts';
import { PrismaAccountDirectory } from '../adapters/postgres/prisma-account-directory.ts';
import { PrismaAudioCacheIndex } from '../adapters/postgres/prisma-audio-cache-index.ts';
import { PrismaCacheMaintenance } from '../adapters/postgres/prisma-cache-maintenance.ts';
import { PrismaCacheStatsReader } from '../adapters/postgres/prisma-cache-stats.ts';
import { Database } from '../adapters/postgres/prisma-client.ts';
import { PrismaLeases } from '../adapters/postgres/prisma-leases.ts';
import { PrismaPredictiveRuns } from '../adapters/postgres/prisma-predictive-runs.ts';
import { PrismaSpeechBudget } from '../adapters/postgres/prisma-speech-budget.ts';
import { AzureVoiceList } from '../adapters/azure-voice-list.ts';
import { StallGuard } from '../adapters/stall-guard.ts';
import { AuditionService } from '../audition/audition-service.ts';
import { SpeechSynthesis } from '../audition/speech-synthesis.ts';
import { AudioCache } from '../cache/audio-cache.ts';
import { PredictivePrewarm } from '../audition/predictive-prewarm.ts';
import { Prewarm } from '../audition/prewarm-auditions.ts';
import { VoiceInventory } from '../audition/voice-inventory.ts';
import { AccessControl } from '../auth/access-control.ts';
import { HitRecorder } from '../cache/hit-recorder.ts';
import { MemoryAudioTier } from '../cache/memory-audio-tier.ts';
import { ProjectStoreStatus } from '../cache/project-stores.ts';
import { CacheCleanup } from '../cleanup/clean-cache.ts';
import type { ProjectStoreDeps } from '../cleanup/project-store-deletes.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { ProjectStoragePolicy } from '../domain/project-storage.ts';
import { HealthCheck } from '../health/check-health.ts';
import type { Logger } from '../logger.ts';
import type { AccountDirectory } from '../ports/account-directory.ts';
import type { AudioCacheIndex } from '../ports/audio-cache-index.ts';
import type { BlobStore, ProjectBlobStores } from '../ports/blob-store.ts';
import type { CacheMaintenance, ProjectStoreMaintenance } from '../ports/cache-maintenance.ts';
import type { CacheStatsReader } from '../ports/cache-stats.ts';
import type { Leases } from '../ports/leases.ts';
import type { PredictiveRuns } from '../ports/predictive-runs.ts';
import type { VoiceList } from '../ports/voice-list.ts';
import type { SpeechBudget } from '../ports/speech-budget.ts';
import type { Synthesizer } from '../ports/synthesizer.ts';
import { createOutages, type Outages } from '../outage-log.ts';
import { TenantPurge } from '../purge/purge-cache.ts';
import { TenantStats } from '../stats/read-cache-stats.ts';
import { CacheMetrics, startTelemetry } from '../telemetry.ts';

/**
 * What the functions' handlers call, built from one parsed Config: each use case built once, with the ports and the
 * settings it needs, so that a handler makes one call and assembles nothing.
 */
export interface Services {
  config: Config;
  access: AccessControl;
  auditions: AuditionService;
  /** After a default-line audition, the other voices of its language, in the background (PREDICTIVE_PREWARM_*). */
  predictive: PredictivePrewarm;
  /** A prewarm request's items, PREWARM_CONCURRENCY at a time. */
  prewarm: Prewarm;
  /** The stats endpoint's figures of one tenant (TTS_PRICE_PER_MILLION_CHARS, the default key's daily budget). */
  stats: TenantStats;
  /** An admin's purge of their tenant's entries, in the operator's account and in projects' own. */
  purge: TenantPurge;
  /** One cleanup pass (CACHE_MAX_ENTRIES_PER_TENANT): the hourly timer's and `npm run cleanup`'s. */
  cleanup: CacheCleanup;
  /** Whether this instance reaches its database and its blob container. */
  health: HealthCheck;
  /** Metrics for Application Insights (no-ops without APPLICATIONINSIGHTS_CONNECTION_STRING). */
  metrics: CacheMetrics;
  /** The clock every expiry and age decision reads (injected by tests). */
  now: Clock;
  /**
   * Starts, without waiting, what every first request needs: a database connection, the Blob
   * container check. A new instance's first request then finds them under way while its token
   * is verified. Failures are left to the requests. Not Prisma's query compiler: no statement
   * of a HIT goes through Prisma, and loading it here held the listener back ~60 ms (npm run
   * bench:cold); the first statement that needs it (a hit-count flush, a cleanup) loads it.
   */
  warmUp(): void;
  /** Writes the hit counts still in memory, then ends every connection these services opened. */
  close(): Promise<void>;
}

/** What createServices builds: the services, the ports they are built on and the database (tools, tests). */
export interface BuiltServices extends Services {
  /** The pool, and Prisma's client over it when first asked for. */
  db: Database;
  /** The operator's account (AZURE_STORAGE_*). */
  blobStore: BlobStore;
  /** Projects' own storage accounts: a store per account and key, built once, reused, bounded. */
  projectStores: ProjectBlobStores;
  /** What this instance knows of failing project accounts (health, stats). */
  projectStoreStatus: ProjectStoreStatus;
  /** The Khipu users and projects, read-only (the cleanup finds project accounts' credentials through it). */
  accounts: AccountDirectory;
  /** Plays counted in memory, written to the index every HIT_FLUSH_SECONDS and on close(). */
  hits: HitRecorder;
  maintenance: CacheMaintenance & ProjectStoreMaintenance;
  /** Who fills a line, who runs the cleanup: leases every instance sees, in the database. */
  leases: Leases;
  /** The stats endpoint's and the cleanup log's figures. */
  statsReader: CacheStatsReader;
  /** Each tenant's characters per UTC day on the service's default key. */
  speechBudget: SpeechBudget;
  /** Resolves when the database answers a trivial query (the health check). */
  pingDatabase(): Promise<void>;
}

/** Any port replaced (another engine, an in-memory twin, a fault), and the clock. */
export interface ServiceOverrides {
  index?: AudioCacheIndex;
  blobStore?: BlobStore;
  projectStores?: ProjectBlobStores;
  synthesizer?: Synthesizer;
  leases?: Leases;
  accounts?: AccountDirectory;
  maintenance?: CacheMaintenance & ProjectStoreMaintenance;
  statsReader?: CacheStatsReader;
  speechBudget?: SpeechBudget;
  predictiveRuns?: PredictiveRuns;
  voiceList?: VoiceList;
  /** Where background work (predictive prewarm) logs; the console by default. */
  log?: Logger;
  now?: Clock;
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): BuiltServices {
  startTelemetry(config.applicationInsightsConnectionString); // before the metrics are created
  const metrics = new CacheMetrics();
  const db = openDatabase(config);
  const now = overrides.now ?? systemClock;
  const leases = overrides.leases ?? new PrismaLeases(db);
  const blobStore = overrides.blobStore ?? createBlobStore(config);
  const index = overrides.index ?? new PrismaAudioCacheIndex(db);
  const hits = new HitRecorder(index, console, config.hitFlushMs);
  const synthesizer = overrides.synthesizer ?? createSynthesizer(config.speech, now);
  const speechBudget = overrides.speechBudget ?? new PrismaSpeechBudget(db);
  const projectStores = overrides.projectStores ?? createProjectStores(config, now);
  const projectStoreStatus = new ProjectStoreStatus(now);
  const accounts = overrides.accounts ?? new PrismaAccountDirectory(db, storagePolicyOf(config, blobStore));
  const ports = { index, blobStore, projectStores, projectStoreStatus, synthesizer, hits, leases, metrics, now };
  // The app's one log of each dependency's outages; its one ProjectStoreStatus (above) is what health and stats read.
  const auditions = createAuditions(config, { ...ports, outages: createOutages(), budget: speechBudget });
  const predictive = createPredictivePrewarm(config, auditions, db, { ...overrides, now });
  const built: Built = {
    config,
    db,
    blobStore,
    projectStores,
    projectStoreStatus,
    accounts,
    predictive,
    access: new AccessControl(config.jwt, accounts, { cacheMs: config.authCacheMs, now }),
    hits,
    auditions,
    maintenance: overrides.maintenance ?? new PrismaCacheMaintenance(db),
    leases,
    statsReader: overrides.statsReader ?? new PrismaCacheStatsReader(db),
    speechBudget,
    async pingDatabase() {
      await db.pool.query('SELECT 1');
    },
    metrics,
    now,
  };
  return {
    ...built,
    ...createUseCases(built),
    warmUp() {
      // A connection of the pool a HIT's statements go through (Database.pool), and the container checked.
      void Promise.allSettled([db.pool.query('SELECT 1'), blobStore.warmUp?.()]);
    },
    async close() {
      await predictive.drain(); // no new background syntheses; those under way finish
      await auditions.drain(); // misses still being stored
      synthesizer.close?.(); // connections opened ahead for syntheses that never came
      await hits.close();
      await db.close(); // leases still held expire on their own
    },
  };
}

type UseCases = Pick<Services, 'prewarm' | 'stats' | 'purge' | 'cleanup' | 'health'>;
/** The clients, ports and settings the use cases are built on. */
type Built = Omit<BuiltServices, keyof UseCases | 'warmUp' | 'close'>;

/** The prewarm, stats, purge, cleanup and health use cases, each with its ports and settings. */
function createUseCases(built: Built): UseCases {
  const {
    config,
    auditions,
    maintenance,
    statsReader: stats,
    speechBudget,
    blobStore,
    projectStoreStatus,
    now,
  } = built;
  // Projects' own storage accounts, as the cleanup and the purge reach them.
  const projects: ProjectStoreDeps = { maintenance, accounts: built.accounts, stores: built.projectStores };
  const pricePerMillionChars = config.ttsPricePerMillionChars;
  return {
    prewarm: new Prewarm(auditions, config.prewarmConcurrency),
    stats: new TenantStats(
      { stats, speechBudget, projectStoreStatus, now },
      { pricePerMillionChars, charactersPerDay: config.speech.defaultKeyCharsPerTenantPerDay },
    ),
    purge: new TenantPurge({ maintenance, blobStore, projects, memory: auditions }),
    cleanup: new CacheCleanup(
      { maintenance, leases: built.leases, blobStore, stats, projects },
      { maxEntriesPerTenant: config.cache.maxEntriesPerTenant, now, pricePerMillionChars },
    ),
    health: new HealthCheck({ pingDatabase: () => built.pingDatabase(), blobStore, projectStoreStatus }),
  };
}

/** The ports the audition use case and its collaborators are built over. */
interface AuditionPorts {
  index: AudioCacheIndex;
  blobStore: BlobStore;
  projectStores: ProjectBlobStores;
  projectStoreStatus: ProjectStoreStatus;
  synthesizer: Synthesizer;
  budget: SpeechBudget;
  hits: HitRecorder;
  leases: Leases;
  metrics: CacheMetrics;
  outages: Outages;
  now: Clock;
}

/**
 * The audition use case and what it talks to: the cache's tiers (with the in-memory tier when configured) and the
 * synthesis step, each built once over these ports with its settings.
 */
function createAuditions(config: Config, ports: AuditionPorts): AuditionService {
  const { index, blobStore, projectStores, projectStoreStatus, synthesizer, hits, outages, now } = ports;
  const cache = new AudioCache({
    index,
    blobStore,
    hits,
    memory: config.memoryCache.maxBytes > 0 ? new MemoryAudioTier({ ...config.memoryCache, now }) : undefined,
    ttlDays: config.cache.ttlDays,
    engine: { provider: synthesizer.provider, outputFormat: synthesizer.outputFormat },
    now,
    outages,
    projectStores: projectStoreStatus,
  });
  const synthesis = new SpeechSynthesis({
    synthesizer,
    speech: config.speech,
    budget: ports.budget,
    metrics: ports.metrics,
    now,
    databaseOutage: outages.database,
  });
  return new AuditionService({
    cache,
    synthesis,
    engine: synthesizer,
    projectStores,
    projectStoreStatus,
    hits,
    leases: ports.leases,
    lineLeaseMs: config.cache.lineLeaseMs,
    speech: config.speech,
    prewarmConcurrency: config.prewarmConcurrency,
    now,
    outages,
  });
}

/**
 * The connection budget (DATABASE_POOL_MAX) is the one pool (Prisma's client runs over it too), all this instance
 * opens: every statement (leases included) is a single statement or a transaction, safe through PgBouncer in
 * transaction mode. The pool waits out a restart (ConnectRetry), and a database that stopped
 * answering one statement is not asked by the next ones until it answers a probe (StallGuard).
 */
function openDatabase(config: Config): Database {
  return Database.open(config.databaseUrl, {
    maxConnections: config.databasePoolMax,
    connectRetry: new ConnectRetry({ windowMs: config.databaseReconnectMs }),
    timeoutMs: config.databaseTimeoutMs,
    stallGuard: new StallGuard('the database'),
  });
}

/** Blob Storage as configured, with its deadlines and the longest audition read. */
function createBlobStore(config: Config): BlobStore {
  return AzureBlobStore.fromConfig(config.blobStorage, {
    readTimeoutMs: config.blobTimeouts.readMs,
    writeTimeoutMs: config.blobTimeouts.writeMs,
    maxBlobBytes: config.maxAudioBytes,
    stallGuard: new StallGuard('Blob Storage'),
  });
}

/** Projects' own accounts, with the operator's store's deadlines and limit; public addresses only unless developing. */
function createProjectStores(config: Config, now: Clock): ProjectBlobStores {
  return new AzureProjectBlobStores({
    readTimeoutMs: config.blobTimeouts.readMs,
    writeTimeoutMs: config.blobTimeouts.writeMs,
    maxBlobBytes: config.maxAudioBytes,
    allowPrivateAddresses: config.projectStorage.allowAnyEndpoint,
    now,
  });
}

/** Where projects' accounts may be (PROJECT_STORAGE_*), never the operator's own. */
function storagePolicyOf(config: Config, blobStore: BlobStore): ProjectStoragePolicy {
  return {
    ...config.projectStorage,
    operatorAccountName: blobStore instanceof AzureBlobStore ? blobStore.accountName : undefined,
  };
}

/** Azure Speech, or the offline development voice (TTS_PROVIDER=local). */
function createSynthesizer(speech: Config['speech'], now: Clock): Synthesizer {
  if (speech.provider === 'local') return new LocalSpeechSynthesizer();
  return new AzureSpeechSynthesizer({
    now,
    host: speech.host,
    timeoutMs: speech.timeoutMs,
    connectTimeoutMs: speech.connectTimeoutMs,
    firstAudioTimeoutMs: speech.firstAudioTimeoutMs,
    chunkTimeoutMs: speech.chunkTimeoutMs,
  });
}

/**
 * Predictive prewarm over the audition use case: the voice inventory (refreshed daily from the region's voices/list,
 * asked with the key a trigger used; Azure only) and the runs claimed in the database.
 */
function createPredictivePrewarm(
  config: Config,
  auditions: AuditionService,
  db: Database,
  overrides: ServiceOverrides & { now: Clock },
): PredictivePrewarm {
  const { speech } = config;
  const log = overrides.log ?? console;
  const list =
    overrides.voiceList ??
    (speech.provider === 'azure'
      ? new AzureVoiceList({ host: speech.host, timeoutMs: speech.connectTimeoutMs })
      : undefined);
  return new PredictivePrewarm({
    auditions,
    voices: new VoiceInventory({ list, now: overrides.now, log }),
    runs: overrides.predictiveRuns ?? new PrismaPredictiveRuns(db),
    credentialsFor: (project) => auditions.credentialsFor(project),
    settings: config.predictivePrewarm,
    ttlDays: config.cache.ttlDays,
    log,
    now: overrides.now,
  });
}
