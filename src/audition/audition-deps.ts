import type { HitRecorder } from '../cache/hit-recorder.ts';
import type { MemoryAudioTier } from '../cache/memory-audio-tier.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import type { Audition } from '../domain/audition.ts';
import type { AuditionAudio } from '../domain/audition-audio.ts';
import type { Logger } from '../logger.ts';
import type { Outages } from '../outage-log.ts';
import type { Caller, ProjectAccess } from '../ports/account-directory.ts';
import type { AudioCacheIndex } from '../ports/audio-cache-index.ts';
import type { BlobStore, ProjectBlobStores } from '../ports/blob-store.ts';
import type { ProjectStoreStatus } from '../cache/project-stores.ts';
import type { Leases } from '../ports/leases.ts';
import type { SpeechBudget } from '../ports/speech-budget.ts';
import type { Synthesizer } from '../ports/synthesizer.ts';
import type { CacheMetrics } from '../telemetry.ts';
import type { Tier, Timings } from '../timing.ts';

// What the audition use case (audition-service.ts) is given, asked and answers.

/** An audition's audio and the tier that answered it (Server-Timing's `tier`). */
export type AuditionAnswer = AuditionAudio & { tier: Tier };

export interface AuditionRequest {
  caller: Caller;
  project: ProjectAccess;
  audition: Audition;
  log: Logger;
  /** Where the time goes, for Server-Timing. */
  timings?: Timings;
  /**
   * Background work of a predictive prewarm: its synthesis waits for a background slot (never ahead of an interactive
   * one) and its entry is counted as predictive spend.
   */
  predictive?: boolean;
}

export interface AuditionServiceDeps {
  index: AudioCacheIndex;
  /** The operator's account (AZURE_STORAGE_*). */
  blobStore: BlobStore;
  /**
   * Projects' own storage accounts (settings.creds.storage.azure). Without them a project's own account is not used:
   * its auditions go to the operator's (tests only).
   */
  projectStores?: ProjectBlobStores;
  /** What this instance knows of project accounts' failures: the app's one, which health and stats read too. */
  projectStoreStatus: ProjectStoreStatus;
  synthesizer: Synthesizer;
  cache: Pick<Config['cache'], 'ttlDays' | 'lineLeaseMs'>;
  /** App-wide fallback credentials, for projects without their own; synthesis limits. */
  speech: Pick<
    Config['speech'],
    | 'defaultKey'
    | 'defaultRegion'
    | 'host'
    | 'maxConcurrency'
    | 'queueWaitMs'
    | 'timeoutMs'
    | 'defaultKeyCharsPerTenantPerDay'
  >;
  /** Each tenant's characters per day on the default key (DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY); none: no limit. */
  budget?: SpeechBudget;
  /** Plays and syntheses are counted here and written to the index in batches. */
  hits: HitRecorder;
  /** The in-process tier of hot audio; without it every hit reads the index and the blob. */
  memory?: MemoryAudioTier;
  /** Cross-instance coordination of misses (a lease per line); without it, each instance synthesizes alone. */
  leases?: Leases;
  /** Synthesis latency and failures by reason (no-ops unless telemetry is on). */
  metrics?: CacheMetrics;
  /** A tenant's prewarm items at once in this instance, across all its prewarm requests (PREWARM_CONCURRENCY). */
  prewarmConcurrency?: number;
  now?: Clock;
  /** Where failures of the database, Blob Storage and the speech service are logged, once per outage. */
  outages: Outages;
}

export interface PrewarmResult {
  cacheKey: string;
  status: 'cached' | 'created';
}
