import { systemClock, type Clock } from '../../src/clock.ts';
import type { ProjectStorage } from '../../src/domain/project-storage.ts';
import type { BlobStore, ProjectBlobStores } from '../../src/ports/blob-store.ts';
import { MemoryBlobStore } from './memory-blob-store.ts';

/**
 * The twin of AzureProjectBlobStores: one MemoryBlobStore per store id (an account's container), whatever the key;
 * `rejecting` a store id makes its calls fail as a wrong key does.
 */
export class MemoryProjectBlobStores implements ProjectBlobStores {
  readonly #stores = new Map<string, MemoryBlobStore>();

  constructor(private readonly now: Clock = systemClock) {}

  storeFor(storage: ProjectStorage): BlobStore {
    return this.store(storage.storeId);
  }

  /** The store of this id (created empty on first use). */
  store(storeId: string): MemoryBlobStore {
    let store = this.#stores.get(storeId);
    if (!store) this.#stores.set(storeId, (store = new MemoryBlobStore(this.now)));
    return store;
  }
}
