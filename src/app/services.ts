import { AuditionService } from '../audition/audition-service.ts';
import type { AccountDirectory } from '../auth/account-directory.ts';
import { PrismaAccountDirectory } from '../auth/prisma-account-directory.ts';
import { AzureBlobStore } from '../blob/azure-blob-store.ts';
import type { BlobStore } from '../blob/blob-store.ts';
import { PgMissLocks } from '../cache/pg-miss-locks.ts';
import { PrismaAudioCacheIndex } from '../cache/prisma-audio-cache-index.ts';
import type { CacheMaintenance } from '../cleanup/cache-maintenance.ts';
import { PrismaCacheMaintenance } from '../cleanup/prisma-cache-maintenance.ts';
import { parseConfig, type Config } from '../config.ts';
import { createPrismaClient, type PrismaClient } from '../db/prisma-client.ts';
import { AzureSpeechSynthesizer } from '../speech/azure-speech-synthesizer.ts';
import { LocalSpeechSynthesizer } from '../speech/local-speech-synthesizer.ts';
import type { Synthesizer } from '../speech/synthesizer.ts';

/** The clients a function invocation works with, built from one parsed Config. */
export interface Services {
  config: Config;
  prisma: PrismaClient;
  blobStore: BlobStore;
  accounts: AccountDirectory;
  auditions: AuditionService;
  maintenance: CacheMaintenance;
  /** The clock every expiry and age decision reads (injected by tests). */
  now: () => Date;
  /** Ends every connection these services opened. */
  close(): Promise<void>;
}

export interface ServiceOverrides {
  /** Replaces the Azure Speech synthesizer (another engine; tests that count calls). */
  synthesizer?: Synthesizer;
  now?: () => Date;
}

export function createServices(config: Config, overrides: ServiceOverrides = {}): Services {
  const prisma = createPrismaClient(config.databaseUrl);
  const now = overrides.now ?? (() => new Date());
  const missLocks = new PgMissLocks(config.databaseUrl, config.speech.maxConcurrency * 2);
  const blobStore = AzureBlobStore.fromConfig(config.blobStorage);
  const synthesizer =
    overrides.synthesizer ??
    (config.speech.provider === 'local'
      ? new LocalSpeechSynthesizer()
      : new AzureSpeechSynthesizer({ host: config.speech.host, timeoutMs: config.speech.timeoutMs }));
  return {
    config,
    prisma,
    blobStore,
    accounts: new PrismaAccountDirectory(prisma),
    auditions: new AuditionService({
      index: new PrismaAudioCacheIndex(prisma),
      blobStore,
      synthesizer,
      cache: config.cache,
      speech: config.speech,
      missLocks,
      now,
    }),
    maintenance: new PrismaCacheMaintenance(prisma, config.databaseUrl),
    now,
    async close() {
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
