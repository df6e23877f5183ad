import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheMaintenance, ProjectStoreMaintenance } from '../../src/ports/cache-maintenance.ts';
import { keyOf } from '../support/cache-keys.ts';
import { at, HOUR, T0 } from '../support/time.ts';
import { rowSeeders, type CacheMaintenanceUnderTest } from './cache-maintenance.contract.ts';

const NOW = T0;

// In id order: A < B.
const A = '1a2b3c4d-0000-4000-8000-00000000000a';
const B = '7b6a5c4d-0000-4000-8000-00000000000b';

/** Two projects' own accounts (ProjectStorage.storeId; S1 < S2 in any collation), and the projects storing there. */
const S1 = 'https://acmebooks.blob.core.windows.net/audios';
const S2 = 'https://acmenarration.blob.core.windows.net/voices';
const P1 = '11111111-0000-4000-8000-000000000001';
const P2 = '22222222-0000-4000-8000-000000000002';
const IN_S1 = { storeId: S1, projectId: P1 };
const IN_S2 = { storeId: S2, projectId: P2 };

const sorted = (values: readonly string[]) => [...values].sort();

/**
 * The behaviour the cleanup and the purge rely on for entries in projects' own storage accounts
 * (src/cleanup/project-store-deletes.ts, src/cleanup/orphan-sweep.ts), run against the in-memory twin and Postgres:
 * CacheMaintenance's one-statement deletes leave those entries alone (their blobs must go first), one cap ranks the
 * tenant's entries of every account, and nothing another writer stored is ever selected or deleted.
 */
export function describeProjectStoreMaintenanceContract(
  name: string,
  create: () => Promise<CacheMaintenanceUnderTest>,
): void {
  describe(`ProjectStoreMaintenance contract: ${name}`, () => {
    let db: CacheMaintenanceUnderTest;
    let maintenance: CacheMaintenance & ProjectStoreMaintenance;
    beforeEach(async () => {
      db = await create();
      maintenance = db.maintenance;
    });
    afterEach(() => db.dispose());

    // A row of ours (in the operator's account unless `store` says), and one of the Khipu Cloud API.
    const { ours, theirs } = rowSeeders(() => db);
    const keysOf = (entries: readonly { cacheKey: string }[]) => entries.map((entry) => entry.cacheKey);
    const playedHoursAgo = (hours: number) => ({ lastAccessedAt: at(-hours * HOUR) });
    /** Expired, last played and stored (ten hours earlier) this many hours ago: every selection's order alike. */
    const agedHours = (hours: number) => ({
      expiresAt: at(-hours * HOUR),
      lastAccessedAt: at(-hours * HOUR),
      createdAt: at(-(hours + 10) * HOUR),
    });
    /** Nothing skipped; these (tenant, store) pairs skipped. */
    const NONE = { stores: [], entries: [] };
    const skipping = (...stores: { tenantId: string; storeId: string }[]) => ({ stores, entries: [] });

    it('deleteExpired and deleteTenantEntries delete only entries in the operator’s account', async () => {
      const operator = await ours(A, 'operator, expired', { expiresAt: at(-HOUR) });
      await ours(A, 'S1, expired', { expiresAt: at(-HOUR), store: IN_S1 });
      const operatorFresh = await ours(A, 'operator, fresh');
      await ours(A, 'S2, fresh', { store: IN_S2 });

      expect(await maintenance.deleteExpired(NOW, 100)).toEqual([operator.path]);
      expect(await maintenance.deleteTenantEntries(A, undefined, 100)).toEqual([operatorFresh.path]);

      expect(await db.keys()).toEqual(sorted(['S1, expired', 'S2, fresh'].map(keyOf)));
      expect(await db.notedKeys()).toEqual(sorted(['S1, expired', 'S2, fresh'].map(keyOf)));
    });

    it('one cap over every account: tenantsOverCap counts them all, deleteLeastRecentlyUsed ranks them all and deletes the operator’s', async () => {
      await ours(A, 'S1, 1h', { ...playedHoursAgo(1), store: IN_S1 });
      await ours(A, 'operator, 2h', playedHoursAgo(2));
      await ours(A, 'S1, 3h', { ...playedHoursAgo(3), store: IN_S1 });
      const beyond = [
        await ours(A, 'operator, 4h', playedHoursAgo(4)),
        await ours(A, 'operator, 5h', playedHoursAgo(5)),
      ];

      expect(await maintenance.tenantsOverCap(2)).toEqual([{ tenantId: A, entries: 5 }]);
      expect(sorted(await maintenance.deleteLeastRecentlyUsed(A, 2, 10))).toEqual(sorted(beyond.map((e) => e.path)));
      // The project account's entry beyond the cap is left to its own step, blobs first.
      expect(await db.keys()).toEqual(sorted(['S1, 1h', 'operator, 2h', 'S1, 3h'].map(keyOf)));
      expect(
        keysOf(await maintenance.selectInProjectStores({ kind: 'over-cap', tenantId: A, keep: 2 }, 10, NONE)),
      ).toEqual([keyOf('S1, 3h')]);
    });

    it('selectInProjectStores, expired: ours in project accounts past expiry, earliest first, none of the skipped, `limit` of them', async () => {
      const s1Late = await ours(A, 'S1, expired 1h ago', { expiresAt: at(-HOUR), store: IN_S1 });
      await ours(B, 'S1, expired 3h ago', { expiresAt: at(-3 * HOUR), store: IN_S1 });
      await ours(A, 'S2, expired 2h ago', { expiresAt: at(-2 * HOUR), store: IN_S2 });
      await ours(A, 'S1, not expired', { expiresAt: at(HOUR), store: IN_S1 });
      await ours(A, 'S1, never expires', { expiresAt: null, store: IN_S1 });
      await ours(A, 'operator, expired', { expiresAt: at(-4 * HOUR) });
      await theirs(A, 'narration, expired', { expiresAt: at(-5 * HOUR) });
      const expired = { kind: 'expired', now: NOW } as const;

      const all = await maintenance.selectInProjectStores(expired, 10, NONE);
      expect(keysOf(all)).toEqual(['S1, expired 3h ago', 'S2, expired 2h ago', 'S1, expired 1h ago'].map(keyOf));
      expect(all[2]).toEqual({
        id: s1Late.id,
        cacheKey: keyOf('S1, expired 1h ago'),
        tenantId: A,
        path: s1Late.path,
        storeId: S1,
        projectId: P1,
      });
      expect(keysOf(await maintenance.selectInProjectStores(expired, 2, NONE))).toEqual(
        ['S1, expired 3h ago', 'S2, expired 2h ago'].map(keyOf),
      );
      const s1Skipped = skipping({ tenantId: A, storeId: S1 }, { tenantId: B, storeId: S1 });
      expect(keysOf(await maintenance.selectInProjectStores(expired, 10, s1Skipped))).toEqual([
        keyOf('S2, expired 2h ago'),
      ]);
      const allSkipped = skipping(...s1Skipped.stores, { tenantId: A, storeId: S2 }, { tenantId: B, storeId: S2 });
      expect(await maintenance.selectInProjectStores(expired, 10, allSkipped)).toEqual([]);
      // Selecting deletes nothing.
      expect(await db.keys()).toHaveLength(7);
    });

    it('selectInProjectStores, over-cap: ranked over every account of the tenant, a skipped one’s entries still kept', async () => {
      await ours(A, 'S2, 1h', { ...playedHoursAgo(1), store: IN_S2 });
      await ours(A, 'S1, 2h', { ...playedHoursAgo(2), store: IN_S1 });
      await ours(A, 'S1, 3h', { ...playedHoursAgo(3), store: IN_S1 });
      await ours(A, 'operator, 4h', playedHoursAgo(4));
      await ours(A, 'S1, 5h', { ...playedHoursAgo(5), store: IN_S1 });
      await ours(A, 'S2, 6h', { ...playedHoursAgo(6), store: IN_S2 });
      await ours(B, 'another tenant’s, 9h', { ...playedHoursAgo(9), store: IN_S1 });
      await theirs(A, 'narration, just played', { lastAccessedAt: NOW });
      const overCap = (keep: number) => ({ kind: 'over-cap', tenantId: A, keep }) as const;

      // Least recently played first; the operator's account's entry is not this step's.
      expect(keysOf(await maintenance.selectInProjectStores(overCap(2), 10, NONE))).toEqual(
        ['S2, 6h', 'S1, 5h', 'S1, 3h'].map(keyOf),
      );
      expect(keysOf(await maintenance.selectInProjectStores(overCap(2), 1, NONE))).toEqual([keyOf('S2, 6h')]);
      // S2 unreachable: its entry played 1 h ago still holds a place among the two kept.
      expect(
        keysOf(await maintenance.selectInProjectStores(overCap(2), 10, skipping({ tenantId: A, storeId: S2 }))),
      ).toEqual(['S1, 5h', 'S1, 3h'].map(keyOf));
      expect(await maintenance.selectInProjectStores(overCap(6), 10, NONE)).toEqual([]);
    });

    it('selectInProjectStores, tenant: the tenant’s in project accounts (the voice’s only, when given), first stored first', async () => {
      await ours(A, 'S1, Elena, stored 3h ago', { createdAt: at(-3 * HOUR), store: IN_S1 });
      await ours(A, 'S2, Elena, stored 5h ago', { createdAt: at(-5 * HOUR), store: IN_S2 });
      await ours(A, 'S1, Tomas', { voiceId: 'es-AR-TomasNeural', createdAt: at(-4 * HOUR), store: IN_S1 });
      await ours(A, 'operator, Elena');
      await ours(B, 'another tenant’s, S1', { store: IN_S1 });
      await theirs(A, 'narration');

      expect(keysOf(await maintenance.selectInProjectStores({ kind: 'tenant', tenantId: A }, 10, NONE))).toEqual(
        ['S2, Elena, stored 5h ago', 'S1, Tomas', 'S1, Elena, stored 3h ago'].map(keyOf),
      );
      const elena = { kind: 'tenant', tenantId: A, voiceId: 'es-AR-ElenaNeural' } as const;
      expect(keysOf(await maintenance.selectInProjectStores(elena, 10, NONE))).toEqual(
        ['S2, Elena, stored 5h ago', 'S1, Elena, stored 3h ago'].map(keyOf),
      );
      expect(
        keysOf(await maintenance.selectInProjectStores(elena, 10, skipping({ tenantId: A, storeId: S2 }))),
      ).toEqual([keyOf('S1, Elena, stored 3h ago')]);
    });

    it('selectInProjectStores skips (tenant, store) pairs: another tenant’s entries in a skipped tenant’s account are still picked', async () => {
      await ours(A, 'A in S1, expired 4h ago', { ...agedHours(4), store: IN_S1 });
      await ours(B, 'B in S1, expired 3h ago', { ...agedHours(3), store: IN_S1 });
      await ours(A, 'A in S2, expired 2h ago', { ...agedHours(2), store: IN_S2 });
      await ours(B, 'B in S2, expired 1h ago', { ...agedHours(1), store: IN_S2 });
      const expired = { kind: 'expired', now: NOW } as const;

      expect(
        keysOf(await maintenance.selectInProjectStores(expired, 10, skipping({ tenantId: A, storeId: S1 }))),
      ).toEqual(['B in S1, expired 3h ago', 'A in S2, expired 2h ago', 'B in S2, expired 1h ago'].map(keyOf));
      const crossed = skipping({ tenantId: A, storeId: S1 }, { tenantId: B, storeId: S2 });
      expect(keysOf(await maintenance.selectInProjectStores(expired, 10, crossed))).toEqual(
        ['B in S1, expired 3h ago', 'A in S2, expired 2h ago'].map(keyOf),
      );
      // Another tenant's pair leaves the tenant's own selections whole.
      const overCap = { kind: 'over-cap', tenantId: A, keep: 0 } as const;
      expect(
        keysOf(await maintenance.selectInProjectStores(overCap, 10, skipping({ tenantId: B, storeId: S1 }))),
      ).toEqual(['A in S1, expired 4h ago', 'A in S2, expired 2h ago'].map(keyOf));
      expect(
        keysOf(await maintenance.selectInProjectStores(overCap, 10, skipping({ tenantId: A, storeId: S1 }))),
      ).toEqual([keyOf('A in S2, expired 2h ago')]);
      const tenant = { kind: 'tenant', tenantId: B } as const;
      expect(
        keysOf(await maintenance.selectInProjectStores(tenant, 10, skipping({ tenantId: A, storeId: S2 }))),
      ).toEqual(['B in S1, expired 3h ago', 'B in S2, expired 1h ago'].map(keyOf));
      expect(
        keysOf(await maintenance.selectInProjectStores(tenant, 10, skipping({ tenantId: B, storeId: S2 }))),
      ).toEqual([keyOf('B in S1, expired 3h ago')]);
    });

    it('selectInProjectStores leaves out the entries set aside by id, and only those', async () => {
      const aside = await ours(A, 'A in S1, expired 3h ago', { ...agedHours(3), store: IN_S1 });
      await ours(B, 'B in S1, expired 2h ago', { ...agedHours(2), store: IN_S1 });
      await ours(A, 'A in S1, expired 1h ago', { ...agedHours(1), store: IN_S1 });
      const setAside = { stores: [], entries: [aside.id] };

      expect(keysOf(await maintenance.selectInProjectStores({ kind: 'expired', now: NOW }, 1, setAside))).toEqual([
        keyOf('B in S1, expired 2h ago'),
      ]);
      expect(
        keysOf(await maintenance.selectInProjectStores({ kind: 'over-cap', tenantId: A, keep: 0 }, 10, setAside)),
      ).toEqual([keyOf('A in S1, expired 1h ago')]);
      expect(keysOf(await maintenance.selectInProjectStores({ kind: 'tenant', tenantId: A }, 10, setAside))).toEqual([
        keyOf('A in S1, expired 1h ago'),
      ]);
    });

    it('deleteEntries deletes these entries of ours, rows and notes, and counts them; never another writer’s row', async () => {
      const doomed = [await ours(A, 'S1 one', { store: IN_S1 }), await ours(A, 'operator one')];
      await ours(A, 'S1 kept', { store: IN_S1 });
      const narration = await theirs(A, 'narration');

      expect(await maintenance.deleteEntries([...doomed.map((e) => e.id), narration.id])).toBe(2);

      expect(await db.keys()).toEqual(sorted(['S1 kept', 'narration'].map(keyOf)));
      expect(await db.notedKeys()).toEqual([keyOf('S1 kept')]);
      expect(await maintenance.deleteEntries(doomed.map((e) => e.id))).toBe(0);
      expect(await maintenance.deleteEntries([])).toBe(0);
    });

    it('registeredStores lists every tenant’s accounts, the last project, and our entries there now', async () => {
      await ours(A, 'A in S1', { store: IN_S1 });
      await ours(A, 'A in S1 again', { store: { storeId: S1, projectId: P2 } });
      await ours(A, 'A in S2', { store: IN_S2 });
      await ours(B, 'B in S1', { store: IN_S1 });
      await ours(B, 'B, operator');
      await db.deleteRowAsAnotherWriter(keyOf('A in S2')); // its note stays, but it is no entry any more

      expect(await maintenance.registeredStores()).toEqual([
        { tenantId: A, storeId: S1, projectId: P2, entries: 2 },
        { tenantId: A, storeId: S2, projectId: P2, entries: 0 },
        { tenantId: B, storeId: S1, projectId: P1, entries: 1 },
      ]);
    });

    it('forgetStoreIfEmpty forgets an account only once no note of the tenant’s names it', async () => {
      const a = await ours(A, 'A in S1', { store: IN_S1 });
      await ours(B, 'B in S1', { store: IN_S1 });
      await ours(A, 'A in S2', { store: IN_S2 });
      await db.deleteRowAsAnotherWriter(keyOf('A in S2'));

      expect(await maintenance.forgetStoreIfEmpty(A, S1)).toBe(false);
      await maintenance.deleteEntries([a.id]);
      expect(await maintenance.forgetStoreIfEmpty(A, S1)).toBe(true);
      expect(await maintenance.forgetStoreIfEmpty(A, S1)).toBe(false); // not registered any more
      // A note whose row another writer deleted keeps the account until the note is forgotten.
      expect(await maintenance.forgetStoreIfEmpty(A, S2)).toBe(false);
      await maintenance.deleteUnusedOwnershipNotes({ from: '0' });
      expect(await maintenance.forgetStoreIfEmpty(A, S2)).toBe(true);

      expect(await maintenance.registeredStores()).toEqual([{ tenantId: B, storeId: S1, projectId: P1, entries: 1 }]);
    });
  });
}
