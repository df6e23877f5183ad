// The index lookup of `npm run bench`: p50 of PrismaAudioCacheIndex.find over 2,500 lookups (after 500 unmeasured) of
// stored keys, with the table seeded to ~10,000 rows, then to ~1,000,000 (the stack's tenant, expiring in 30 days).
import { PrismaAudioCacheIndex } from '../../src/adapters/postgres/prisma-audio-cache-index.ts';
import type { Database } from '../../src/adapters/postgres/prisma-client.ts';
import { withPgClient } from '../local-services/postgres-server.ts';
import type { BenchStack } from './bench-stack.ts';

const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))]!;

/** Lookup p50 in ms at 10,000 and at 1,000,000 rows; `stored`: the rows already there. */
export async function measureLookups(stack: BenchStack, db: Database, stored: number) {
  const index = new PrismaAudioCacheIndex(db);
  const prisma = await db.client();
  const lookupP50 = async () => {
    const keys = (await prisma.audioCache.findMany({ select: { cacheKey: true }, take: 1000 })).map((r) => r.cacheKey);
    const times: number[] = [];
    for (let i = 0; i < 3_000; i++) {
      const started = performance.now();
      await index.find(keys[i % keys.length]!);
      times.push(performance.now() - started);
    }
    return +percentile(times.slice(500), 0.5).toFixed(3);
  };
  const seed = (rows: number) =>
    withPgClient(stack.pg.adminUrl, async (client) => {
      await client.query(
        `
        INSERT INTO audio_cache (tenant_id, cache_key, text, voice_id, audio_blob_path, expires_at)
        SELECT $1::uuid, md5(g || ':' || $2) || md5($2 || ':' || g), 'x', 'v', 'audio-cache/x/' || g || '.mp3', now() + interval '30 days'
          FROM generate_series(1, ${rows}) g`,
        [stack.tenantId, String(rows)],
      );
      await client.query('ANALYZE audio_cache');
    });
  await seed(10_000 - stored);
  const lookup10k = await lookupP50();
  await seed(990_000);
  const lookup1m = await lookupP50();
  return { lookup10k, lookup1m };
}
