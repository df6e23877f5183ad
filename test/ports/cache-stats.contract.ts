import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheStats, CacheStatsReader } from '../../src/ports/cache-stats.ts';
import { keyOf } from '../support/cache-keys.ts';
import { at, DAY, HOUR, MINUTE } from '../support/time.ts';

/** An audio_cache row: ours (noted in audio_cache_auditions, as the index stores them) or the Khipu Cloud API's. */
export interface StatsSeedRow {
  writer: 'us' | 'khipu-api';
  tenantId: string;
  cacheKey: string;
  text: string;
  voiceId: string;
  /** audio_file_size_bytes (null: not known). */
  sizeBytes: number | null;
  hits: number;
  createdAt: Date;
  lastAccessedAt: Date;
  /** Ours, stored in a project's own account (noted, and the account registered, as the index stores it). */
  store?: { storeId: string; projectId: string };
}

/** A tenant's figures for one hour (audio_cache_usage). */
export interface StatsUsageHour {
  hits: number;
  misses: number;
  charactersSaved: number;
  /** Predictive prewarm's syntheses, their characters, and the plays its entries served (0 when absent). */
  predictiveSyntheses?: number;
  predictiveCharacters?: number;
  predictiveHits?: number;
}

export interface CacheStatsReaderUnderTest {
  stats: CacheStatsReader;
  /** Stores the row (its tenant made known first). */
  seed(row: StatsSeedRow): Promise<void>;
  /** The tenant's figures for the hour starting at `hour`. */
  addUsage(tenantId: string, hour: Date, figures: StatsUsageHour): Promise<void>;
  /** Registers a project account for the tenant, as storing an entry there does (no entry stored). */
  registerStore(tenantId: string, store: { storeId: string; projectId: string }): Promise<void>;
  dispose(): Promise<void>;
}

/** Half past the hour, so that a window's first hour starts before the window does. */
const NOW = at(30 * MINUTE);
const PRICE = 15;

const A = '1a2b3c4d-0000-4000-8000-00000000000a';
const B = '7b6a5c4d-0000-4000-8000-00000000000b';

/** "Ñandú 🎧": 7 characters as Postgres counts them (code points), 8 UTF-16 units. */
const NANDU = 'Ñandú 🎧';
const MB = 1024 * 1024;

const NO_PREDICTIVE = { syntheses: 0, characters: 0, dollars: 0, hits: 0 };
const NO_USAGE = { entriesCreated: 0, hits: 0, misses: 0, hitRatio: null, charactersSaved: 0, dollarsSaved: 0 };

const NOTHING: Omit<CacheStats, 'savings'> = {
  entries: 0,
  totalMb: 0,
  totalHits: 0,
  avgHitsPerEntry: 0,
  last24h: { ...NO_USAGE, predictive: NO_PREDICTIVE },
  last7d: { ...NO_USAGE, predictive: NO_PREDICTIVE },
  hitRatio: null,
  topEntries: [],
  projectStores: [],
};

/**
 * The figures the stats endpoint (src/handlers/stats-handler.ts) answers and the cleanup
 * (src/cleanup/clean-cache.ts) logs, from any CacheStatsReader, run against the in-memory twin
 * and against Postgres (both database shapes). Above all: a tenant's figures are its own, and
 * nothing another writer stored in the shared audio_cache (the books' narration) is counted.
 */
export function describeCacheStatsReaderContract(name: string, create: () => Promise<CacheStatsReaderUnderTest>): void {
  describe(`CacheStatsReader contract: ${name}`, () => {
    let db: CacheStatsReaderUnderTest;
    let stats: CacheStatsReader;
    beforeEach(async () => {
      db = await create();
      stats = db.stats;
    });
    afterEach(() => db.dispose());

    const row = (writer: StatsSeedRow['writer'], tenantId: string, label: string, fields: Partial<StatsSeedRow>) =>
      db.seed({
        writer,
        tenantId,
        cacheKey: keyOf(`${tenantId} ${label}`),
        text: label,
        voiceId: 'es-AR-ElenaNeural',
        sizeBytes: 1024,
        hits: 0,
        createdAt: at(-2 * DAY),
        lastAccessedAt: at(-2 * DAY),
        ...fields,
      });
    /** An entry of ours, created two days before NOW, unless told otherwise. */
    const ours = (tenantId: string, label: string, fields: Partial<StatsSeedRow> = {}) =>
      row('us', tenantId, label, fields);
    /** A row of the Khipu Cloud API's in the same table: the tenant's narration. */
    const theirs = (tenantId: string, label: string, fields: Partial<StatsSeedRow> = {}) =>
      row('khipu-api', tenantId, label, fields);
    const read = (tenantId?: string) =>
      stats.read({ ...(tenantId === undefined ? {} : { tenantId }), now: NOW, pricePerMillionChars: PRICE });

    it('is all zeros, with no ratio, when nothing is cached, and echoes the price it was given', async () => {
      const zero = { ...NOTHING, savings: { characters: 0, dollars: 0, pricePerMillionChars: PRICE } };
      expect(await read(A)).toEqual(zero);
      expect(await read()).toEqual(zero);
      expect((await stats.read({ tenantId: A, now: NOW, pricePerMillionChars: 16 })).savings.pricePerMillionChars).toBe(
        16,
      );
    });

    it('counts the tenant’s entries, their size in MB, their plays, and the characters and dollars those plays saved', async () => {
      await ours(A, 'Hola', { hits: 5, sizeBytes: MB });
      await ours(A, NANDU, { hits: 2, sizeBytes: MB / 2 });
      await ours(A, 'never played', { hits: 0, sizeBytes: 48_576 });
      await ours(A, 'size unknown', { hits: 0, sizeBytes: null });

      const figures = await read(A);

      expect(figures).toMatchObject({
        entries: 4,
        totalMb: 1.55, // (1,048,576 + 524,288 + 48,576) bytes = 1.5463 MB; a size not known counts as none
        totalHits: 7,
        avgHitsPerEntry: 1.75,
        // Every play × its text's length in code points: 5 × 4 + 2 × 7.
        savings: { characters: 34, dollars: 0.0005, pricePerMillionChars: PRICE },
      });
      expect((await stats.read({ tenantId: A, now: NOW, pricePerMillionChars: 1_000_000 })).savings.dollars).toBe(34);
    });

    it('rounds the average plays to 2 digits and the dollars to 4', async () => {
      for (const [i, hits] of [1, 1, 0].entries()) await ours(A, `entry ${i}`, { hits, text: 'x'.repeat(1234) });
      const figures = await read(A);
      expect(figures.avgHitsPerEntry).toBe(0.67);
      expect(figures.savings).toEqual({ characters: 2468, dollars: 0.037, pricePerMillionChars: PRICE }); // 0.03702
    });

    it('never counts another writer’s rows (the Khipu Cloud API’s narration) in any figure, however played', async () => {
      await ours(A, 'Hola', { hits: 1, sizeBytes: 1000, createdAt: at(-HOUR), lastAccessedAt: at(-HOUR) });
      await theirs(A, 'Capítulo uno', { hits: 40, sizeBytes: 900_000, createdAt: at(-HOUR), lastAccessedAt: NOW });
      await theirs(B, 'Capítulo dos', { hits: 30, sizeBytes: 900_000, createdAt: at(-HOUR), lastAccessedAt: NOW });

      const expected = {
        entries: 1,
        totalMb: 0,
        totalHits: 1,
        avgHitsPerEntry: 1,
        last24h: { entriesCreated: 1 },
        last7d: { entriesCreated: 1 },
        topEntries: [{ voice: 'es-AR-ElenaNeural', text: 'Hola', hits: 1, sizeBytes: 1000 }],
        savings: { characters: 4 },
      };
      expect(await read(A)).toMatchObject(expected);
      expect(await read()).toMatchObject(expected);
      expect(await read(B)).toEqual({
        ...NOTHING,
        savings: { characters: 0, dollars: 0, pricePerMillionChars: PRICE },
      });
    });

    it('keeps tenants apart: a tenant’s figures hold none of another’s entries or usage; without a tenant, every tenant’s add up', async () => {
      await ours(A, 'Hola', { hits: 3, sizeBytes: MB, createdAt: at(-HOUR) });
      await ours(B, 'Hola', { hits: 9, sizeBytes: 2 * MB, createdAt: at(-3 * DAY) });
      await ours(B, 'Adiós', { hits: 1, sizeBytes: MB, createdAt: at(-3 * DAY) });
      await db.addUsage(A, at(-HOUR), { hits: 3, misses: 1, charactersSaved: 12 });
      await db.addUsage(B, at(-HOUR), { hits: 6, misses: 0, charactersSaved: 24 });
      await db.addUsage(B, at(-2 * DAY), { hits: 4, misses: 2, charactersSaved: 16 });

      const a = await read(A);
      expect(a).toMatchObject({
        entries: 1,
        totalMb: 1,
        totalHits: 3,
        avgHitsPerEntry: 3,
        savings: { characters: 12 },
      });
      expect(a.last24h).toMatchObject({ entriesCreated: 1, hits: 3, misses: 1, charactersSaved: 12 });
      expect(a.last7d).toMatchObject({ entriesCreated: 1, hits: 3, misses: 1, charactersSaved: 12 });
      expect(a.topEntries).toEqual([{ voice: 'es-AR-ElenaNeural', text: 'Hola', hits: 3, sizeBytes: MB }]);

      const b = await read(B);
      expect(b).toMatchObject({
        entries: 2,
        totalMb: 3,
        totalHits: 10,
        avgHitsPerEntry: 5,
        savings: { characters: 9 * 4 + 5 },
      });
      expect(b.last24h).toMatchObject({ entriesCreated: 0, hits: 6, misses: 0, charactersSaved: 24 });
      expect(b.last7d).toMatchObject({ entriesCreated: 2, hits: 10, misses: 2, charactersSaved: 40 });

      const all = await read();
      expect(all).toMatchObject({
        entries: 3,
        totalMb: 4,
        totalHits: 13,
        avgHitsPerEntry: 4.33,
        savings: { characters: 12 + 41 },
      });
      expect(all.last24h).toMatchObject({ entriesCreated: 1, hits: 9, misses: 1, charactersSaved: 36 });
      expect(all.last7d).toMatchObject({ entriesCreated: 3, hits: 13, misses: 3, charactersSaved: 52 });
      expect(all.topEntries.map((entry) => entry.hits)).toEqual([9, 3, 1]);
    });

    it('counts entries created in the last 24 hours and 7 days, each window including its first instant', async () => {
      const created = [
        at(-HOUR),
        NOW,
        at(30 * MINUTE - DAY),
        at(30 * MINUTE - DAY - 1),
        at(30 * MINUTE - 7 * DAY),
        at(30 * MINUTE - 7 * DAY - 1),
      ];
      for (const [i, createdAt] of created.entries())
        await ours(A, `created ${i}`, { createdAt, lastAccessedAt: createdAt });
      await theirs(A, 'narration created now', { createdAt: NOW, lastAccessedAt: NOW });

      const figures = await read(A);
      expect(figures.entries).toBe(6);
      expect(figures.last24h.entriesCreated).toBe(3);
      expect(figures.last7d.entriesCreated).toBe(5);
    });

    it('counts usage by whole hours: a window starts at the start of the hour its first instant falls in', async () => {
      // NOW is 16:30: the last 24 hours start at yesterday's 16:30, so in the hour from 16:00;
      // the last 7 days in the hour from 16:00 seven days ago.
      await db.addUsage(A, at(0), { hits: 1, misses: 0, charactersSaved: 11 }); // this hour
      await db.addUsage(A, at(-DAY), { hits: 2, misses: 1, charactersSaved: 22 }); // 24½ hours ago, in the day's first hour
      await db.addUsage(A, at(-DAY - HOUR), { hits: 4, misses: 0, charactersSaved: 44 }); // in the 7 days only
      await db.addUsage(A, at(-7 * DAY), { hits: 8, misses: 3, charactersSaved: 88 }); // the week's first hour
      await db.addUsage(A, at(-7 * DAY - HOUR), { hits: 100, misses: 100, charactersSaved: 1000 }); // in no window

      const figures = await read(A);
      expect(figures.last24h).toEqual({
        entriesCreated: 0,
        hits: 3,
        misses: 1,
        hitRatio: 0.75,
        charactersSaved: 33,
        dollarsSaved: 0.0005,
        predictive: NO_PREDICTIVE,
      });
      expect(figures.last7d).toEqual({
        entriesCreated: 0,
        hits: 15,
        misses: 4,
        hitRatio: 0.7895,
        charactersSaved: 165,
        dollarsSaved: 0.0025,
        predictive: NO_PREDICTIVE,
      });
      expect(figures.hitRatio).toBe(0.7895); // the overall ratio is the 7 days'
      // The usage windows count plays; the savings count the entries still cached (none here).
      expect(figures).toMatchObject({ entries: 0, totalHits: 0, savings: { characters: 0, dollars: 0 } });
    });

    it('gives a window of syntheses only a hit ratio of 0, and one of neither plays nor syntheses none', async () => {
      await db.addUsage(A, at(-2 * DAY), { hits: 0, misses: 3, charactersSaved: 0 });
      const figures = await read(A);
      expect(figures.last24h).toMatchObject({ hits: 0, misses: 0, hitRatio: null });
      expect(figures.last7d).toMatchObject({ hits: 0, misses: 3, hitRatio: 0 });
      expect(figures.hitRatio).toBe(0);
    });

    it('lists the 10 most played entries, the latest played first among equals, each with its voice, its first 40 characters and its size', async () => {
      for (let hits = 1; hits <= 11; hits++) await ours(A, `played ${hits} times`, { hits, sizeBytes: 100 * hits });
      await ours(A, 'played 11 times, last just now', {
        hits: 11,
        voiceId: 'es-PE-CamilaNeural',
        lastAccessedAt: at(-MINUTE),
        sizeBytes: null,
      });
      // 40 code points: 39 letters and the emoji whole (41 UTF-16 units), never half of it.
      await ours(A, `${'a'.repeat(39)}🎧 and more`, { hits: 11, lastAccessedAt: at(-HOUR), sizeBytes: 7 });
      await theirs(A, 'narration, played the most', { hits: 500, lastAccessedAt: NOW });

      const { topEntries } = await read(A);
      expect(topEntries).toEqual([
        { voice: 'es-PE-CamilaNeural', text: 'played 11 times, last just now', hits: 11, sizeBytes: 0 },
        { voice: 'es-AR-ElenaNeural', text: `${'a'.repeat(39)}🎧`, hits: 11, sizeBytes: 7 },
        { voice: 'es-AR-ElenaNeural', text: 'played 11 times', hits: 11, sizeBytes: 1100 },
        ...[10, 9, 8, 7, 6, 5, 4].map((hits) => ({
          voice: 'es-AR-ElenaNeural',
          text: `played ${hits} times`,
          hits,
          sizeBytes: 100 * hits,
        })),
      ]);
    });

    it('counts predictive prewarm’s syntheses, characters, dollars and hits in each window by whole hours, per tenant', async () => {
      const p = (predictiveSyntheses: number, predictiveCharacters: number, predictiveHits: number) => ({
        hits: predictiveHits,
        misses: 0,
        charactersSaved: 0,
        predictiveSyntheses,
        predictiveCharacters,
        predictiveHits,
      });
      await db.addUsage(A, at(0), p(2, 30, 1)); // this hour
      await db.addUsage(A, at(-DAY), p(1, 1234, 0)); // 24½ hours ago, in the day's first hour
      await db.addUsage(A, at(-DAY - HOUR), p(3, 40, 5)); // in the 7 days only
      await db.addUsage(A, at(-7 * DAY), p(1, 100_000, 2)); // the week's first hour
      await db.addUsage(A, at(-7 * DAY - HOUR), p(50, 50_000, 50)); // in no window
      await db.addUsage(B, at(0), p(1, 7, 3));
      await db.addUsage(B, at(-HOUR), { hits: 4, misses: 1, charactersSaved: 40 }); // no prewarm

      const a = await read(A);
      // 1,264 characters × $15 per million = $0.01896; 101,304 = $1.51956.
      expect(a.last24h.predictive).toEqual({ syntheses: 3, characters: 1264, dollars: 0.019, hits: 1 });
      expect(a.last7d.predictive).toEqual({ syntheses: 7, characters: 101_304, dollars: 1.5196, hits: 8 });
      expect((await read(B)).last24h.predictive).toEqual({ syntheses: 1, characters: 7, dollars: 0.0001, hits: 3 });
      const all = await read();
      expect(all.last24h.predictive).toEqual({ syntheses: 4, characters: 1271, dollars: 0.0191, hits: 4 });
      expect(all.last7d.predictive).toEqual({ syntheses: 8, characters: 101_311, dollars: 1.5197, hits: 11 });
    });

    it('predictiveByTenant: each tenant’s last 7 days with any predictive synthesis or hit, most characters first, at most `limit`', async () => {
      const [C, D, E] = ['c', 'd', 'e'].map((x) => `${x}0000000-0000-4000-8000-00000000000${x}`) as [
        string,
        string,
        string,
      ];
      const spent = (predictiveSyntheses: number, predictiveCharacters: number, predictiveHits = 0) => ({
        hits: predictiveHits,
        misses: 1,
        charactersSaved: 0,
        predictiveSyntheses,
        predictiveCharacters,
        predictiveHits,
      });
      await db.addUsage(A, at(0), spent(1, 100, 2));
      await db.addUsage(A, at(-7 * DAY), spent(1, 200)); // the week's first hour: counted
      await db.addUsage(B, at(-HOUR), spent(3, 300, 9)); // as many characters as A: tenant id order
      await db.addUsage(C, at(-2 * DAY), spent(0, 0, 4)); // hits only (its prewarm was longer ago)
      await db.addUsage(C, at(-7 * DAY - HOUR), spent(10, 1000)); // in no window
      await db.addUsage(D, at(-HOUR), { hits: 8, misses: 2, charactersSaved: 80 }); // no prewarm: not listed
      await db.addUsage(E, at(-DAY), spent(2, 50_000, 1));

      const query = { now: NOW, pricePerMillionChars: PRICE, limit: 10 };
      expect(await stats.predictiveByTenant(query)).toEqual([
        { tenantId: E, syntheses: 2, characters: 50_000, dollars: 0.75, hits: 1 },
        { tenantId: A, syntheses: 2, characters: 300, dollars: 0.0045, hits: 2 },
        { tenantId: B, syntheses: 3, characters: 300, dollars: 0.0045, hits: 9 },
        { tenantId: C, syntheses: 0, characters: 0, dollars: 0, hits: 4 },
      ]);
      expect((await stats.predictiveByTenant({ ...query, limit: 2 })).map((row) => row.tenantId)).toEqual([E, A]);
      expect(await stats.predictiveByTenant({ ...query, now: at(30 * DAY) })).toEqual([]);
    });

    it('projectStores: our entries and their bytes per registered project account, most entries first, a tenant’s own', async () => {
      const s1 = 'https://acmebooks.blob.core.windows.net/audios';
      const s2 = 'https://acmenarration.blob.core.windows.net/voices';
      const [p1, p2] = ['11111111-0000-4000-8000-000000000001', '22222222-0000-4000-8000-000000000002'];
      await ours(A, 'A in S1', { store: { storeId: s1, projectId: p1 }, sizeBytes: 1000 });
      await ours(A, 'A in S2', { store: { storeId: s2, projectId: p2 }, sizeBytes: 300 });
      await ours(A, 'A in S2 too', { store: { storeId: s2, projectId: p2 }, sizeBytes: null });
      await ours(A, 'A, operator', { sizeBytes: 5000 });
      await ours(B, 'B in S1', { store: { storeId: s1, projectId: p2 }, sizeBytes: 7 });
      await theirs(A, 'narration');
      await db.registerStore(B, { storeId: s2, projectId: p1 }); // written to once; nothing of ours there now

      const usage = (tenantId: string, storeId: string, projectId: string, entries: number, sizeBytes: number) => ({
        tenantId,
        storeId,
        projectId,
        entries,
        sizeBytes,
      });
      expect((await read(A)).projectStores).toEqual([usage(A, s2, p2, 2, 300), usage(A, s1, p1, 1, 1000)]);
      expect((await read()).projectStores).toEqual([
        usage(A, s2, p2, 2, 300),
        usage(A, s1, p1, 1, 1000),
        usage(B, s1, p2, 1, 7),
        usage(B, s2, p1, 0, 0),
      ]);
      // The totals count every entry of ours, wherever its blob is.
      expect((await read(A)).entries).toBe(4);
    });
  });
}
