import type { Logger } from '../logger.ts';
import type { AccountDirectory } from '../ports/account-directory.ts';
import type { BlobStore, DeleteManyResult, ProjectBlobStores } from '../ports/blob-store.ts';
import type { EntrySelection, ProjectStoreEntry, ProjectStoreMaintenance } from '../ports/cache-maintenance.ts';

/** What reaching projects' own storage accounts takes: the entries there, their credentials, their stores. */
export interface ProjectStoreDeps {
  maintenance: ProjectStoreMaintenance;
  accounts: Pick<AccountDirectory, 'findStorage'>;
  stores: ProjectBlobStores;
}

/** A project account that could not be used in this pass, and why (a code, never a message or a key). */
export interface UnreachableStore {
  tenantId: string;
  storeId: string;
  projectId: string | null;
  reason: string;
}

/**
 * One cleanup pass's (or one purge's) deletes in projects' own storage accounts. Their blobs go before their rows:
 * the row is the only record of a blob in an account that may not answer now, so an entry whose blob could not be
 * deleted keeps its row, and is tried again by the next pass. Each account is resolved once per pass (its credentials,
 * as a project of the tenant has them now); one that cannot be reached is skipped for the rest of the pass, and its
 * entries wait, without holding up anyone else's.
 */
export class ProjectStoreDeletes {
  /** The accounts skipped in this pass. */
  readonly unreachable: UnreachableStore[] = [];
  /** Entries selected but kept, their account unreachable (at least this many wait for a later pass). */
  kept = 0;
  readonly #deps: ProjectStoreDeps;
  readonly #log: Logger;
  readonly #stores = new Map<string, BlobStore | null>();

  constructor(deps: ProjectStoreDeps, log: Logger) {
    this.#deps = deps;
    this.#log = log;
  }

  /** Store ids skipped in this pass (the selections leave them out). */
  get skip(): string[] {
    return this.unreachable.map((store) => store.storeId);
  }

  /**
   * Deletes the entries `selection` picks in project accounts, `batchSize` at a time, blobs then rows; answers how many
   * entries went. `counted` hears of every blob batch's result (the pass's totals).
   */
  async deleteSelected(
    selection: EntrySelection,
    batchSize: number,
    counted: (result: DeleteManyResult) => void = () => {},
  ): Promise<number> {
    let deleted = 0;
    for (;;) {
      const batch = await this.#deps.maintenance.selectInProjectStores(selection, batchSize, this.skip);
      for (const entries of byStore(batch)) deleted += await this.#deleteInStore(entries, counted);
      if (batch.length < batchSize) return deleted;
    }
  }

  /** The account's store, with the credentials a project of its tenant has now; null (and skipped) when none. */
  async storeOf(entry: Pick<ProjectStoreEntry, 'tenantId' | 'storeId' | 'projectId'>): Promise<BlobStore | null> {
    const id = `${entry.tenantId}\u0000${entry.storeId}`;
    if (this.#stores.has(id)) return this.#stores.get(id)!;
    const storage = await this.#deps.accounts.findStorage(entry.tenantId, entry.storeId, entry.projectId ?? undefined);
    const store = storage ? this.#deps.stores.storeFor(storage) : null;
    this.#stores.set(id, store);
    if (!store) this.markUnreachable(entry, 'NoCredentials');
    return store;
  }

  /** Skips the account for the rest of the pass, with a warning naming its project and account (never its key). */
  markUnreachable(entry: Pick<ProjectStoreEntry, 'tenantId' | 'storeId' | 'projectId'>, reason: string): void {
    if (this.unreachable.some((store) => store.storeId === entry.storeId)) return;
    this.unreachable.push({ tenantId: entry.tenantId, storeId: entry.storeId, projectId: entry.projectId, reason });
    const why =
      reason === 'NoCredentials' ? 'no project of the tenant has its credentials any more' : `it failed (${reason})`;
    this.#log.warn(
      `cleanup: project ${entry.projectId ?? '(unknown)'}'s storage account ${entry.storeId} skipped in this pass: ` +
        `${why}; its entries wait for a later pass`,
    );
  }

  async #deleteInStore(entries: ProjectStoreEntry[], counted: (result: DeleteManyResult) => void): Promise<number> {
    const first = entries[0]!;
    const store = await this.storeOf(first);
    if (store) {
      const result = await store.deleteMany(entries.map((entry) => entry.path));
      counted(result);
      // Which ones failed is not known: none of the rows go, and those whose blob went are `missing` next time.
      if (result.failed === 0) return this.#deps.maintenance.deleteEntries(entries.map((entry) => entry.id));
      this.markUnreachable(first, deleteFailureCode(result.firstError));
    }
    this.kept += entries.length;
    return 0;
  }
}

/** The batch's entries, grouped by account (in the order first seen). */
function byStore(entries: readonly ProjectStoreEntry[]): ProjectStoreEntry[][] {
  const groups = new Map<string, ProjectStoreEntry[]>();
  for (const entry of entries) {
    const group = groups.get(entry.storeId);
    if (group) group.push(entry);
    else groups.set(entry.storeId, [entry]);
  }
  return [...groups.values()];
}

/** A failed delete's reason as a code: the service's error code of a sub-request (`403 AuthorizationFailure`), else a word. */
function deleteFailureCode(firstError: string | undefined): string {
  const code = /^\d{3} ([A-Za-z]+)/.exec(firstError ?? '')?.[1];
  if (code) return code;
  return /did not .* within \d+ ms/.test(firstError ?? '') ? 'timeout' : 'DeleteFailed';
}
