import { randomBytes, randomUUID } from 'node:crypto';
import { InvocationContext } from '@azure/functions';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createServices } from '../../src/app/services.ts';
import { CacheCleanup, CLEANUP_LEASE, noteSlice, type CleanupOptions } from '../../src/cleanup/clean-cache.ts';
import { createCleanupHandler } from '../../src/handlers/cleanup-handler.ts';
import { parseConfig } from '../../src/config.ts';
import { cleanupFunction } from '../../src/functions/cleanup.ts';
import { createTestAccount } from '../support/accounts.ts';
import { blobExists as blobIn, seedEntry, uploadAsKhipuApi, type SeedEntry } from '../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { createTestServices, testSettings, type TestServices } from '../support/test-services.ts';

const NOW = new Date('2026-11-23T16:00:00Z');
const HOUR = 3_600_000;

describe.each(DATABASE_SHAPES)('CacheCleanup (one pass of the cleanup timer), database shape: %s', (shape) => {
  let services: TestServices;
  let lines: string[];
  const log = {
    info: (...args: unknown[]) => lines.push(`info: ${args.join(' ')}`),
    warn: (...args: unknown[]) => lines.push(`warn: ${args.join(' ')}`),
    error: (...args: unknown[]) => lines.push(`error: ${args.join(' ')}`),
  };
  beforeEach(async () => {
    services = await createTestServices({}, shape);
    lines = [];
  });
  afterEach(() => services.dispose());

  /** An entry (row + blob unless told otherwise), as the audition function stores them. */
  const seed = (tenantId: string, entry: SeedEntry) =>
    seedEntry(services, tenantId, {
      lastAccessedAt: new Date(NOW.getTime() - HOUR),
      createdAt: new Date(NOW.getTime() - 2 * HOUR),
      expiresAt: new Date(NOW.getTime() + 24 * HOUR),
      ...entry,
    });
  const blobExists = (path: string) => blobIn(services, path);
  const keysOf = async (tenantId: string) =>
    (await services.prisma.audioCache.findMany({ where: { tenantId }, select: { cacheKey: true } }))
      .map((r) => r.cacheKey)
      .sort();
  /** The oldest and newest Last-Modified under the prefix, as storage reports them (whole seconds). */
  async function uploadsOf(prefix: string): Promise<{ first: Date; last: Date }> {
    const times: number[] = [];
    for await (const blob of services.blobStore.list(prefix)) times.push(blob.lastModified.getTime());
    return { first: new Date(Math.min(...times)), last: new Date(Math.max(...times)) };
  }
  const run = (options: Partial<CleanupOptions> = {}) =>
    new CacheCleanup(
      {
        maintenance: services.maintenance,
        leases: services.leases,
        blobStore: services.blobStore,
        stats: services.statsReader,
      },
      {
        maxEntriesPerTenant: 10_000,
        pricePerMillionChars: services.config.ttsPricePerMillionChars,
        now: () => NOW,
        ...options,
      },
    ).run(log);

  it('deletes expired entries, rows and blobs, keeps live ones, and logs the guide’s lines', async () => {
    const tenant = randomUUID();
    const expired = await Promise.all(
      [1, 2, 3].map((h) => seed(tenant, { expiresAt: new Date(NOW.getTime() - h * HOUR) })),
    );
    const live = [
      await seed(tenant, { expiresAt: new Date(NOW.getTime() + HOUR), size: 1_048_576, hits: 4 }),
      await seed(tenant, { expiresAt: null, size: 524_288, hits: 1 }),
      await seed(tenant, { expiresAt: new Date(NOW.getTime() + 1), size: 524_288, hits: 1 }),
    ];

    const report = await run();

    expect(report).toMatchObject({
      ran: true,
      expired: 3,
      evicted: 0,
      orphans: 0,
      blobs: { deleted: 3, missing: 0, failed: 0 },
    });
    expect(await keysOf(tenant)).toEqual(live.map((e) => e.cacheKey).sort());
    for (const e of expired) expect(await blobExists(e.path)).toBe(false);
    for (const e of live) expect(await blobExists(e.path)).toBe(true);
    expect(lines).toEqual([
      'info: Running audio cache cleanup...',
      'info: Deleted 3 expired cache entries',
      'info: Deleted 0 old cache entries via LRU',
      'info: Deleted 0 orphaned cache blobs',
      'info: Cache stats: 3 entries, 2.00 MB, 6 total hits, 2.00 avg hits/entry',
      expect.stringMatching(/^info: Cache usage \(all tenants\): last 24 h: .* most played: /),
    ]);
  });

  it('keeps exactly the N most recently played entries of each tenant over the cap, and nothing of others', async () => {
    const big = randomUUID();
    const small = randomUUID();
    const entries = [];
    for (let i = 0; i < 8; i++) entries.push(await seed(big, { lastAccessedAt: new Date(NOW.getTime() - i * HOUR) }));
    const others = [];
    for (let i = 0; i < 5; i++)
      others.push(await seed(small, { lastAccessedAt: new Date(NOW.getTime() - 100 * HOUR) }));

    // Batches of 2: the eviction has to take several statements to get there.
    const report = await run({ maxEntriesPerTenant: 5, batchSize: 2 });

    expect(report.evicted).toBe(3);
    expect(await keysOf(big)).toEqual(
      entries
        .slice(0, 5)
        .map((e) => e.cacheKey)
        .sort(),
    );
    expect(await keysOf(small)).toEqual(others.map((e) => e.cacheKey).sort());
    for (const e of entries.slice(5)) expect(await blobExists(e.path)).toBe(false);
    for (const e of [...entries.slice(0, 5), ...others]) expect(await blobExists(e.path)).toBe(true);
    expect(lines).toContain('info: Deleted 3 old cache entries via LRU');
  });

  it('works through more expired entries than one batch holds', async () => {
    const tenant = randomUUID();
    for (let i = 0; i < 7; i++) await seed(tenant, { expiresAt: new Date(NOW.getTime() - HOUR), blob: i % 2 === 0 });
    const report = await run({ batchSize: 3 });
    expect(report.expired).toBe(7);
    expect(report.blobs).toMatchObject({ deleted: 4, missing: 3, failed: 0 });
    expect(await keysOf(tenant)).toEqual([]);
  });

  it('sweeps blobs no entry refers to once they are past the grace period, a bounded number per pass', async () => {
    const tenant = randomUUID();
    const orphans = Array.from({ length: 3 }, () => `audio-cache/${tenant}/${randomBytes(32).toString('hex')}.mp3`);
    for (const path of orphans) await services.blobStore.put(path, Buffer.from('orphan'), 'audio/mpeg');
    await services.blobStore.put('audio-cache/readme.txt', Buffer.from('not ours'), 'text/plain');
    // A blob's age is storage's word (its Last-Modified, in whole seconds), so the pass's clock is
    // set from it. The three uploads may straddle a second: the grace is counted from the first.
    const uploaded = await uploadsOf(`audio-cache/${tenant}/`);
    const kept = await seed(tenant, { expiresAt: new Date(uploaded.last.getTime() + 24 * HOUR) });

    // Just uploaded: within the grace period (a miss may be about to write its row).
    expect((await run({ now: () => uploaded.last })).orphans).toBe(0);
    expect((await run({ now: () => new Date(uploaded.first.getTime() + HOUR - 1_000) })).orphans).toBe(0);

    const later = () => new Date(uploaded.last.getTime() + 2 * HOUR);
    expect((await run({ now: later, orphanLimit: 2 })).orphans).toBe(2);
    expect((await run({ now: later, orphanLimit: 2 })).orphans).toBe(1);
    for (const path of orphans) expect(await blobExists(path)).toBe(false);
    expect(await blobExists(kept.path)).toBe(true);
    expect(await blobExists('audio-cache/readme.txt')).toBe(true);
  });

  it('runs one pass at a time: a second caller skips and says so', async () => {
    await seed(randomUUID(), { expiresAt: new Date(NOW.getTime() - HOUR) });
    // Another instance's pass holds the cleanup's lease.
    const theirs = await services.leases.take(CLEANUP_LEASE, 60_000);
    expect(theirs).toBeDefined();
    expect(await run()).toEqual(expect.objectContaining({ ran: false, expired: 0 }));
    expect(lines).toEqual(['info: Audio cache cleanup skipped: another cleanup pass is running']);
    await services.leases.release(theirs!);
    // Once released, the next pass does the work, and lets go of the lease afterwards.
    expect((await run()).expired).toBe(1);
    const next = await services.leases.take(CLEANUP_LEASE, 60_000);
    expect(next).toEqual(expect.objectContaining({ generation: 1 }));
    await services.leases.release(next!);
  });

  it('takes over the lease of a pass that stopped renewing it (a killed run), and deletes leases long expired', async () => {
    await seed(randomUUID(), { expiresAt: new Date(NOW.getTime() - HOUR) });
    const killed = await services.leases.take(CLEANUP_LEASE, 200);
    const forgotten = await services.leases.take(`audition:${'0'.repeat(64)}`, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await run()).expired).toBe(1);
    expect(await services.leases.renew(killed!, 60_000)).toBe(false); // taken over, then released
    // A line's lease expired an hour before the pass is deleted by it; one expired just now is not (nor the pass's
    // own, released: a released lease is kept, expired at its release, until a pass an hour later).
    expect(forgotten).toBeDefined();
    expect(await services.leases.deleteExpired(0)).toBe(2);
  });

  it('lets two passes started together split nothing: one does the work, in total exactly once', async () => {
    const tenant = randomUUID();
    for (let i = 0; i < 20; i++) await seed(tenant, { expiresAt: new Date(NOW.getTime() - HOUR) });
    const [a, b] = await Promise.all([run({ batchSize: 2 }), run({ batchSize: 2 })]);
    expect(a.expired + b.expired).toBe(20);
    expect([a.ran, b.ran].filter(Boolean).length).toBeGreaterThanOrEqual(1);
    if (a.ran && b.ran) expect(Math.min(a.expired, b.expired)).toBe(0); // the later one found nothing left
  });

  it('is a no-op when run again right after', async () => {
    const tenant = randomUUID();
    await seed(tenant, { expiresAt: new Date(NOW.getTime() - HOUR) });
    for (let i = 0; i < 4; i++) await seed(tenant, { lastAccessedAt: new Date(NOW.getTime() - i * HOUR) });
    const first = await run({ maxEntriesPerTenant: 2 });
    lines = [];
    const second = await run({ maxEntriesPerTenant: 2 });
    expect(first).toMatchObject({ expired: 1, evicted: 2 });
    expect(second).toMatchObject({ expired: 0, evicted: 0, orphans: 0, blobs: { deleted: 0, missing: 0, failed: 0 } });
    expect(second.stats).toEqual(first.stats);
    expect(lines).toContain('info: Cache stats: 2 entries, 0.00 MB, 0 total hits, 0.00 avg hits/entry');
  });

  it('deletes nothing another writer stored: the Khipu Cloud API’s rows and blobs stay, however old, expired or many', async () => {
    const tenant = randomUUID();
    // The API's narration and old auditions: expired long ago, never played, far over the cap.
    const theirs = [];
    for (let i = 0; i < 4; i++) {
      theirs.push(
        await seed(tenant, {
          writer: 'khipu-api',
          expiresAt: new Date(NOW.getTime() - 500 * HOUR),
          lastAccessedAt: new Date(NOW.getTime() - 900 * HOUR),
        }),
      );
    }
    for (let i = 0; i < 4; i++)
      theirs.push(
        await seed(tenant, {
          writer: 'khipu-api',
          expiresAt: null,
          lastAccessedAt: new Date(NOW.getTime() - 800 * HOUR),
        }),
      );
    // A blob of theirs with no row at all (a segment's audio whose row the API removed).
    const theirOrphan = `audio-cache/${tenant}/${randomBytes(32).toString('hex')}.mp3`;
    await uploadAsKhipuApi(services, theirOrphan, Buffer.from('narration'));
    // Ours: one expired, two live (the older one over a cap of 1), and a blob of ours with no row.
    const ourExpired = await seed(tenant, { expiresAt: new Date(NOW.getTime() - HOUR) });
    const ourOlder = await seed(tenant, { expiresAt: null, lastAccessedAt: new Date(NOW.getTime() - 2 * HOUR) });
    const ourNewest = await seed(tenant, { expiresAt: null, lastAccessedAt: new Date(NOW.getTime() - HOUR) });
    const ourOrphan = `audio-cache/${tenant}/${randomBytes(32).toString('hex')}.mp3`;
    await services.blobStore.put(ourOrphan, Buffer.from('orphan'), 'audio/mpeg');
    // Past the orphans' grace period by storage's clock, and past every expiry above.
    const later = new Date(
      Math.max((await uploadsOf(`audio-cache/${tenant}/`)).last.getTime(), NOW.getTime()) + 2 * HOUR,
    );

    const report = await run({ maxEntriesPerTenant: 1, now: () => later });

    expect(report).toMatchObject({ expired: 1, evicted: 1, orphans: 1 });
    expect(await keysOf(tenant)).toEqual([...theirs.map((e) => e.cacheKey), ourNewest.cacheKey].sort());
    for (const entry of theirs) expect(await blobExists(entry.path)).toBe(true);
    expect(await blobExists(theirOrphan)).toBe(true);
    for (const gone of [ourExpired.path, ourOlder.path, ourOrphan]) expect(await blobExists(gone)).toBe(false);
    expect(await blobExists(ourNewest.path)).toBe(true);
    // The figures are ours alone.
    expect(report.stats).toMatchObject({ entries: 1 });
    // A second pass still finds nothing of theirs to do.
    expect(await run({ maxEntriesPerTenant: 1, now: () => later })).toMatchObject({
      expired: 0,
      evicted: 0,
      orphans: 0,
    });
    expect((await keysOf(tenant)).length).toBe(theirs.length + 1);
  });

  it('forgets, within a day of passes, the notes of our entries another writer deleted, and never lets them cost an entry', async () => {
    const tenant = randomUUID();
    const kept = await seed(tenant, { expiresAt: null, lastAccessedAt: new Date(NOW.getTime() - 2 * HOUR) });
    const removed = await Promise.all(
      [1, 2, 3].map(() => seed(tenant, { expiresAt: null, lastAccessedAt: new Date(NOW.getTime() - HOUR) })),
    );
    // The Khipu Cloud API's own cleanup deletes rows of ours (say, expired by its clock).
    await services.prisma
      .$executeRaw`DELETE FROM audio_cache WHERE cache_key = ANY(${removed.map((e) => e.cacheKey)}::text[])`;
    const notes = () =>
      services.prisma.audioCacheAudition
        .findMany({ where: { tenantId: tenant }, select: { cacheKey: true } })
        .then((r) => r.map((n) => n.cacheKey).sort());

    // A cap of 1: four notes, one live entry. The pass ranks rows, so the live one stays.
    const first = await run({ maxEntriesPerTenant: 1 });
    expect(first.evicted).toBe(0);
    expect(await keysOf(tenant)).toEqual([kept.cacheKey]);

    // Each hourly pass checks one 24th of the key space: a day of passes forgets them all.
    for (let hour = 0; hour < 24; hour++) await run({ now: () => new Date(Date.UTC(2026, 10, 23, hour, 30)) });
    expect(await notes()).toEqual([kept.cacheKey]);
  });

  it('splits the key space into 24 slices that cover it once', () => {
    const slices = Array.from({ length: 24 }, (_, hour) => noteSlice(new Date(Date.UTC(2026, 0, 1, hour))));
    expect(slices[0]).toEqual({ from: '00', to: '0a' });
    expect(slices[23]).toEqual({ from: 'f5' });
    for (let i = 1; i < 24; i++) expect(slices[i]!.from).toBe(slices[i - 1]!.to);
    for (const key of ['0'.repeat(64), '09ff', '0a00', 'f4ff', 'f5', 'f'.repeat(64)]) {
      expect(slices.filter((s) => key >= s.from && (s.to === undefined || key < s.to))).toHaveLength(1);
    }
  });

  it('counts a blob as referenced by any writer’s row, and on the Khipu database by a segment’s narration key', async () => {
    const tenant = randomUUID();
    const theirs = await seed(tenant, { writer: 'khipu-api' });
    const ours = await seed(tenant, {});
    const segmentKey = randomBytes(32).toString('hex');
    const nothing = randomBytes(32).toString('hex');
    const blob = (cacheKey: string) => ({ path: `audio-cache/${tenant}/${cacheKey}.mp3`, cacheKey });
    if (shape === 'khipu') {
      const { projectId } = await createTestAccount(services.prisma, services.config.jwt.secretKey);
      await services.prisma.$executeRaw`
        INSERT INTO audio_segment_metadata (id, project_id, chapter_id, segment_id, raw_audio_cache_key)
        VALUES (gen_random_uuid(), ${projectId}::uuid, 'ch01', 'seg-1', ${segmentKey})`;
    }
    const referenced = await services.maintenance.findReferencedBlobs(
      [theirs, ours, segmentKey, nothing].map((e) => blob(typeof e === 'string' ? e : e.cacheKey)),
    );
    expect([...referenced].sort()).toEqual(
      [theirs.path, ours.path, ...(shape === 'khipu' ? [blob(segmentKey).path] : [])].sort(),
    );
  });

  it('counts and logs blob deletions that fail, still finishes the pass, and the next pass sweeps what is left', async () => {
    const tenant = randomUUID();
    for (let i = 0; i < 3; i++) await seed(tenant, { expiresAt: new Date(NOW.getTime() - HOUR) });
    const nothingListening = inject('azuriteConnectionString').replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9');
    const deadBlob = createServices(
      parseConfig(testSettings(services.database.url, { AZURE_STORAGE_CONNECTION_STRING: nothingListening })),
    );
    try {
      const report = await new CacheCleanup(
        {
          maintenance: deadBlob.maintenance,
          leases: deadBlob.leases,
          blobStore: deadBlob.blobStore,
          stats: deadBlob.statsReader,
        },
        { maxEntriesPerTenant: 10_000, pricePerMillionChars: services.config.ttsPricePerMillionChars, now: () => NOW },
      ).run(log);
      expect(report).toMatchObject({ ran: true, expired: 3, blobs: { deleted: 0, failed: 3 } });
      expect(await keysOf(tenant)).toEqual([]);
      expect(lines.some((l) => /^warn: Could not delete 3 cache blobs \(first error: .*ECONNREFUSED/.test(l))).toBe(
        true,
      );
      expect(lines.some((l) => l.startsWith('warn: Orphaned blob sweep failed'))).toBe(true);
      expect(lines.at(-2)).toMatch(/^info: Cache stats: 0 entries/);

      // Rows went first, so nothing points at the blobs left behind; once storage is back and
      // they are past the grace period, the next pass finishes the job.
      const uploaded = (await uploadsOf(`audio-cache/${tenant}/`)).last;
      const later = await run({ now: () => new Date(uploaded.getTime() + 2 * HOUR) });
      expect(later).toMatchObject({ expired: 0, orphans: 3 });
    } finally {
      await deadBlob.close();
    }
  });
});

describe('the cleanup timer function', () => {
  it('runs hourly by default (CACHE_CLEANUP_SCHEDULE)', () => {
    expect(cleanupFunction).toMatchObject({ trigger: 'timer', name: 'cleanup', options: { schedule: '0 0 * * * *' } });
  });

  it('runs one pass with the app’s services and logs through the invocation context', async () => {
    const services = await createTestServices({ CACHE_MAX_ENTRIES_PER_TENANT: '1' });
    try {
      const logs: string[] = [];
      const context = new InvocationContext({
        functionName: 'cleanup',
        logHandler: (level, ...args) => logs.push(`${level}: ${args.join(' ')}`),
      });
      await createCleanupHandler(() => services)({ isPastDue: false } as never, context);
      expect(logs).toContain('information: Running audio cache cleanup...');
      expect(logs.at(-2)).toBe('information: Cache stats: 0 entries, 0.00 MB, 0 total hits, 0.00 avg hits/entry');
      // Then the stats endpoint's figures for all tenants.
      expect(logs.at(-1)).toBe(
        'information: Cache usage (all tenants): last 24 h: 0 entries created, 0 hits, 0 syntheses, hit ratio n/a, ' +
          '0 characters ($0.00) saved, predictive prewarm 0 syntheses, 0 characters ($0.00), 0 hits served; ' +
          'last 7 d: 0 entries created, 0 hits, 0 syntheses, hit ratio n/a, 0 characters ($0.00) saved, ' +
          'predictive prewarm 0 syntheses, 0 characters ($0.00), 0 hits served; ' +
          'all cached entries: 0 characters ($0.00 at $16/M) saved; most played: none',
      );
    } finally {
      await services.dispose();
    }
  });
});
