import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import type { PrismaClient } from '../../src/adapters/postgres/prisma-client.ts';
import type { BuiltServices as Services } from '../../src/app/services.ts';
import type { ProjectStorage } from '../../src/domain/project-storage.ts';
import { ensureTestTenant } from './accounts.ts';

export interface SeedEntry {
  /** `us`: as the audition service stores an entry; `khipu-api`: a row (and blob) the Khipu Cloud API wrote. */
  writer?: 'us' | 'khipu-api';
  cacheKey?: string;
  text?: string;
  voiceId?: string;
  expiresAt?: Date | null;
  lastAccessedAt?: Date;
  createdAt?: Date;
  size?: number;
  hits?: number;
  /** Store the blob too (default true). */
  blob?: boolean;
}

export interface SeededEntry {
  cacheKey: string;
  path: string;
}

/**
 * An audio_cache row and its blob at `audio-cache/{tenant}/{key}.mp3`, written with plain SQL
 * that fits both database shapes. Ours are noted in audio_cache_auditions, as the index adapter
 * notes them, and their blob goes through the app's BlobStore; the Khipu Cloud API's rows are
 * plain rows and their blobs plain uploads, as that API writes them.
 */
export async function seedEntry(services: Services, tenantId: string, entry: SeedEntry = {}): Promise<SeededEntry> {
  const cacheKey = entry.cacheKey ?? randomBytes(32).toString('hex');
  const path = `audio-cache/${tenantId}/${cacheKey}.mp3`;
  const size = entry.size ?? 1024;
  const ours = (entry.writer ?? 'us') === 'us';
  const prisma = await services.db.client();
  await ensureTestTenant(prisma, tenantId);
  if (entry.blob !== false) {
    const audio = randomBytes(size);
    if (ours) await services.blobStore.put(path, audio, 'audio/mpeg');
    else await uploadAsKhipuApi(services, path, audio);
  }
  const createdAt = entry.createdAt ?? new Date(Date.now() - 3_600_000);
  const voiceSettings = ours
    ? {
        style: 'none',
        styledegree: 1,
        rate_pct: 0,
        pitch_pct: 0,
        provider: 'azure',
        output_format: 'audio-24khz-48kbitrate-mono-mp3',
      }
    : { rate_pct: 0, pitch_pct: 0 };
  await prisma.$executeRaw`
    INSERT INTO audio_cache (id, tenant_id, cache_key, text, voice_id, voice_settings, audio_blob_path, audio_file_size_bytes,
                             hit_count, last_accessed_at, created_at, expires_at)
    VALUES (gen_random_uuid(), ${tenantId}::uuid, ${cacheKey}, ${entry.text ?? 'x'}, ${entry.voiceId ?? 'es-AR-ElenaNeural'},
            ${JSON.stringify(voiceSettings)}, ${path}, ${size}, ${entry.hits ?? 0}, ${entry.lastAccessedAt ?? createdAt}, ${createdAt},
            ${entry.expiresAt === undefined ? new Date(createdAt.getTime() + 30 * 86_400_000) : entry.expiresAt})`;
  if (ours)
    await prisma.$executeRaw`INSERT INTO audio_cache_auditions (cache_key, tenant_id) VALUES (${cacheKey}, ${tenantId}::uuid)`;
  return { cacheKey, path };
}

/**
 * Moves an entry of ours to a project's own account as the index stores one there: its note names the account and
 * project, and the account is registered for the tenant (the last project; `at`: the write's time).
 */
export async function noteProjectStore(
  prisma: PrismaClient,
  tenantId: string,
  cacheKey: string | null,
  { storeId, projectId }: { storeId: string; projectId: string },
  at: Date,
): Promise<void> {
  if (cacheKey !== null)
    await prisma.$executeRaw`UPDATE audio_cache_auditions
      SET blob_store = ${storeId}, project_id = ${projectId}::uuid WHERE cache_key = ${cacheKey}`;
  await prisma.$executeRaw`
    INSERT INTO audio_cache_blob_stores AS r (tenant_id, store_id, project_id, first_written_at, last_written_at)
    VALUES (${tenantId}::uuid, ${storeId}, ${projectId}::uuid, ${at}, ${at})
    ON CONFLICT (tenant_id, store_id) DO UPDATE
       SET project_id = excluded.project_id, last_written_at = GREATEST(r.last_written_at, excluded.last_written_at)`;
}

/** A blob as the Khipu Cloud API uploads it into the shared container (no metadata of ours). */
export async function uploadAsKhipuApi(services: Services, path: string, data: Uint8Array): Promise<void> {
  const config = services.config.blobStorage;
  if (config.kind !== 'connection-string') throw new Error('tests use a connection string');
  const container = BlobServiceClient.fromConnectionString(config.connectionString).getContainerClient(
    config.containerName,
  );
  await container.createIfNotExists();
  await container.getBlockBlobClient(path).uploadData(data, { blobHTTPHeaders: { blobContentType: 'audio/mpeg' } });
}

/** Whether a blob is (still) in the store. */
export function blobExists(services: Services, path: string): Promise<boolean> {
  return services.blobStore.get(path).then(
    (blob) => (blob.stream.destroy(), true),
    () => false,
  );
}

/**
 * An entry of ours whose blob is in a project's own storage account, as the audition function stores it there: the
 * blob through the app's store for that account, the row, the ownership note naming the store and the project, and
 * the account in the registry of project stores.
 */
export async function seedProjectEntry(
  services: Services,
  tenantId: string,
  store: { storage: ProjectStorage; projectId: string },
  entry: Omit<SeedEntry, 'writer'> = {},
): Promise<SeededEntry> {
  const seeded = await seedEntry(services, tenantId, { ...entry, blob: false });
  const prisma = await services.db.client();
  if (entry.blob !== false) {
    await services.projectStores
      .storeFor(store.storage)
      .put(seeded.path, randomBytes(entry.size ?? 1024), 'audio/mpeg');
  }
  const { storeId } = store.storage;
  await prisma.$executeRaw`
    UPDATE audio_cache_auditions SET blob_store = ${storeId}, project_id = ${store.projectId}::uuid
     WHERE cache_key = ${seeded.cacheKey}`;
  const at = entry.createdAt ?? new Date(Date.now() - 3_600_000);
  await prisma.$executeRaw`
    INSERT INTO audio_cache_blob_stores (tenant_id, store_id, project_id, first_written_at, last_written_at)
    VALUES (${tenantId}::uuid, ${storeId}, ${store.projectId}::uuid, ${at}, ${at})
    ON CONFLICT (tenant_id, store_id) DO NOTHING`;
  return seeded;
}
