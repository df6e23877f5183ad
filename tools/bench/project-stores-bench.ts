// npm run bench:project-stores — what a cleanup pass costs when the expired entries are spread over N projects' own
// storage accounts (not part of npm test).
//
// For each N, the same number of expired entries (PER_STORE × N, one tenant and project per account) is cleaned up
// twice in the same run: once with every blob in the operator's account (the baseline), once with each tenant's blobs
// in its project's own account (here: its own container of a second Azurite account; a store is an account's
// container). It prints the median pass time of each, and their ratio.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { createServices } from '../../src/app/services.ts';
import { CacheCleanup } from '../../src/cleanup/clean-cache.ts';
import { parseConfig } from '../../src/config.ts';
import {
  DEVELOPMENT_PROJECT_STORAGE_POLICY,
  projectStorageOf,
  type ProjectStorage,
} from '../../src/domain/project-storage.ts';
import { applyMigrations } from '../db/migrations.ts';
import { startAzurite } from '../local-services/azurite.ts';
import { startEmbeddedPostgres } from '../local-services/embedded-postgres.ts';
import { withPgClient } from '../local-services/postgres-server.ts';
import { saveResult } from './bench-stack.ts';

const PER_STORE = 20;
const STORE_COUNTS = [1, 10, 100];
const ROUNDS = 3;
const PROJECT_ACCOUNT = { name: 'projectstore', key: randomBytes(64).toString('base64') };
const NOW = new Date();
const quiet = { info: () => {}, warn: () => {}, error: () => {} };

interface Seeded {
  tenantId: string;
  projectId: string;
  storage: ProjectStorage;
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), 'khipu-stores-bench-'));
  const pg = await startEmbeddedPostgres({ dataDir: path.join(work, 'data'), persistent: false });
  const azurite = await startAzurite({ extraAccounts: [PROJECT_ACCOUNT] });
  const endpoint = azurite.extraAccounts[0]!.serviceUrl;
  const services = createServices(
    parseConfig({
      ...process.env,
      DATABASE_URL: pg.adminUrl,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      AZURE_STORAGE_CONTAINER_NAME: 'operator',
      JWT_SECRET_KEY: 'bench',
    }),
  );
  try {
    await applyMigrations(pg.adminUrl);
    const result: Record<string, unknown> = { entries_per_store: PER_STORE, rounds: ROUNDS };
    for (const stores of STORE_COUNTS) {
      const operator: number[] = [];
      const projects: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const tenants = await seedTenants(pg.adminUrl, stores, endpoint);
        await seedEntries(pg.adminUrl, services, tenants, false);
        operator.push(await timedPass(services, stores * PER_STORE));
        await seedEntries(pg.adminUrl, services, tenants, true);
        const started = performance.now();
        const report = await pass(services);
        projects.push(performance.now() - started);
        if (report.expired !== stores * PER_STORE)
          throw new Error(`expired ${report.expired} of ${stores * PER_STORE}`);
      }
      const [operatorMs, projectMs] = [median(operator), median(projects)];
      console.log(
        `${stores} stores: operator ${operatorMs.toFixed(0)} ms, project accounts ${projectMs.toFixed(0)} ms`,
      );
      Object.assign(result, {
        [`stores_${stores}_operator_pass_ms`]: Math.round(operatorMs),
        [`stores_${stores}_project_pass_ms`]: Math.round(projectMs),
        [`stores_${stores}_project_vs_operator`]: +(projectMs / operatorMs).toFixed(2),
      });
    }
    await saveResult('project-stores-latest', result);
  } finally {
    await services.close();
    await azurite.stop();
    await pg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

function pass(services: ReturnType<typeof createServices>) {
  return new CacheCleanup(
    {
      maintenance: services.maintenance,
      leases: services.leases,
      blobStore: services.blobStore,
      stats: services.statsReader,
      projects: { maintenance: services.maintenance, accounts: services.accounts, stores: services.projectStores },
    },
    { maxEntriesPerTenant: 10_000, pricePerMillionChars: 16, now: () => NOW },
  ).run(quiet);
}

async function timedPass(services: ReturnType<typeof createServices>, expected: number): Promise<number> {
  const started = performance.now();
  const report = await pass(services);
  if (report.expired !== expected) throw new Error(`expired ${report.expired} of ${expected}`);
  return performance.now() - started;
}

/** `count` tenants, each with a user and a project naming its own container of the project account. */
async function seedTenants(url: string, count: number, endpoint: string): Promise<Seeded[]> {
  const credential = new StorageSharedKeyCredential(PROJECT_ACCOUNT.name, PROJECT_ACCOUNT.key);
  const service = new BlobServiceClient(endpoint, credential);
  const seeded: Seeded[] = [];
  for (let i = 0; i < count; i++) {
    const [tenantId, userId, projectId] = [randomUUID(), randomUUID(), randomUUID()];
    const containerName = `c-${tenantId.slice(0, 8)}`;
    await service.getContainerClient(containerName).create();
    const azure = { accountName: PROJECT_ACCOUNT.name, accessKey: PROJECT_ACCOUNT.key, containerName, endpoint };
    const settings = { creds: { storage: { azure } } };
    await withPgClient(url, async (client) => {
      await client.query(`INSERT INTO tenants (id, name, subdomain) VALUES ($1, $2, $2)`, [tenantId, `t-${tenantId}`]);
      await client.query(`INSERT INTO users (id, tenant_id, email) VALUES ($1, $2, $3)`, [
        userId,
        tenantId,
        `${userId}@bench`,
      ]);
      await client.query(
        `INSERT INTO projects (id, tenant_id, owner_id, title, settings) VALUES ($1, $2, $3, 'b', $4)`,
        [projectId, tenantId, userId, JSON.stringify(settings)],
      );
    });
    const storage = projectStorageOf(settings, DEVELOPMENT_PROJECT_STORAGE_POLICY);
    if (!storage || 'invalid' in storage) throw new Error('unusable bench settings');
    seeded.push({ tenantId, projectId, storage });
  }
  return seeded;
}

/** PER_STORE expired entries of ours per tenant: blobs in the operator's account, or in the tenant's project's. */
async function seedEntries(
  url: string,
  services: ReturnType<typeof createServices>,
  tenants: Seeded[],
  inProjectStores: boolean,
): Promise<void> {
  const expiredAt = new Date(NOW.getTime() - 3_600_000);
  for (const { tenantId, projectId, storage } of tenants) {
    const keys = Array.from({ length: PER_STORE }, () => randomBytes(32).toString('hex'));
    const store = inProjectStores ? services.projectStores.storeFor(storage) : services.blobStore;
    await Promise.all(
      keys.map((key) => store.put(`audio-cache/${tenantId}/${key}.mp3`, Buffer.alloc(1024), 'audio/mpeg')),
    );
    await withPgClient(url, async (client) => {
      await client.query(
        `INSERT INTO audio_cache (tenant_id, cache_key, text, voice_id, audio_blob_path, expires_at)
         SELECT $1::uuid, k, 'x', 'es-AR-ElenaNeural', 'audio-cache/' || $1::text || '/' || k || '.mp3', $3
           FROM unnest($2::text[]) AS k`,
        [tenantId, keys, expiredAt],
      );
      await client.query(
        `INSERT INTO audio_cache_auditions (cache_key, tenant_id, blob_store, project_id)
         SELECT k, $1::uuid, $3::text, $4::uuid FROM unnest($2::text[]) AS k`,
        [tenantId, keys, inProjectStores ? storage.storeId : null, inProjectStores ? projectId : null],
      );
      if (inProjectStores) {
        await client.query(
          `INSERT INTO audio_cache_blob_stores (tenant_id, store_id, project_id, first_written_at, last_written_at)
           VALUES ($1, $2, $3, now(), now()) ON CONFLICT DO NOTHING`,
          [tenantId, storage.storeId, projectId],
        );
      }
    });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
