import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheMaintenance, ProjectStoreMaintenance } from '../../src/ports/cache-maintenance.ts';
import type { PredictiveRuns } from '../../src/ports/predictive-runs.ts';
import { keyOf } from '../support/cache-keys.ts';
import { at, DAY, HOUR, MINUTE, T0 } from '../support/time.ts';

/** An audio_cache row: ours (noted in audio_cache_auditions, as the index stores them) or the Khipu Cloud API's. */
export interface SeedRow {
  writer: 'us' | 'khipu-api';
  tenantId: string;
  cacheKey: string;
  voiceId?: string;
  createdAt: Date;
  lastAccessedAt?: Date;
  expiresAt: Date | null;
  /** audio_blob_path, when not `audio-cache/{tenant}/{key}.mp3`. */
  path?: string;
  /** Ours, stored in a project's own account (noted, and the account registered, as the index stores it). */
  store?: { storeId: string; projectId: string };
}

export interface CacheMaintenanceUnderTest {
  maintenance: CacheMaintenance & ProjectStoreMaintenance;
  /** Stores the row (its tenant made known first); resolves with its id and blob path. */
  seed(row: SeedRow): Promise<{ id: string; path: string }>;
  /** Deletes the row as another writer does (its own cleanup, a cascade): an ownership note stays. */
  deleteRowAsAnotherWriter(cacheKey: string): Promise<void>;
  /** A segment of the Khipu Cloud API's narration pointing at this key; null where there is no such table. */
  addSegmentReference: ((cacheKey: string) => Promise<void>) | null;
  /** The cache keys of every row, of any writer, sorted. */
  keys(): Promise<string[]>;
  /** The cache keys that have an ownership note, sorted. */
  notedKeys(): Promise<string[]>;
  /** An hour of usage figures for the tenant. */
  addUsage(tenantId: string, hour: Date): Promise<void>;
  /** Every tenant's usage hours, sorted by tenant and hour. */
  usageHours(): Promise<{ tenantId: string; hour: Date }[]>;
  /** The predictive runs over the same database. */
  predictiveRuns: PredictiveRuns;
  dispose(): Promise<void>;
}

const NOW = T0;

// In id order: A < B < C.
const A = '1a2b3c4d-0000-4000-8000-00000000000a';
const B = '7b6a5c4d-0000-4000-8000-00000000000b';
const C = 'e3d2c1b0-0000-4000-8000-00000000000c';

const pathOf = (tenantId: string, cacheKey: string) => `audio-cache/${tenantId}/${cacheKey}.mp3`;
/** A 64-hex key starting with `prefix` (for the ownership notes' key slices). */
const keyWith = (prefix: string, label: string) => prefix + keyOf(label).slice(prefix.length);
const sorted = (values: readonly string[]) => [...values].sort();

/**
 * The behaviour the cleanup pass (src/cleanup/clean-cache.ts) and the purge
 * (src/purge/purge-tenant-cache.ts) rely on from any CacheMaintenance, run against the
 * in-memory twin and against Postgres (both database shapes). Above all: nothing another
 * writer stored in the shared audio_cache is ever deleted or counted.
 */
/**
 * Seeders of a row of ours and of one the Khipu Cloud API wrote, created two hours before NOW and expiring in a day
 * unless `row` says otherwise (for every maintenance contract suite).
 */
export function rowSeeders(db: () => CacheMaintenanceUnderTest) {
  const seeder =
    (writer: SeedRow['writer']) =>
    (tenantId: string, label: string, row: Partial<SeedRow> = {}) =>
      db().seed({
        writer,
        tenantId,
        cacheKey: keyOf(label),
        createdAt: at(-2 * HOUR),
        expiresAt: at(24 * HOUR),
        ...row,
      });
  return { ours: seeder('us'), theirs: seeder('khipu-api') };
}

/**
 * `segments`: whether the backend has the Khipu Cloud API's audio_segment_metadata (the
 * Khipu database shape and the twin do; a database of our migrations alone does not).
 */
export function describeCacheMaintenanceContract(
  name: string,
  create: () => Promise<CacheMaintenanceUnderTest>,
  { segments = true }: { segments?: boolean } = {},
): void {
  describe(`CacheMaintenance contract: ${name}`, () => {
    let db: CacheMaintenanceUnderTest;
    let maintenance: CacheMaintenance & ProjectStoreMaintenance;
    beforeEach(async () => {
      db = await create();
      maintenance = db.maintenance;
    });
    afterEach(() => db.dispose());

    const { ours, theirs } = rowSeeders(() => db);

    it('deleteExpired deletes our entries that expired before now, with their notes, and returns their blob paths', async () => {
      const expired = [
        await ours(A, 'an hour ago', { expiresAt: at(-HOUR) }),
        await ours(B, 'a millisecond ago', { expiresAt: at(-1) }),
      ];
      await ours(A, 'now', { expiresAt: NOW });
      await ours(A, 'in an hour', { expiresAt: at(HOUR) });
      await ours(A, 'never', { expiresAt: null });
      await theirs(A, 'narration, expired', { expiresAt: at(-HOUR) });

      expect(sorted(await maintenance.deleteExpired(NOW, 100))).toEqual(sorted(expired.map((e) => e.path)));

      expect(await db.keys()).toEqual(sorted(['now', 'in an hour', 'never', 'narration, expired'].map(keyOf)));
      expect(await db.notedKeys()).toEqual(sorted(['now', 'in an hour', 'never'].map(keyOf)));
      expect(await maintenance.deleteExpired(NOW, 100)).toEqual([]);
    });

    it('deleteExpired takes at most `limit` per call, the earliest expiry first', async () => {
      const byHoursAgo = new Map<number, string>();
      for (const hoursAgo of [3, 5, 1, 4, 2])
        byHoursAgo.set(hoursAgo, (await ours(A, `expired ${hoursAgo}h ago`, { expiresAt: at(-hoursAgo * HOUR) })).path);
      const paths = (...hoursAgo: number[]) => sorted(hoursAgo.map((h) => byHoursAgo.get(h)!));

      expect(sorted(await maintenance.deleteExpired(NOW, 2))).toEqual(paths(5, 4));
      expect(sorted(await maintenance.deleteExpired(NOW, 2))).toEqual(paths(3, 2));
      expect(await maintenance.deleteExpired(NOW, 2)).toEqual(paths(1));
      expect(await db.keys()).toEqual([]);
    });

    it('tenantsOverCap lists, in tenant id order, the tenants with more than maxEntries entries of ours; other writers’ rows never count', async () => {
      for (let i = 0; i < 4; i++) await ours(C, `C ${i}`);
      for (let i = 0; i < 3; i++) await ours(A, `A ${i}`);
      for (let i = 0; i < 2; i++) await ours(B, `B ${i}`);
      for (let i = 0; i < 5; i++) await theirs(B, `B narration ${i}`);

      expect(await maintenance.tenantsOverCap(2)).toEqual([
        { tenantId: A, entries: 3 },
        { tenantId: C, entries: 4 },
      ]);
      expect(await maintenance.tenantsOverCap(3)).toEqual([{ tenantId: C, entries: 4 }]);
      expect(await maintenance.tenantsOverCap(4)).toEqual([]);
    });

    it('deleteLeastRecentlyUsed keeps the tenant’s `keep` most recently played entries of ours and deletes the rest, `limit` at a time', async () => {
      const byAge = new Map<number, string>();
      for (const hoursAgo of [4, 1, 6, 3, 5, 2]) {
        byAge.set(hoursAgo, (await ours(A, `played ${hoursAgo}h ago`, { lastAccessedAt: at(-hoursAgo * HOUR) })).path);
      }
      const paths = (...hoursAgo: number[]) => sorted(hoursAgo.map((h) => byAge.get(h)!));
      await theirs(A, 'narration played just now', { lastAccessedAt: NOW }); // neither ranked nor deleted
      await ours(B, 'another tenant’s, played long ago', { lastAccessedAt: at(-100 * HOUR) });

      expect(sorted(await maintenance.deleteLeastRecentlyUsed(A, 2, 3))).toEqual(paths(3, 4, 5));
      expect(await maintenance.deleteLeastRecentlyUsed(A, 2, 3)).toEqual(paths(6));
      expect(await maintenance.deleteLeastRecentlyUsed(A, 2, 3)).toEqual([]);

      const kept = [
        'played 1h ago',
        'played 2h ago',
        'narration played just now',
        'another tenant’s, played long ago',
      ].map(keyOf);
      expect(await db.keys()).toEqual(sorted(kept));
      expect(await db.notedKeys()).toEqual(
        sorted(['played 1h ago', 'played 2h ago', 'another tenant’s, played long ago'].map(keyOf)),
      );
    });

    it('deleteLeastRecentlyUsed ranks entries played at the same instant by id, keeping the highest', async () => {
      const labels = ['tie 0', 'tie 1', 'tie 2'];
      const ids = new Map<string, string>();
      for (const label of labels) ids.set(label, (await ours(A, label, { lastAccessedAt: at(-HOUR) })).id);
      const [highest, middle, lowest] = [...labels].sort((a, b) => (ids.get(a)! < ids.get(b)! ? 1 : -1)) as [
        string,
        string,
        string,
      ];

      expect(await maintenance.deleteLeastRecentlyUsed(A, 2, 10)).toEqual([pathOf(A, keyOf(lowest))]);
      expect(await maintenance.deleteLeastRecentlyUsed(A, 1, 10)).toEqual([pathOf(A, keyOf(middle))]);
      expect(await db.keys()).toEqual([keyOf(highest)]);
    });

    it('deleteTenantEntries deletes the tenant’s entries of ours, only the voice given when given, and returns their paths', async () => {
      const elena = [await ours(A, 'Elena 1'), await ours(A, 'Elena 2')];
      const tomas = await ours(A, 'Tomas', { voiceId: 'es-AR-TomasNeural' });
      await theirs(A, 'narration by Elena');
      await ours(B, 'another tenant’s Elena');

      expect(sorted(await maintenance.deleteTenantEntries(A, 'es-AR-ElenaNeural', 10))).toEqual(
        sorted(elena.map((e) => e.path)),
      );
      expect(await maintenance.deleteTenantEntries(A, undefined, 10)).toEqual([tomas.path]);
      expect(await maintenance.deleteTenantEntries(A, undefined, 10)).toEqual([]);

      expect(await db.keys()).toEqual(sorted(['narration by Elena', 'another tenant’s Elena'].map(keyOf)));
      expect(await db.notedKeys()).toEqual([keyOf('another tenant’s Elena')]);
    });

    it('deleteTenantEntries deletes `limit` at a time, each entry once, as the purge calls it', async () => {
      const all = [];
      for (let i = 0; i < 5; i++) all.push((await ours(A, `entry ${i}`)).path);

      const batches = [];
      for (;;) {
        const paths = await maintenance.deleteTenantEntries(A, undefined, 2);
        batches.push(paths);
        if (paths.length < 2) break;
      }

      expect(batches.map((paths) => paths.length)).toEqual([2, 2, 1]);
      expect(sorted(batches.flat())).toEqual(sorted(all));
    });

    it('deleteTenantEntries forgets the tenant’s predictive runs (a voice’s purge too), never another tenant’s', async () => {
      const claim = (tenantId: string, language: string) =>
        db.predictiveRuns.claim({ tenantId, language, lineVersion: 'v1' }, at(MINUTE), 30 * DAY, 10 * MINUTE);
      for (const [tenantId, language] of [
        [A, 'es'],
        [A, 'en'],
        [B, 'es'],
      ] as const)
        expect(await claim(tenantId, language)).toBe(true);
      await ours(A, 'hola');

      await maintenance.deleteTenantEntries(A, 'es-PE-CamilaNeural', 10); // deletes no entry: forgets all the same
      expect([await claim(A, 'es'), await claim(A, 'en'), await claim(B, 'es')]).toEqual([true, true, false]);
      expect(await maintenance.deleteTenantEntries(A, undefined, 10)).toHaveLength(1);
      expect([await claim(A, 'es'), await claim(B, 'es')]).toEqual([true, false]);
    });

    it('findReferencedBlobs: a blob is referenced by a row of any writer under its key', async () => {
      const mine = await ours(A, 'ours');
      const narration = await theirs(A, 'narration');
      // The key decides, not the stored path: every writer names blobs audio-cache/{tenant}/{key}.mp3.
      const elsewhere = await ours(A, 'stored elsewhere', { path: 'legacy/stored-elsewhere.mp3' });
      const deleted = await ours(A, 'deleted by another writer');
      await db.deleteRowAsAnotherWriter(keyOf('deleted by another writer'));
      const blobs = [
        { path: mine.path, cacheKey: keyOf('ours') },
        { path: narration.path, cacheKey: keyOf('narration') },
        { path: pathOf(A, keyOf('stored elsewhere')), cacheKey: keyOf('stored elsewhere') },
        { path: deleted.path, cacheKey: keyOf('deleted by another writer') },
        { path: pathOf(A, keyOf('orphan')), cacheKey: keyOf('orphan') },
      ];
      expect(elsewhere.path).toBe('legacy/stored-elsewhere.mp3');

      const referenced = await maintenance.findReferencedBlobs(blobs);

      expect(sorted([...referenced])).toEqual(
        sorted([mine.path, narration.path, pathOf(A, keyOf('stored elsewhere'))]),
      );
      expect(await maintenance.findReferencedBlobs([])).toEqual(new Set());
    });

    if (segments) {
      it('findReferencedBlobs: a segment of the Khipu Cloud API’s narration refers to its raw audio key', async () => {
        await db.addSegmentReference!(keyOf('segment audio'));
        const blobs = [
          { path: pathOf(A, keyOf('segment audio')), cacheKey: keyOf('segment audio') },
          { path: pathOf(A, keyOf('orphan')), cacheKey: keyOf('orphan') },
        ];
        expect(await maintenance.findReferencedBlobs(blobs)).toEqual(new Set([pathOf(A, keyOf('segment audio'))]));
      });
    }

    it('deleteUnusedOwnershipNotes forgets the notes in [from, to) whose row another writer deleted, and counts them', async () => {
      const gone = ['29ff', '2a', '30', '34ff', '35', 'ff'].map((prefix) => keyWith(prefix, `gone ${prefix}`));
      for (const cacheKey of gone)
        await db.seed({ writer: 'us', tenantId: A, cacheKey, createdAt: at(-HOUR), expiresAt: null });
      for (const cacheKey of gone) await db.deleteRowAsAnotherWriter(cacheKey);
      const kept = keyWith('31', 'still stored');
      await db.seed({ writer: 'us', tenantId: A, cacheKey: kept, createdAt: at(-HOUR), expiresAt: null });
      await db.seed({
        writer: 'khipu-api',
        tenantId: A,
        cacheKey: keyWith('32', 'narration'),
        createdAt: at(-HOUR),
        expiresAt: null,
      });
      const [before, , , , to, end] = gone as [string, string, string, string, string, string];

      // 2a… (from, inclusive), 30… and 34ff… are forgotten; 29ff… (before), 31… (its row
      // stands) and 35… (to, exclusive) stay.
      expect(await maintenance.deleteUnusedOwnershipNotes({ from: '2a', to: '35' })).toBe(3);
      expect(await db.notedKeys()).toEqual(sorted([before, kept, to, end]));

      expect(await maintenance.deleteUnusedOwnershipNotes({ from: 'f6' })).toBe(1); // the last slice: to the end
      expect(await db.notedKeys()).toEqual(sorted([before, kept, to]));
      expect(await db.keys()).toEqual(sorted([kept, keyWith('32', 'narration')]));
    });

    it('deleteUsageBefore deletes every tenant’s usage hours before the cutoff and counts them', async () => {
      for (const hour of [at(-3 * HOUR), at(-2 * HOUR), at(-HOUR)]) await db.addUsage(A, hour);
      await db.addUsage(B, at(-2 * HOUR));
      await db.addUsage(B, NOW);

      expect(await maintenance.deleteUsageBefore(at(-HOUR))).toBe(3);
      expect(await db.usageHours()).toEqual([
        { tenantId: A, hour: at(-HOUR) },
        { tenantId: B, hour: NOW },
      ]);
      expect(await maintenance.deleteUsageBefore(at(-HOUR))).toBe(0);
    });
  });
}
