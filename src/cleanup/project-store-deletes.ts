import { failureOfStatus, type StoreFailure } from '../cache/project-stores.ts';
import { AUDIO_BLOB_PREFIX, parseAudioBlobPath } from '../domain/blob-layout.ts';
import type { Logger } from '../logger.ts';
import type { AccountDirectory } from '../ports/account-directory.ts';
import type { BlobStore, DeleteManyResult, ProjectBlobStores } from '../ports/blob-store.ts';
import type {
  EntrySelection,
  ProjectStoreEntry,
  ProjectStoreMaintenance,
  ProjectStoreSkip,
  TenantStore,
} from '../ports/cache-maintenance.ts';

/** What reaching projects' own storage accounts takes: the entries there, their credentials, their stores. */
export interface ProjectStoreDeps {
  maintenance: ProjectStoreMaintenance;
  accounts: Pick<AccountDirectory, 'findStorage'>;
  stores: ProjectBlobStores;
}

/**
 * A project account that could not be used with a tenant's key in this pass,
 * and why (a code, never a message or a key).
 */
export interface UnreachableStore {
  tenantId: string;
  storeId: string;
  projectId: string | null;
  /** `no-credentials`, or the account's failure as its tenant may read it. */
  reason: StoreFailure | 'no-credentials';
}

/**
 * One cleanup pass's (or one purge's) deletes in projects' own storage accounts. Their blobs go before their rows:
 * the row is the only record of a blob in an account that may not answer now, so an entry whose blob could not be
 * deleted keeps its row, and is tried again by the next pass.
 *
 * Everything goes per tenant and account together: two tenants' projects may name the same account, each with a key
 * of its own. An account is resolved once per pass for each tenant (the credentials a project of that tenant has
 * now) and only ever used for that tenant's entries, whose blob paths must be under that tenant's folder; one that
 * cannot be reached with a tenant's key is skipped for the rest of the pass for that tenant alone, whose entries there
 * wait, without holding up anyone else's (another tenant's in the same account included).
 */
export class ProjectStoreDeletes {
  /** The (tenant, account) pairs skipped in this pass. */
  readonly unreachable: UnreachableStore[] = [];
  /** Entries selected but kept, their account unreachable (at least this many wait for a later pass). */
  kept = 0;
  /** Entries set aside in this pass, by id: their blob path is not under their tenant's folder, so never sent. */
  readonly misplaced: string[] = [];
  readonly #deps: ProjectStoreDeps;
  readonly #log: Logger;
  readonly #stores = new Map<string, BlobStore | null>();

  constructor(deps: ProjectStoreDeps, log: Logger) {
    this.#deps = deps;
    this.#log = log;
  }

  /** What the selections leave out for the rest of the pass: the unreachable pairs, the entries set aside. */
  get skip(): ProjectStoreSkip {
    return {
      stores: this.unreachable.map(({ tenantId, storeId }) => ({ tenantId, storeId })),
      entries: this.misplaced,
    };
  }

  /** Whether the tenant's entries in this account are skipped for the rest of the pass. */
  isSkipped(store: TenantStore): boolean {
    return this.unreachable.some((skipped) => isSamePair(skipped, store));
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
      // Every entry of a full batch is deleted, or left out of the next one (its pair skipped, or itself set aside).
      const batch = await this.#deps.maintenance.selectInProjectStores(selection, batchSize, this.skip);
      for (const entries of byTenantStore(batch)) deleted += await this.#deleteInStore(entries, counted);
      if (batch.length < batchSize) return deleted;
    }
  }

  /** The account's store with the credentials a project of the tenant has now; null (and skipped) when none. */
  async storeOf(entry: Pick<ProjectStoreEntry, 'tenantId' | 'storeId' | 'projectId'>): Promise<BlobStore | null> {
    const id = pairKey(entry);
    if (this.#stores.has(id)) return this.#stores.get(id)!;
    const storage = await this.#deps.accounts.findStorage(entry.tenantId, entry.storeId, entry.projectId ?? undefined);
    const store = storage ? this.#deps.stores.storeFor(storage) : null;
    this.#stores.set(id, store);
    if (!store) this.markUnreachable(entry, 'no-credentials');
    return store;
  }

  /**
   * Skips the account for the tenant for the rest of the pass, with a warning naming its project and account (never
   * its key). Another tenant's entries in the same account are not held up.
   */
  markUnreachable(
    entry: Pick<ProjectStoreEntry, 'tenantId' | 'storeId' | 'projectId'>,
    reason: UnreachableStore['reason'],
  ): void {
    if (this.isSkipped(entry)) return;
    this.unreachable.push({ tenantId: entry.tenantId, storeId: entry.storeId, projectId: entry.projectId, reason });
    const why =
      reason === 'no-credentials' ? 'no project of the tenant has its credentials any more' : `it failed (${reason})`;
    this.#log.warn(
      `cleanup: project ${entry.projectId ?? '(unknown)'}'s storage account ${entry.storeId} skipped in this pass: ` +
        `${why}; its entries wait for a later pass`,
    );
  }

  /** Deletes one tenant's entries in one account, blobs then rows; answers how many rows went. */
  async #deleteInStore(entries: ProjectStoreEntry[], counted: (result: DeleteManyResult) => void): Promise<number> {
    const first = entries[0]!;
    // Defence in depth: the tenant's key deletes the tenant's blobs only, even if a row's path names another's.
    const inFolder: ProjectStoreEntry[] = [];
    const outside: ProjectStoreEntry[] = [];
    for (const entry of entries) (isInTenantFolder(entry.path, entry.tenantId) ? inFolder : outside).push(entry);
    if (outside.length > 0) this.#setAside(outside);
    if (inFolder.length === 0) return 0;
    const store = await this.storeOf(first);
    if (store) {
      const result = await store.deleteMany(inFolder.map((entry) => entry.path));
      counted(result);
      // Which ones failed is not known: none of the rows go, and those whose blob went are `missing` next time.
      if (result.failed === 0) return this.#deps.maintenance.deleteEntries(inFolder.map((entry) => entry.id));
      this.markUnreachable(first, deleteFailureCode(result.firstError));
    }
    this.kept += inFolder.length;
    return 0;
  }

  /** Keeps these entries, rows and blobs, out of the rest of the pass; the first of a pass is warned about. */
  #setAside(entries: ProjectStoreEntry[]): void {
    if (this.misplaced.length === 0) {
      const { id, tenantId, storeId } = entries[0]!;
      this.#log.warn(
        `cleanup: entry ${id} of tenant ${tenantId} in storage account ${storeId} names a blob outside its tenant's ` +
          `folder (${AUDIO_BLOB_PREFIX}${tenantId}/): not deleted, its row kept; ` +
          'any more in this pass are only counted',
      );
    }
    this.misplaced.push(...entries.map((entry) => entry.id));
  }
}

/**
 * Whether `path` is an audition's blob in the tenant's folder: exactly `audio-cache/{tenant}/{key}.mp3`, not merely a
 * name starting with the folder (`audio-cache/{tenant}/../{another}/…` does).
 */
export function isInTenantFolder(path: string, tenantId: string): boolean {
  return parseAudioBlobPath(path)?.tenantId === tenantId.toLowerCase();
}

/** The batch's entries, grouped by tenant and account together (in the order first seen). */
function byTenantStore(entries: readonly ProjectStoreEntry[]): ProjectStoreEntry[][] {
  const groups = new Map<string, ProjectStoreEntry[]>();
  for (const entry of entries) {
    const group = groups.get(pairKey(entry));
    if (group) group.push(entry);
    else groups.set(pairKey(entry), [entry]);
  }
  return [...groups.values()];
}

function pairKey({ tenantId, storeId }: TenantStore): string {
  return `${tenantId.toLowerCase()}\u0000${storeId}`;
}

function isSamePair(a: TenantStore, b: TenantStore): boolean {
  return pairKey(a) === pairKey(b);
}

/**
 * A failed batch's reason (DeleteManyResult.firstError: `403 AuthorizationFailure`, or the error of a call that got no
 * answer) as a StoreFailure: never the server's own words.
 */
function deleteFailureCode(firstError: string | undefined): StoreFailure {
  const text = firstError ?? '';
  if (/AddressNotAllowed|ResponseTooLarge/.test(text)) return 'invalid';
  const status = /^(\d{3}) /.exec(text)?.[1];
  return failureOfStatus(status === undefined ? undefined : Number(status), /did not .* within \d+ ms/.test(text));
}
