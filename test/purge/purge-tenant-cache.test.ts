import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purgeTenantCache, type PurgeResult } from '../../src/purge/purge-tenant-cache.ts';
import { createTestAccount } from '../support/accounts.ts';
import { blobExists as blobIn, seedEntry } from '../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

describe.each(DATABASE_SHAPES)('purgeTenantCache (real Postgres and Azurite), database shape: %s', (shape) => {
  let services: TestServices;
  beforeAll(async () => {
    services = await createTestServices({}, shape);
  });
  afterAll(() => services.dispose());

  async function seed(tenantId: string, texts: string[], writer: 'us' | 'khipu-api' = 'us') {
    const seeded = [];
    for (const text of texts) seeded.push(await seedEntry(services, tenantId, { text, writer }));
    return seeded;
  }
  const blobExists = (path: string) => blobIn(services, path);

  it('deletes in batches until none is left, counting rows and blobs', async () => {
    const { tenantId } = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    await seed(tenantId, ['a', 'b', 'c', 'd', 'e']);
    const paths = (await services.prisma.audioCache.findMany({ where: { tenantId } })).map((r) => r.audioBlobPath);
    const result = await purgeTenantCache(
      { maintenance: services.maintenance, blobStore: services.blobStore },
      { tenantId, batchSize: 2 },
      console,
    );
    expect(result).toEqual({ entriesDeleted: 5, blobsDeleted: 5, blobsMissing: 0, blobsFailed: 0, entriesKept: 0 });
    for (const path of paths) expect(await blobExists(path)).toBe(false);
  });

  it('deletes only the entries this service wrote: the tenant’s narration rows and blobs stay', async () => {
    const { tenantId } = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const ours = await seed(tenantId, ['a', 'b', 'c']);
    const theirs = await seed(tenantId, ['capítulo 1, segmento 1', 'capítulo 1, segmento 2', 'a'], 'khipu-api');
    const result = await purgeTenantCache(
      { maintenance: services.maintenance, blobStore: services.blobStore },
      { tenantId, batchSize: 2 },
      console,
    );
    expect(result).toEqual({ entriesDeleted: 3, blobsDeleted: 3, blobsMissing: 0, blobsFailed: 0, entriesKept: 0 });
    const left = (await services.prisma.audioCache.findMany({ where: { tenantId }, select: { cacheKey: true } })).map(
      (r) => r.cacheKey,
    );
    expect(left.sort()).toEqual(theirs.map((e) => e.cacheKey).sort());
    for (const entry of theirs) expect(await blobExists(entry.path)).toBe(true);
    for (const entry of ours) expect(await blobExists(entry.path)).toBe(false);
  });

  it('loses nothing when Postgres fails midway: a failed batch keeps its rows and their blobs', async () => {
    const { tenantId } = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    await seed(tenantId, ['uno', 'dos', 'tres', 'veneno', 'cinco', 'seis']);
    // Postgres refuses to delete one row: the statement of its batch fails as a whole.
    await services.prisma.$executeRawUnsafe(`
      CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF OLD.text = 'veneno' THEN RAISE EXCEPTION 'refused'; END IF; RETURN OLD; END $$`);
    await services.prisma.$executeRawUnsafe(
      `CREATE TRIGGER refuse_poison BEFORE DELETE ON audio_cache FOR EACH ROW EXECUTE FUNCTION refuse_poison()`,
    );
    const before = await services.prisma.audioCache.findMany({ where: { tenantId } });
    const progress: PurgeResult = {
      entriesDeleted: 0,
      blobsDeleted: 0,
      blobsMissing: 0,
      blobsFailed: 0,
      entriesKept: 0,
    };
    try {
      await expect(
        purgeTenantCache(
          { maintenance: services.maintenance, blobStore: services.blobStore },
          { tenantId, batchSize: 2 },
          console,
          progress,
        ),
      ).rejects.toThrow(/refused/);
    } finally {
      await services.prisma.$executeRawUnsafe('DROP TRIGGER refuse_poison ON audio_cache');
      await services.prisma.$executeRawUnsafe('DROP FUNCTION refuse_poison()');
    }
    const after = new Set((await services.prisma.audioCache.findMany({ where: { tenantId } })).map((r) => r.id));
    // Whatever batch order Postgres chose: the counts match what is gone, every remaining row
    // (the poisoned one and its batch) still has its blob, every deleted row's blob is gone.
    expect(after.size).toBeGreaterThanOrEqual(1);
    expect(progress.entriesDeleted).toBe(before.length - after.size);
    expect(progress.blobsDeleted).toBe(progress.entriesDeleted);
    for (const row of before) expect(await blobExists(row.audioBlobPath)).toBe(after.has(row.id));
    expect(before.find((r) => r.text === 'veneno') && after.has(before.find((r) => r.text === 'veneno')!.id)).toBe(
      true,
    );
  });
});
