import { createHash } from 'node:crypto';
import { StorageSharedKeyCredential } from '@azure/storage-blob';
import { LRUCache } from 'lru-cache';
import { lruClock, systemClock, type Clock } from '../clock.ts';
import type { ProjectStorage } from '../domain/project-storage.ts';
import type { BlobStore, ProjectBlobStores } from '../ports/blob-store.ts';
import { createStoreAgents, guardedServiceClient } from './azure-blob-sdk.ts';
import {
  AzureBlobStore,
  DEFAULT_MAX_BLOB_BYTES,
  DEFAULT_RETRY,
  type AzureBlobStoreOptions,
} from './azure-blob-store.ts';
import type { GuardedAgents } from './guarded-agents.ts';
import { StallGuard } from './stall-guard.ts';

export interface AzureProjectBlobStoresOptions {
  /** Deadlines of each store's calls, as the operator's store has them (BLOB_*_TIMEOUT_SECONDS). */
  readTimeoutMs?: number;
  writeTimeoutMs?: number;
  /** Stores kept at once (default 256). */
  max?: number;
  /** A store unused this long is dropped, with its key (default 1 hour). */
  idleMs?: number;
  now?: Clock;
  /** The longest blob read (MAX_AUDITION_MB); no response of a project's account is read past it. */
  maxBlobBytes?: number;
  /**
   * Development only (PROJECT_STORAGE_ALLOW_ANY_ENDPOINT): connect to any address. Otherwise a project's account is
   * reached only at public addresses, judged after DNS on the address connected to.
   */
  allowPrivateAddresses?: boolean;
}

/**
 * ProjectBlobStores over Azure Blob Storage with each account's shared key. A store (its client, its HTTP pipeline and
 * connections, its stall guard) is built once per account, container and key, and reused; a changed key is a new entry,
 * and the old one ages out. The cache is keyed by a hash of the key, never the key itself. Each store has its own
 * stall guard, so a hung project account fails that project's calls at once without touching anyone else's. Its
 * connections go only to public addresses (unless development allows any) and read no response past the longest blob.
 */
export class AzureProjectBlobStores implements ProjectBlobStores {
  readonly #stores: LRUCache<string, BlobStore>;
  readonly #options: Omit<AzureBlobStoreOptions, 'stallGuard'>;
  /** Every project account's connections: public addresses only (unless development allows any), bounded answers. */
  readonly #agents: GuardedAgents;

  constructor(options: AzureProjectBlobStoresOptions = {}) {
    const clock = options.now ?? systemClock;
    this.#stores = new LRUCache({
      max: options.max ?? 256,
      ttl: options.idleMs ?? 60 * 60_000,
      updateAgeOnGet: true,
      ...lruClock(clock),
    });
    this.#options = {
      readTimeoutMs: options.readTimeoutMs,
      writeTimeoutMs: options.writeTimeoutMs,
      maxBlobBytes: options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES,
    };
    this.#agents = createStoreAgents(this.#options.maxBlobBytes!, !options.allowPrivateAddresses);
  }

  storeFor(storage: ProjectStorage): BlobStore {
    const id = `${storage.storeId}\u0000${createHash('sha256').update(storage.accessKey).digest('base64url')}`;
    let store = this.#stores.get(id);
    if (!store) {
      this.#stores.purgeStale(); // stores idle past their time go with their keys, not only when looked up again
      const credential = new StorageSharedKeyCredential(storage.accountName, storage.accessKey);
      const service = guardedServiceClient(storage.serviceUrl, credential, {
        retry: DEFAULT_RETRY,
        agents: this.#agents,
      });
      store = new AzureBlobStore(service.getContainerClient(storage.containerName), {
        ...this.#options,
        createContainer: false,
        stallGuard: new StallGuard(`the storage account ${storage.accountName}`),
      });
      this.#stores.set(id, store);
    }
    return store;
  }

  /** How many stores are kept now (tests). */
  get size(): number {
    return this.#stores.size;
  }
}
