// npm run bench:cleanup — one cleanup pass over 1,000,000 entries (not part of npm test).
//
// Seeds 1M audio_cache rows across 50 tenants in SQL (10 % expired; 20 tenants at 35,000
// entries, far over the 10,000 cap), plus real blobs for a sample of the doomed rows, then runs
// one pass exactly as an operator would (`node dist/tools/cleanup.js`, a process of its own:
// PostgreSQL through Prisma, Azurite through @azure/storage-blob's batch API) and prints the
// time spent in database statements, the blob-delete throughput and the pass's peak RSS.
// In the same run it measures Azurite's throughput for one-at-a-time deletes, as a baseline.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { AzureBlobStore } from '../../src/adapters/azure-blob-store.ts';
import { StallGuard } from '../../src/adapters/stall-guard.ts';
import type { CleanupReport } from '../../src/cleanup/clean-cache.ts';
import { applyMigrations } from '../db/migrations.ts';
import { startAzurite } from '../local-services/azurite.ts';
import { startEmbeddedPostgres } from '../local-services/embedded-postgres.ts';
import { withPgClient } from '../local-services/postgres-server.ts';
import { projectRoot } from '../project-root.ts';
import { saveResult } from './bench-stack.ts';

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const BIG_TENANTS = 20;
const ROWS_BIG = Math.round(SCALE * 35_000);
const ROWS_SMALL = Math.round(SCALE * 10_000); // × 30 tenants
const CAP = Math.round(SCALE * 10_000);
// Azurite's delete cost grows with the number of blobs in the container (10,000 existing blobs
// delete at ~350/s, 2,000 at ~2,200/s on this machine), which real Blob Storage does not do:
// a few thousand real blobs keep the measurement about our batching, not about Azurite's index.
const SAMPLE_BLOBS = 2_000;
const CONTAINER = 'audio-cache';

async function main() {
  const root = projectRoot();
  const work = await mkdtemp(path.join(os.tmpdir(), 'khipu-pg-bench-'));
  const pg = await startEmbeddedPostgres({ dataDir: path.join(work, 'data'), persistent: false });
  const azurite = await startAzurite();
  const stop = async () => {
    await azurite.stop();
    await pg.stop();
    await rm(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    await applyMigrations(pg.adminUrl);
    let t = performance.now();
    const doomedSample = await withPgClient(pg.adminUrl, async (client) => {
      await client.query(`
        INSERT INTO audio_cache (tenant_id, cache_key, text, voice_id, audio_blob_path, audio_file_size_bytes,
                                 hit_count, last_accessed_at, created_at, expires_at)
        SELECT t.id, k.key, 'Línea ' || g, 'es-AR-ElenaNeural', 'audio-cache/' || t.id || '/' || k.key || '.mp3',
               40000 + (g % 20000), g % 7,
               now() - random() * interval '30 days', now() - interval '31 days',
               CASE WHEN random() < 0.1 THEN now() - random() * interval '1 day' ELSE now() + random() * interval '30 days' END
          FROM (SELECT gen_random_uuid() AS id, n FROM generate_series(0, 49) n) t
          JOIN LATERAL generate_series(1, CASE WHEN t.n < ${BIG_TENANTS} THEN ${ROWS_BIG} ELSE ${ROWS_SMALL} END) g ON true
          CROSS JOIN LATERAL (SELECT md5(t.n || ':' || g) || md5(g || ':' || t.n) AS key) k`);
      // Every seeded row is one this service wrote (the cleanup touches no other).
      await client.query(
        'INSERT INTO audio_cache_auditions (cache_key, tenant_id, created_at) SELECT cache_key, tenant_id, created_at FROM audio_cache',
      );
      await client.query('ANALYZE audio_cache');
      await client.query('ANALYZE audio_cache_auditions');
      const { rows } = await client.query<{ path: string }>(
        `SELECT audio_blob_path AS path FROM audio_cache WHERE expires_at < now() ORDER BY random() LIMIT ${SAMPLE_BLOBS}`,
      );
      return rows.map((r) => r.path);
    });
    const rows = BIG_TENANTS * ROWS_BIG + 30 * ROWS_SMALL;
    const seedSeconds = (performance.now() - t) / 1000;

    const blobStore = AzureBlobStore.fromConfig(
      { kind: 'connection-string', connectionString: azurite.connectionString, containerName: CONTAINER },
      { stallGuard: new StallGuard('Blob Storage') },
    );
    const put = async (paths: string[]) => {
      for (let i = 0; i < paths.length; i += 64) {
        await Promise.all(paths.slice(i, i + 64).map((p) => blobStore.put(p, Buffer.alloc(1024), 'audio/mpeg')));
      }
    };
    // Baseline: Azurite deleting blobs one request each, 16 at a time, in this same run.
    const single = Array.from({ length: SAMPLE_BLOBS }, (_, i) => `baseline/${i}.mp3`);
    await put(single);
    t = performance.now();
    for (let i = 0; i < single.length; i += 16)
      await Promise.all(single.slice(i, i + 16).map((p) => blobStore.delete(p)));
    const singleDeletesPerSecond = single.length / ((performance.now() - t) / 1000);
    await put(doomedSample);
    console.log(
      `seeded ${rows.toLocaleString('en')} rows in ${seedSeconds.toFixed(1)} s and ${doomedSample.length} blobs`,
    );

    const reportFile = path.join(work, 'report.json');
    t = performance.now();
    await promisify(execFile)(process.execPath, [path.join(root, 'dist/tools/cleanup.js'), '--report', reportFile], {
      cwd: work, // no local.settings.json here: the environment below is the whole configuration
      env: {
        ...process.env,
        DATABASE_URL: pg.adminUrl,
        AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
        AZURE_STORAGE_CONTAINER_NAME: CONTAINER,
        JWT_SECRET_KEY: 'bench',
        CACHE_MAX_ENTRIES_PER_TENANT: String(CAP),
      },
      maxBuffer: 16 * 1024 * 1024,
    }).then(({ stdout }) => process.stdout.write(stdout));
    const passSeconds = (performance.now() - t) / 1000;
    const report = JSON.parse(await readFile(reportFile, 'utf8')) as CleanupReport & { peakRssMb: number };

    const blobOps = report.blobs.deleted + report.blobs.missing + report.blobs.failed;
    const batchedPerSecond = blobOps / (report.blobMs / 1000);
    const result = {
      rows_seeded: rows,
      expired_deleted: report.expired,
      lru_deleted: report.evicted,
      orphans_deleted: report.orphans,
      database_seconds: +(report.databaseMs / 1000).toFixed(2),
      blob_seconds: +(report.blobMs / 1000).toFixed(2),
      pass_seconds_including_process_start: +passSeconds.toFixed(2),
      blob_deletes: blobOps,
      blob_deletes_per_second_batched: Math.round(batchedPerSecond),
      blob_deletes_per_second_one_by_one: Math.round(singleDeletesPerSecond),
      batched_vs_one_by_one: +(batchedPerSecond / singleDeletesPerSecond).toFixed(2),
      blob_failures: report.blobs.failed,
      peak_rss_mb: +report.peakRssMb.toFixed(1),
      entries_left: report.stats?.entries,
    };
    await saveResult('cleanup-latest', result);
  } finally {
    await stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
