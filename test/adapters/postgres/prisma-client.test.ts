import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma } from '../../../src/generated/prisma/client.ts';
import { sql } from '../../../src/adapters/postgres/sql.ts';
import { testDb } from '../../support/required-deps.ts';
import { createTestServices, type TestServices } from '../../support/test-services.ts';

describe('Prisma client on the migrated schema', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await createTestServices();
  });
  afterAll(() => services.dispose());

  async function createProject() {
    const { prisma } = services;
    const tenant = await prisma.tenant.create({
      data: { name: 'Acme Audio', subdomain: `acme-${crypto.randomUUID().slice(0, 8)}` },
    });
    const user = await prisma.user.create({ data: { tenantId: tenant.id, email: 'narrator@acme.test' } });
    return prisma.project.create({ data: { tenantId: tenant.id, ownerId: user.id, title: 'El libro' } });
  }

  it('reads the TTS credentials the guide’s troubleshooting SQL writes into projects.settings', async () => {
    const project = await createProject();
    // Verbatim from the guide ("Failed to get Azure token"), with the placeholders filled in.
    await services.prisma.$executeRawUnsafe(`
      UPDATE projects
      SET settings = jsonb_set(
        COALESCE(settings, '{}'::jsonb),
        '{azure_tts_key}',
        '"YOUR_AZURE_KEY"'
      )
      WHERE id = '${project.id}'`);
    await services.prisma.$executeRawUnsafe(`
      UPDATE projects
      SET settings = jsonb_set(
        settings,
        '{azure_tts_region}',
        '"eastus"'
      )
      WHERE id = '${project.id}'`);

    const stored = await services.prisma.project.findUniqueOrThrow({ where: { id: project.id } });
    expect(stored.settings).toEqual({ azure_tts_key: 'YOUR_AZURE_KEY', azure_tts_region: 'eastus' });
  });

  it('fills an audio_cache row’s defaults and keeps sizes as 64-bit integers', async () => {
    const project = await createProject();
    const before = Date.now();
    const entry = await services.prisma.audioCache.create({
      data: {
        tenantId: project.tenantId,
        cacheKey: 'a'.repeat(64),
        text: 'Hola, este es un test del cache',
        voiceId: 'es-AR-ElenaNeural',
        audioBlobPath: `audio-cache/${project.tenantId}/${'a'.repeat(64)}.mp3`,
        audioFileSizeBytes: 5_000_000_000n,
      },
    });
    expect(entry.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(entry.hitCount).toBe(0);
    expect(entry.expiresAt).toBeNull();
    expect(entry.createdAt.getTime()).toBeGreaterThanOrEqual(before - 5_000);
    expect(entry.lastAccessedAt.getTime()).toBe(entry.createdAt.getTime());
    expect(entry.audioFileSizeBytes).toBe(5_000_000_000n);
  });

  it('refuses a second row with the same cache_key (ix_audio_cache_cache_key is unique)', async () => {
    const project = await createProject();
    const row = {
      tenantId: project.tenantId,
      cacheKey: 'b'.repeat(64),
      text: 'x',
      voiceId: 'es-AR-ElenaNeural',
      audioBlobPath: 'audio-cache/x.mp3',
    };
    await services.prisma.audioCache.create({ data: row });
    const error = await services.prisma.audioCache.create({ data: row }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    expect((error as Prisma.PrismaClientKnownRequestError).code).toBe('P2002');
  });

  it('close() ends the pool, also when every statement went straight through it (Prisma never loaded)', async () => {
    const db = testDb(services.database.url);
    await db.pool.query('SELECT 1');
    await db.close();
    expect(db.prismaLoaded).toBe(false);
    expect(db.pool.ending).toBe(true);
    expect(db.pool.totalCount).toBe(0);
  });

  it('loads Prisma’s client at its first statement, over the same pool, and close() ends both', async () => {
    const db = testDb(services.database.url, { maxConnections: 1 });
    expect(db.prismaLoaded).toBe(false);
    // A statement through Prisma, with a fragment built by sql (the same Sql class the client's runtime knows).
    const rows = await db.$queryRaw<{ one: number }[]>`SELECT ${sql`1`}::int AS one`;
    expect(rows).toEqual([{ one: 1 }]);
    expect(db.prismaLoaded).toBe(true);
    expect(await db.client()).toBe(await db.client()); // one client
    // One pool: its one connection is the one Prisma's statement used.
    expect(db.pool.totalCount).toBe(1);
    expect(await db.$transaction(async (tx) => tx.$executeRaw`SELECT 1`)).toBe(1);
    expect(db.pool.totalCount).toBe(1);
    const held = await db.client();
    await db.close();
    expect(db.pool.ending).toBe(true);
    expect(db.pool.totalCount).toBe(0);
    await expect(db.client()).rejects.toThrow(/closed/);
    // A client still held after close() does not open a pool of its own (without the app's retry, guard and budget).
    await expect(held.$queryRaw`SELECT 1`).rejects.toThrow(/pool after calling end/);
  });
});
