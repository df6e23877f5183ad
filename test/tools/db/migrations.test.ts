import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseAuditionBody } from '../../../src/handlers/audition-request.ts';
import { PrismaAudioCacheIndex } from '../../../src/adapters/postgres/prisma-audio-cache-index.ts';
import { testDb } from '../../support/required-deps.ts';
import { applyMigrations, MIGRATIONS_DIR, SCHEMA_PATH } from '../../../tools/db/migrations.ts';
import { withSchemaEngine } from '../../../tools/db/schema-engine.ts';
import { withPgClient } from '../../../tools/local-services/postgres-server.ts';
import { auditionKeyOf } from '../../support/cache-keys.ts';
import { KHIPU_HEAD_SCHEMA } from '../../support/khipu-database.ts';
import { snapshotSchema } from '../../support/schema-snapshot.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { voiceSettingsOf } from '../../../src/domain/audition.ts';

/** The engine the deployed service caches under (part of every key and of voice_settings). */
const AZURE_ENGINE = { provider: 'azure', outputFormat: 'audio-24khz-48kbitrate-mono-mp3' };

const INIT = '20261123000000_init';
const USAGE = '20261124000000_usage';
const OWNERSHIP = '20261201000000_audition_entries';
const BUDGET = '20261202000000_default_key_budget';
const PREDICTIVE = '20261205000000_predictive_prewarm';
const PROJECT_STORAGE = '20261206000000_project_storage';
const LEASES = '20261207000000_leases';
const LEASES_UNLOGGED = '20261208000000_leases_unlogged';
const LEASE_RELEASED = '20261209000000_lease_released';
const ALL = [INIT, USAGE, OWNERSHIP, BUDGET, PREDICTIVE, PROJECT_STORAGE, LEASES, LEASES_UNLOGGED, LEASE_RELEASED];
/** The tables our migrations add beside any Khipu database. */
const OURS = [
  '_prisma_migrations',
  'audio_cache_usage',
  'audio_cache_auditions',
  'audio_cache_default_key_usage',
  'audio_cache_predictive_runs',
  'audio_cache_blob_stores',
  'audio_cache_leases',
];

// The deployment guide's Step 4 `\d audio_cache`, with CURRENT_TIMESTAMP as Prisma spells now().
const GUIDE_AUDIO_CACHE = {
  columns: [
    { name: 'id', type: 'uuid', nullable: false, default: 'gen_random_uuid()' },
    { name: 'tenant_id', type: 'uuid', nullable: false, default: null },
    { name: 'cache_key', type: 'character varying(255)', nullable: false, default: null },
    { name: 'text', type: 'text', nullable: false, default: null },
    { name: 'ssml', type: 'text', nullable: true, default: null },
    { name: 'voice_id', type: 'character varying(255)', nullable: false, default: null },
    { name: 'voice_settings', type: 'jsonb', nullable: true, default: null },
    { name: 'audio_blob_path', type: 'text', nullable: false, default: null },
    { name: 'audio_url', type: 'text', nullable: true, default: null },
    { name: 'audio_duration_seconds', type: 'double precision', nullable: true, default: null },
    { name: 'audio_file_size_bytes', type: 'bigint', nullable: true, default: null },
    { name: 'hit_count', type: 'integer', nullable: false, default: '0' },
    { name: 'last_accessed_at', type: 'timestamp with time zone', nullable: false, default: 'CURRENT_TIMESTAMP' },
    { name: 'created_at', type: 'timestamp with time zone', nullable: false, default: 'CURRENT_TIMESTAMP' },
    { name: 'expires_at', type: 'timestamp with time zone', nullable: true, default: null },
  ],
  indexes: [
    'CREATE UNIQUE INDEX audio_cache_pkey ON public.audio_cache USING btree (id)',
    'CREATE INDEX ix_audio_cache_expires_at ON public.audio_cache USING btree (expires_at)',
    'CREATE INDEX ix_audio_cache_last_accessed_at ON public.audio_cache USING btree (last_accessed_at)',
    'CREATE INDEX ix_audio_cache_tenant_id ON public.audio_cache USING btree (tenant_id)',
    'CREATE UNIQUE INDEX ix_audio_cache_cache_key ON public.audio_cache USING btree (cache_key)',
  ].sort(),
  constraints: ['audio_cache_pkey PRIMARY KEY (id)'],
};

let databases: TestDatabase[] = [];
async function emptyDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase('empty');
  databases.push(db);
  return db;
}
afterEach(async () => {
  await Promise.all(databases.map((db) => db.drop()));
  databases = [];
});

const sortIndexes = (snapshot: Awaited<ReturnType<typeof snapshotSchema>>) => {
  for (const table of Object.values(snapshot)) table.indexes.sort();
  return snapshot;
};

describe('applyMigrations (npm run db:migrate)', () => {
  it('creates the guide’s audio_cache table and the three Khipu tables on an empty database', async () => {
    const db = await emptyDatabase();
    expect(await applyMigrations(db.url)).toEqual(ALL);

    const schema = sortIndexes(await withPgClient(db.url, (client) => snapshotSchema(client)));
    expect(Object.keys(schema).sort()).toEqual([
      '_prisma_migrations',
      'audio_cache',
      'audio_cache_auditions',
      'audio_cache_blob_stores',
      'audio_cache_default_key_usage',
      'audio_cache_leases',
      'audio_cache_predictive_runs',
      'audio_cache_usage',
      'projects',
      'tenants',
      'users',
    ]);
    expect(schema.audio_cache).toEqual(GUIDE_AUDIO_CACHE);
    expect(schema.projects!.columns.find((c) => c.name === 'settings')?.type).toBe('jsonb');
    expect(schema.users!.columns.find((c) => c.name === 'role')).toMatchObject({
      type: 'text',
      default: "'creator'::text",
    });
    // Leases are coordination, not data: unlogged (no WAL flush per commit); every other table is logged.
    const unlogged = await withPgClient(db.url, async (client) => {
      const { rows } = await client.query<{ relname: string }>(
        `SELECT relname FROM pg_class WHERE relkind = 'r' AND relpersistence = 'u' AND relnamespace = 'public'::regnamespace`,
      );
      return rows.map((row) => row.relname);
    });
    expect(unlogged).toEqual(['audio_cache_leases']);
  });

  it('leaves a Khipu row needing only ids, names, email, title and owners', async () => {
    const db = await emptyDatabase();
    await applyMigrations(db.url);
    await withPgClient(db.url, async (client) => {
      const {
        rows: [tenant],
      } = await client.query(`INSERT INTO tenants (name, subdomain) VALUES ('Acme', 'acme') RETURNING *`);
      const {
        rows: [user],
      } = await client.query(`INSERT INTO users (tenant_id, email) VALUES ($1, 'a@acme.test') RETURNING *`, [
        tenant.id,
      ]);
      const {
        rows: [project],
      } = await client.query(`INSERT INTO projects (tenant_id, owner_id, title) VALUES ($1, $2, 'Book') RETURNING *`, [
        tenant.id,
        user.id,
      ]);
      expect(tenant).toMatchObject({ is_active: true });
      expect(user).toMatchObject({ role: 'creator', is_active: true });
      expect(project).toMatchObject({ settings: null });
    });
  });

  it('records the migrations in _prisma_migrations exactly as prisma migrate deploy does', async () => {
    const db = await emptyDatabase();
    await applyMigrations(db.url);
    const { rows } = await withPgClient(db.url, (client) =>
      client.query('SELECT * FROM _prisma_migrations ORDER BY migration_name'),
    );
    expect(rows).toHaveLength(ALL.length);
    for (const [i, name] of ALL.entries()) {
      const sql = await readFile(path.join(MIGRATIONS_DIR, name, 'migration.sql'));
      expect(rows[i]).toMatchObject({
        migration_name: name,
        checksum: createHash('sha256').update(sql).digest('hex'),
        applied_steps_count: 1,
        logs: null,
        rolled_back_at: null,
      });
      expect(rows[i].finished_at).toBeInstanceOf(Date);
    }
  });

  it('changes nothing when run a second time', async () => {
    const db = await emptyDatabase();
    await applyMigrations(db.url);
    const read = () =>
      withPgClient(db.url, async (client) => ({
        schema: await snapshotSchema(client),
        history: (await client.query('SELECT * FROM _prisma_migrations ORDER BY migration_name')).rows,
      }));
    const before = await read();
    expect(await applyMigrations(db.url)).toEqual([]);
    expect(await read()).toEqual(before);
  });

  it('leaves existing Khipu tables (and an Alembic-made audio_cache) untouched in a shared database', async () => {
    const db = await emptyDatabase();
    await withPgClient(db.url, (client) => client.query(KHIPU_CLOUD_API_TABLES + ALEMBIC_AUDIO_CACHE));
    const before = await withPgClient(db.url, (client) => snapshotSchema(client));

    expect(await applyMigrations(db.url)).toEqual(ALL);

    // Theirs untouched; ours (the usage and ownership tables) added beside them.
    const {
      audio_cache_usage: usage,
      audio_cache_auditions: ownership,
      audio_cache_default_key_usage: budget,
      audio_cache_predictive_runs: runs,
      audio_cache_blob_stores: stores,
      audio_cache_leases: leases,
      ...after
    } = await withPgClient(db.url, (client) => snapshotSchema(client, { exclude: ['_prisma_migrations'] }));
    expect(after).toEqual(before);
    expect(usage).toBeDefined();
    expect(ownership).toBeDefined();
    expect(budget).toBeDefined();
    expect(runs).toBeDefined();
    expect(stores).toBeDefined();
    expect(leases).toBeDefined();
    // Baselined as `prisma migrate resolve --applied` records it, so deploy carries on from here.
    const { rows } = await withPgClient(db.url, (client) =>
      client.query(
        'SELECT migration_name, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY migration_name',
      ),
    );
    expect(rows).toEqual(
      ALL.map((name) => ({ migration_name: name, finished_at: expect.any(Date), rolled_back_at: null })),
    );
    expect(await applyMigrations(db.url)).toEqual([]);
  });

  it('adds only the cache’s tables to a Khipu database that has no cache yet', async () => {
    const db = await emptyDatabase();
    await withPgClient(db.url, (client) => client.query(KHIPU_CLOUD_API_TABLES));
    const before = await withPgClient(db.url, (client) => snapshotSchema(client));

    expect(await applyMigrations(db.url)).toEqual(ALL);

    const after = sortIndexes(
      await withPgClient(db.url, (client) => snapshotSchema(client, { exclude: ['_prisma_migrations'] })),
    );
    const {
      audio_cache: audioCache,
      audio_cache_usage: usage,
      audio_cache_auditions: ownership,
      audio_cache_default_key_usage: budget,
      audio_cache_predictive_runs: runs,
      audio_cache_blob_stores: stores,
      audio_cache_leases: leases,
      ...khipuTables
    } = after;
    expect(usage).toBeDefined();
    expect(ownership).toBeDefined();
    expect(budget).toBeDefined();
    expect(runs).toBeDefined();
    expect(stores).toBeDefined();
    expect(leases).toBeDefined();
    expect(khipuTables).toEqual(before);
    expect(audioCache).toEqual(GUIDE_AUDIO_CACHE);
  });

  it('baselines onto the Khipu Cloud API’s database at its head: no table of theirs changes, no row of theirs is claimed', async () => {
    const db = await emptyDatabase();
    const tenant = '0b9f4a5e-7c1d-4e2a-9f00-1a2b3c4d5e6f';
    // Rows this service wrote before it noted its own (as it stored them then), and the API's own.
    const written = [
      { voice: 'es-PE-CamilaNeural', text: 'Dijo "¡hola!" — ñandú \\ fin <ok> & más' },
      {
        voice: 'es-AR-ElenaNeural',
        text: 'Otra línea',
        style: 'cheerful',
        styledegree: 0.8,
        rate_pct: -10,
        pitch_pct: 5,
      },
    ].map((body) => {
      const audition = parseAuditionBody(body);
      return {
        audition,
        cacheKey: auditionKeyOf(tenant, audition),
        settings: voiceSettingsOf(audition, AZURE_ENGINE),
      };
    });
    await withPgClient(db.url, async (client) => {
      await client.query(KHIPU_HEAD_SCHEMA);
      await client.query(`INSERT INTO tenants (id, name, subdomain, plan) VALUES ($1, 'Acme', 'acme', 'pro')`, [
        tenant,
      ]);
      const insert = (key: string, text: string, voice: string, settings: object) =>
        client.query(
          `INSERT INTO audio_cache (tenant_id, cache_key, text, voice_id, voice_settings, audio_blob_path, hit_count)
           VALUES ($1, $2, $3, $4, $5, $6, 0)`,
          [tenant, key, text, voice, JSON.stringify(settings), `audio-cache/${tenant}/${key}.mp3`],
        );
      for (const row of written) await insert(row.cacheKey, row.audition.text, row.audition.voice, row.settings);
      // The API's narration, and a row that looks like ours but whose key is not ours.
      await insert('a'.repeat(64), 'Capítulo uno.', 'es-PE-CamilaNeural', { rate_pct: 0 });
      await insert('b'.repeat(64), 'Otra línea', 'es-AR-ElenaNeural', written[1]!.settings);
    });
    const before = await withPgClient(db.url, (client) => snapshotSchema(client));

    expect(await applyMigrations(db.url)).toEqual(ALL);

    const after = await withPgClient(db.url, (client) => snapshotSchema(client, { exclude: OURS }));
    expect(after).toEqual(before);
    const { rows } = await withPgClient(db.url, (client) =>
      client.query('SELECT cache_key FROM audio_cache_auditions ORDER BY cache_key'),
    );
    expect(rows.map((r) => r.cache_key)).toEqual(written.map((w) => w.cacheKey).sort());
    expect(await applyMigrations(db.url)).toEqual([]);
  });

  it.each(['migrated', 'khipu'] as const)(
    'recognises as ours every row the index adapter writes (%s database), from its key alone',
    async (kind) => {
      const db = await createTestDatabase(kind);
      databases.push(db);
      const database = testDb(db.url);
      try {
        const index = new PrismaAudioCacheIndex(database);
        const tenantId = '5d6c7b8a-0000-4000-8000-000000000001';
        await withPgClient(db.url, (client) =>
          client.query(
            `INSERT INTO tenants (id, name, subdomain${kind === 'khipu' ? ', plan' : ''}) VALUES ($1, 'T', 't'${kind === 'khipu' ? ", 'pro'" : ''})`,
            [tenantId],
          ),
        );
        const keys = [];
        for (const body of [
          { voice: 'es-PE-CamilaNeural', text: 'Una línea con "comillas", \\ y <marcas> & más' },
          {
            voice: 'en-US-AvaNeural',
            text: 'Styled',
            style: 'excited',
            styledegree: 1.7,
            rate_pct: 12.5,
            pitch_pct: -3,
          },
          { voice: 'zh-CN-XiaoxiaoNeural', text: '你好，世界 🎧', rate_pct: -0.1 },
        ]) {
          const audition = parseAuditionBody(body);
          const cacheKey = auditionKeyOf(tenantId, audition);
          keys.push(cacheKey);
          await index.insert({
            tenantId,
            cacheKey,
            text: audition.text,
            ssml: '<speak/>',
            voiceId: audition.voice,
            voiceSettings: voiceSettingsOf(audition, AZURE_ENGINE),
            audioBlobPath: `audio-cache/${tenantId}/${cacheKey}.mp3`,
            audioUrl: 'u',
            audioDurationSeconds: 1,
            audioFileSizeBytes: 1,
            createdAt: new Date('2026-11-01T00:00:00Z'),
            expiresAt: new Date('2026-12-01T00:00:00Z'),
          });
        }
        const noted = () =>
          withPgClient(db.url, (client) => client.query('SELECT cache_key FROM audio_cache_auditions ORDER BY 1')).then(
            (r) => r.rows.map((row) => row.cache_key),
          );
        expect(await noted()).toEqual([...keys].sort());
        // As if they had been written before the notes existed: the migration's own SQL finds them again.
        const sql = await readFile(path.join(MIGRATIONS_DIR, OWNERSHIP, 'migration.sql'), 'utf8');
        await withPgClient(db.url, async (client) => {
          await client.query('DELETE FROM audio_cache_auditions');
          await client.query(sql);
        });
        expect(await noted()).toEqual([...keys].sort());
      } finally {
        await database.close();
      }
    },
  );

  it('builds the same schema that schema.prisma describes (no drift for prisma migrate dev)', async () => {
    // Prisma's own SQL for schema.prisma, from the engine's `diff` (empty → datamodel).
    const fromMigrations = await emptyDatabase();
    const fromPrisma = await emptyDatabase();
    await applyMigrations(fromMigrations.url);
    const schema = { path: SCHEMA_PATH, content: await readFile(SCHEMA_PATH, 'utf8') };
    const { stdout } = (await withSchemaEngine(fromPrisma.url, schema, (engine) =>
      engine.diff({
        from: { tag: 'empty' },
        to: { tag: 'schemaDatamodel', files: [schema] },
        script: true,
        exitCode: null,
        filters: { externalTables: [], externalEnums: [] },
      }),
    )) as { stdout: string };
    await withPgClient(fromPrisma.url, (client) => client.query(stdout));

    const snapshot = (url: string) =>
      withPgClient(url, (client) => snapshotSchema(client, { exclude: ['_prisma_migrations'] })).then(sortIndexes);
    expect(await snapshot(fromMigrations.url)).toEqual(await snapshot(fromPrisma.url));
  });
});

// The Khipu Cloud API's own tables, shaped unlike ours (more columns, other index names).
const KHIPU_CLOUD_API_TABLES = `
  CREATE TABLE tenants (
    id uuid PRIMARY KEY, name varchar(255) NOT NULL, subdomain varchar(100) NOT NULL,
    is_active boolean DEFAULT true, settings json, created_at timestamptz DEFAULT now());
  CREATE UNIQUE INDEX ix_tenants_subdomain ON tenants (subdomain);
  CREATE TABLE users (
    id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants(id), email varchar(255) NOT NULL,
    hashed_password varchar(255) NOT NULL, role varchar(50) DEFAULT 'creator', is_active boolean DEFAULT true);
  CREATE INDEX ix_users_email ON users (email);
  CREATE TABLE projects (
    id uuid PRIMARY KEY, tenant_id uuid NOT NULL REFERENCES tenants(id), owner_id uuid REFERENCES users(id),
    title varchar(500) NOT NULL, settings jsonb, status varchar(50) DEFAULT 'draft');
`;

// audio_cache as the API's Alembic migration writes it (the guide's now() defaults).
const ALEMBIC_AUDIO_CACHE = `
  CREATE TABLE audio_cache (
    id uuid NOT NULL DEFAULT gen_random_uuid(), tenant_id uuid NOT NULL, cache_key varchar(255) NOT NULL,
    text text NOT NULL, ssml text, voice_id varchar(255) NOT NULL, voice_settings jsonb,
    audio_blob_path text NOT NULL, audio_url text, audio_duration_seconds double precision,
    audio_file_size_bytes bigint, hit_count integer NOT NULL DEFAULT 0,
    last_accessed_at timestamptz NOT NULL DEFAULT now(), created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz, CONSTRAINT audio_cache_pkey PRIMARY KEY (id));
  CREATE UNIQUE INDEX ix_audio_cache_cache_key ON audio_cache (cache_key);
  CREATE INDEX ix_audio_cache_expires_at ON audio_cache (expires_at);
  CREATE INDEX ix_audio_cache_last_accessed_at ON audio_cache (last_accessed_at);
  CREATE INDEX ix_audio_cache_tenant_id ON audio_cache (tenant_id);
`;
