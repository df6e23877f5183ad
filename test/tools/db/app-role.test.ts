import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PrismaPredictiveRuns } from '../../../src/adapters/postgres/prisma-predictive-runs.ts';
import { createServices, type BuiltServices } from '../../../src/app/services.ts';
import { parseConfig } from '../../../src/config.ts';
import { createAuditionHandler } from '../../../src/handlers/audition-handler.ts';
import { createPurgeHandler } from '../../../src/handlers/purge-handler.ts';
import { createStatsHandler } from '../../../src/handlers/stats-handler.ts';
import {
  APP_ROLE_GRANTS,
  appRoleProblem,
  applyAppRole,
  privilegesOf,
  scramSha256Verifier,
  type AppRoleGrants,
} from '../../../tools/db/app-role.ts';
import { quoteIdentifier, withPgClient } from '../../../tools/local-services/postgres-server.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../../support/accounts.ts';
import { noteProjectStore, seedEntry } from '../../support/cache-entries.ts';
import { invokeHttp } from '../../support/invoke-http.ts';
import { DATABASE_SHAPES, KHIPU_HEAD_SCHEMA, type DatabaseShape } from '../../support/khipu-database.ts';
import { root } from '../../support/repo.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { testSettings } from '../../support/test-services.ts';
import { DAY, HOUR, T0 } from '../../support/time.ts';

// The role the deployed app connects as (tools/db/app-role.ts), applied as Azure's admin is: not a
// superuser, but CREATEROLE and owner of the database and its tables. Then the app's own adapters
// and handlers run as the role, and every privilege the role was not given is tried and refused.

const run = promisify(execFile);
const PASSWORD = () => `Pw-${randomBytes(18).toString('base64url')}`;
const INSUFFICIENT_PRIVILEGE = '42501';
const WRONG_PASSWORD = '28P01';

/** A connection URL of the test run's server for this database, as this login. */
function urlAs(database: string, login: string, password: string): string {
  const url = new URL(inject('postgresUrlTemplate').replace('__database__', database));
  url.username = login;
  url.password = password;
  return url.toString();
}

/** The superuser's URL for this database (the test's own hand, never the app's). */
const superUrl = (database: string) => inject('postgresUrlTemplate').replace('__database__', database);

async function sql(url: string, text: string, values: unknown[] = []) {
  return withPgClient(url, (client) => client.query(text, values));
}

/** What `text` does when run as `url`'s login: `ok`, or the error's SQLSTATE and message. */
async function attempt(url: string, text: string): Promise<string> {
  return withPgClient(url, (client) => client.query(text)).then(
    () => 'ok',
    (error: { code?: string; message: string }) => `${error.code}: ${error.message}`,
  );
}

/** Runs `text` as `url`'s login in a transaction that is rolled back: whether it would have worked. */
async function wouldWork(url: string, text: string): Promise<string> {
  return withPgClient(url, async (client) => {
    await client.query('BEGIN');
    try {
      await client.query(text);
      return 'ok';
    } catch (error) {
      return `${(error as { code?: string }).code}: ${(error as Error).message}`;
    } finally {
      await client.query('ROLLBACK');
    }
  });
}

interface Setup {
  database: TestDatabase;
  admin: { login: string; password: string; url: string };
  app: { login: string; password: string; url: string };
}

/** A database of this shape owned by a fresh Azure-like admin, and a name for the app role (not created yet). */
async function setUp(shape: DatabaseShape): Promise<Setup> {
  const database = await createTestDatabase(shape === 'khipu' ? 'khipu' : 'migrated');
  const tag = randomBytes(4).toString('hex');
  const admin = { login: `${inject('databasePrefix')}_adm_${tag}`, password: PASSWORD() };
  const app = { login: `${inject('databasePrefix')}_app_${tag}`, password: PASSWORD() };
  await withPgClient(superUrl(database.name), async (client) => {
    await client.query(
      `CREATE ROLE ${quoteIdentifier(admin.login)} LOGIN CREATEROLE PASSWORD '${scramSha256Verifier(admin.password)}'`,
    );
    await client.query(`ALTER DATABASE ${quoteIdentifier(database.name)} OWNER TO ${quoteIdentifier(admin.login)}`);
    const { rows } = await client.query<{ name: string }>(
      `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()`,
    );
    for (const { name } of rows)
      await client.query(`ALTER TABLE ${quoteIdentifier(name)} OWNER TO ${quoteIdentifier(admin.login)}`);
  });
  return {
    database,
    admin: { ...admin, url: urlAs(database.name, admin.login, admin.password) },
    app: { ...app, url: urlAs(database.name, app.login, app.password) },
  };
}

async function tearDown(setup: Setup | undefined): Promise<void> {
  if (!setup) return;
  await setup.database.drop();
  await withPgClient(inject('postgresAdminUrl'), async (client) => {
    for (const login of [setup.app.login, `${setup.app.login}_x`, setup.admin.login])
      await client.query(`DROP ROLE IF EXISTS ${quoteIdentifier(login)}`);
  });
}

/** Every grant the app role holds afterwards on a database of this shape: APP_ROLE_GRANTS, spelled out. */
function expectedGrants(shape: DatabaseShape): string[] {
  const tables = Object.entries(APP_ROLE_GRANTS.tables).flatMap(([table, privileges]) =>
    privileges.map((p) => `${table}: ${p}`),
  );
  const columns = Object.entries(APP_ROLE_GRANTS.readColumns)
    .filter(([table]) => shape === 'khipu' || table !== 'audio_segment_metadata')
    .flatMap(([table, names]) => names.map((column) => `${table}.${column}: SELECT`));
  return [...tables, ...columns].sort();
}

describe('the app role’s grants (APP_ROLE_GRANTS)', () => {
  it('are exactly these: DML on our tables (no DELETE where nothing deletes), SELECT on the Khipu columns read', () => {
    expect(APP_ROLE_GRANTS).toEqual({
      tables: {
        audio_cache: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
        audio_cache_auditions: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
        audio_cache_usage: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
        audio_cache_default_key_usage: ['SELECT', 'INSERT', 'UPDATE'],
        audio_cache_predictive_runs: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
        audio_cache_blob_stores: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
        audio_cache_leases: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
      },
      readColumns: {
        tenants: ['id', 'is_active'],
        users: ['id', 'tenant_id', 'role', 'is_active'],
        projects: ['id', 'tenant_id', 'settings'],
        audio_segment_metadata: ['raw_audio_cache_key'],
      },
      optional: ['audio_segment_metadata'],
    });
  });

  it('name every table our migrations create but _prisma_migrations, and every table src/adapters/postgres names', async () => {
    const database = await createTestDatabase('khipu');
    try {
      const { rows } = await sql(
        superUrl(database.name),
        `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`,
      );
      const tables = new Set(rows.map((row: { name: string }) => row.name));
      const named = new Set([...Object.keys(APP_ROLE_GRANTS.tables), ...Object.keys(APP_ROLE_GRANTS.readColumns)]);
      // Ours: what the migrations add beside the Khipu database (its tables are the head schema's).
      const khipu = new Set([...KHIPU_HEAD_SCHEMA.matchAll(/CREATE TABLE (\w+)/g)].map((m) => m[1]!));
      const ours = [...tables].filter((t) => !khipu.has(t) && t !== '_prisma_migrations');
      expect(ours.length).toBeGreaterThanOrEqual(5);
      expect(ours.filter((t) => !(t in APP_ROLE_GRANTS.tables))).toEqual([]);
      // Every table a query of the adapters reads or writes (CTE names and aliases are not tables).
      const dir = path.join(root, 'src/adapters/postgres');
      const text = readdirSync(dir)
        .map((file) => readFileSync(path.join(dir, file), 'utf8'))
        .join('\n');
      const used = new Set(
        [...text.matchAll(/\b(?:FROM|JOIN|INTO|UPDATE)\s+(\w+)/g)].map((m) => m[1]!).filter((t) => tables.has(t)),
      );
      for (const model of text.matchAll(/this\.prisma\.(user|project|tenant)\./g)) used.add(`${model[1]}s`);
      expect([...used].filter((t) => !named.has(t))).toEqual([]);
      expect(used.size).toBeGreaterThanOrEqual(8);
    } finally {
      await database.drop();
    }
  });

  it('refuse a login that is not a plain identifier and a password the verifier cannot be computed for', () => {
    expect(appRoleProblem({ login: 'khipu_audition_cache', password: 'x'.repeat(16) })).toBeUndefined();
    expect(appRoleProblem({ login: 'app"; DROP ROLE khipuadmin; --', password: 'x'.repeat(16) })).toMatch(
      /POSTGRES_APP_LOGIN/,
    );
    expect(appRoleProblem({ login: 'App', password: 'x'.repeat(16) })).toMatch(/POSTGRES_APP_LOGIN/);
    expect(appRoleProblem({ login: 'app', password: 'short' })).toMatch(/POSTGRES_APP_PASSWORD/);
    expect(appRoleProblem({ login: 'app', password: 'contraseña-larga-ñññ' })).toMatch(/printable ASCII/);
    expect(appRoleProblem({ login: 'app', password: 'with a space in it!' })).toMatch(/POSTGRES_APP_PASSWORD/);
  });
});

describe.each(DATABASE_SHAPES)('the app role on a database of shape %s', (shape) => {
  let setup: Setup;
  beforeAll(async () => {
    setup = await setUp(shape);
    const applied = await applyAppRole(setup.admin.url, setup.app);
    expect(applied.created).toBe(true);
  });
  afterAll(() => tearDown(setup));

  it('holds exactly APP_ROLE_GRANTS, owns nothing, has no attribute but LOGIN and is member of no role', async () => {
    const facts = await withPgClient(superUrl(setup.database.name), async (client) => {
      const roles = await client.query(
        `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit, rolcanlogin,
                (SELECT count(*)::int FROM pg_auth_members WHERE member = r.oid) AS memberships,
                (SELECT count(*)::int FROM pg_class WHERE relowner = r.oid) AS owned
           FROM pg_roles AS r WHERE rolname = $1`,
        [setup.app.login],
      );
      return { role: roles.rows[0], grants: await privilegesOf(client, setup.app.login) };
    });
    expect(facts.role).toEqual({
      rolsuper: false,
      rolcreatedb: false,
      rolcreaterole: false,
      rolreplication: false,
      rolbypassrls: false,
      rolinherit: false,
      rolcanlogin: true,
      memberships: 0,
      owned: 0,
    });
    expect(facts.grants).toEqual(expectedGrants(shape));
  });

  it('stores the password as a SCRAM verifier: the role logs in with it, and with nothing else', async () => {
    expect(await attempt(setup.app.url, 'SELECT 1')).toBe('ok');
    expect(await attempt(urlAs(setup.database.name, setup.app.login, `${setup.app.password}x`), 'SELECT 1')).toMatch(
      new RegExp(`^${WRONG_PASSWORD}: password authentication failed`),
    );
    const { rows } = await sql(superUrl(setup.database.name), 'SELECT rolpassword FROM pg_authid WHERE rolname = $1', [
      setup.app.login,
    ]);
    expect(rows[0].rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
  });

  describe('the app connected as the role: its handlers and every adapter of src/adapters/postgres', () => {
    let standIn: SpeechStandIn;
    let app: BuiltServices;
    let admin: BuiltServices;
    let clock = T0;
    let owner: TestAccount;
    let keyless: TestAccount;
    const logged: string[] = [];
    const log = {
      info: (...args: unknown[]) => logged.push(`info: ${args.join(' ')}`),
      warn: (...args: unknown[]) => logged.push(`warn: ${args.join(' ')}`),
      error: (...args: unknown[]) => logged.push(`error: ${args.join(' ')}`),
    };

    beforeAll(async () => {
      standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
      const settings = testSettings(setup.app.url, {
        AZURE_SPEECH_HOST: standIn.host,
        AZURE_SPEECH_KEY: 'operator-key',
        AZURE_SPEECH_REGION: 'eastus',
        MEMORY_CACHE_MB: '0', // every hit is read through the index
        CACHE_MAX_ENTRIES_PER_TENANT: '1',
      });
      app = createServices(parseConfig(settings), { now: () => clock, log });
      // The test's own hand (seeding accounts, reading what the app wrote): the admin, same container.
      admin = createServices(parseConfig({ ...settings, DATABASE_URL: setup.admin.url }), { now: () => clock });
      owner = await createTestAccount(await admin.db.client(), app.config.jwt.secretKey, { role: 'admin' });
      keyless = await createTestAccount(await admin.db.client(), app.config.jwt.secretKey, { ttsKey: null });
    });
    afterAll(async () => {
      await app?.close();
      await admin?.close();
      await standIn?.stop();
    });

    const token = (who: TestAccount) => who.token({}, { expiresIn: '3650d' }); // valid on the injected clock
    const ofOwner = async () =>
      (
        await (
          await admin.db.client()
        ).$queryRaw<{ text: string; hits: number }[]>`
          SELECT c.text, c.hit_count AS hits FROM audio_cache AS c JOIN audio_cache_auditions AS o USING (cache_key)
           WHERE o.tenant_id = ${owner.tenantId}::uuid ORDER BY c.text`
      ).map((row) => `${row.text}: ${row.hits}`);

    async function audition(who: TestAccount, text: string) {
      const { response } = await invokeHttp(
        createAuditionHandler(() => app),
        {
          url: `http://localhost/api/v1/projects/${who.projectId}/characters/audition`,
          headers: { authorization: `Bearer ${await token(who)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
          params: { projectId: who.projectId },
        },
      );
      await response.arrayBuffer();
      await app.auditions.drain();
      return `${response.status} ${response.headers.get('x-cache-status')}`;
    }

    it('authorizes, misses, stores, hits, counts and spends the default key’s budget', async () => {
      expect(await audition(owner, 'uno')).toBe('200 MISS');
      expect(await audition(owner, 'uno')).toBe('200 HIT-L2');
      expect(await audition(owner, 'dos')).toBe('200 MISS');
      expect(await audition(keyless, 'tres')).toBe('200 MISS'); // the operator's key: a reservation
      await app.hits.flush();
      expect(await ofOwner()).toEqual(['dos: 0', 'uno: 1']);
      const [usage] = await (
        await admin.db.client()
      ).$queryRaw<{ hits: bigint; misses: bigint }[]>`
        SELECT sum(hits) AS hits, sum(misses) AS misses FROM audio_cache_usage WHERE tenant_id = ${owner.tenantId}::uuid`;
      expect(usage).toEqual({ hits: 1n, misses: 2n });
      const day = T0.toISOString().slice(0, 10);
      expect(await app.speechBudget.used(keyless.tenantId, day)).toBe(4);
      await app.speechBudget.release(keyless.tenantId, day, 1);
      expect(await app.speechBudget.used(keyless.tenantId, day)).toBe(3);
    });

    it('answers the stats endpoint and the cleanup’s per-tenant figures', async () => {
      const { response } = await invokeHttp(
        createStatsHandler(() => app),
        {
          method: 'GET',
          url: 'http://localhost/api/v1/audio-cache/stats',
          headers: { authorization: `Bearer ${await token(owner)}` },
        },
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ entries: 2, totalHits: 1, projectStores: [] });
      await expect(
        app.statsReader.predictiveByTenant({ now: clock, pricePerMillionChars: 16, limit: 10 }),
      ).resolves.toEqual([]);
    });

    it('finds a project’s own storage account, claims predictive runs, and keeps the project accounts’ registry', async () => {
      const storage = { accountName: 'acmebooks', accessKey: 'a2V5', containerName: 'audios' };
      const storeId = 'https://acmebooks.blob.core.windows.net/audios';
      const projectId = await createTestProject(await admin.db.client(), owner, {
        creds: { storage: { azure: storage } },
      });
      await expect(app.accounts.findStorage(owner.tenantId, storeId, projectId)).resolves.toMatchObject({ storeId });

      const runs = new PrismaPredictiveRuns(app.db);
      const run = { tenantId: owner.tenantId, language: 'es', lineVersion: 'v1' };
      expect(await runs.claim(run, clock, 30 * DAY, DAY)).toBe(true);
      expect(await runs.claim(run, clock, 30 * DAY, DAY)).toBe(false);
      await runs.finish(run, clock);

      // An expired entry of ours in that account, as the index notes it: selected, deleted, then the store forgotten.
      const { cacheKey } = await seedEntry(admin, owner.tenantId, {
        blob: false,
        expiresAt: new Date(T0.getTime() - DAY),
      });
      await noteProjectStore(await admin.db.client(), owner.tenantId, cacheKey, { storeId, projectId }, T0);
      expect(await app.maintenance.registeredStores()).toEqual([
        { tenantId: owner.tenantId, storeId, projectId, entries: 1 },
      ]);
      const selected = await app.maintenance.selectInProjectStores({ kind: 'expired', now: clock }, 10, {
        stores: [],
        entries: [],
      });
      expect(selected.map((entry) => entry.cacheKey)).toEqual([cacheKey]);
      expect(await app.maintenance.deleteEntries(selected.map((entry) => entry.id))).toBe(1);
      expect(await app.maintenance.forgetStoreIfEmpty(owner.tenantId, storeId)).toBe(true);
    });

    it('runs the cleanup pass: an expired entry replaced, expired ones and one over the cap deleted, an orphan swept', async () => {
      const key = () => randomBytes(32).toString('hex');
      const orphan = `audio-cache/${owner.tenantId}/${key()}.mp3`;
      await admin.blobStore.put(orphan, randomBytes(512), 'audio/mpeg');
      // The Khipu database: a blob of ours whose row is gone but which a book's segment still points at is kept.
      const pointedAt = key();
      if (shape === 'khipu') {
        await admin.blobStore.put(`audio-cache/${owner.tenantId}/${pointedAt}.mp3`, randomBytes(512), 'audio/mpeg');
        await (
          await admin.db.client()
        ).$executeRaw`
          INSERT INTO audio_segment_metadata (id, project_id, chapter_id, segment_id, raw_audio_cache_key)
          VALUES (gen_random_uuid(), ${owner.projectId}::uuid, 'chapter-1', 'segment-1', ${pointedAt})`;
      }
      // A month on, and past the orphans' grace period by storage's clock (a blob's age is its Last-Modified).
      let uploaded = 0;
      for await (const blob of admin.blobStore.list(`audio-cache/${owner.tenantId}/`))
        uploaded = Math.max(uploaded, blob.lastModified.getTime());
      clock = new Date(Math.max(T0.getTime() + 31 * DAY, uploaded + 2 * HOUR));
      expect(await audition(owner, 'uno')).toBe('200 MISS'); // expired: synthesized again, the row replaced
      expect(await audition(owner, 'cuatro')).toBe('200 MISS');
      const report = await app.cleanup.run(log);
      expect(report).toMatchObject({ ran: true, expired: 2, evicted: 1, orphans: 1 }); // dos, tres; uno or cuatro
      expect((await ofOwner()).length).toBe(1);
      expect(
        await admin.blobStore.get(orphan).then(
          () => 'kept',
          () => 'gone',
        ),
      ).toBe('gone');
      if (shape === 'khipu') {
        const blob = await admin.blobStore.get(`audio-cache/${owner.tenantId}/${pointedAt}.mp3`);
        blob.stream.destroy();
      }
      expect(logged.filter((line) => /^(warn|error)|denied|42501/.test(line))).toEqual([]);
    });

    it('purges the tenant’s entries (purge handler), forgetting its predictive runs', async () => {
      const { response } = await invokeHttp(
        createPurgeHandler(() => app),
        {
          method: 'DELETE',
          url: 'http://localhost/api/v1/audio-cache',
          headers: { authorization: `Bearer ${await token(owner)}` },
        },
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ entriesDeleted: 1, blobsDeleted: 1, blobsFailed: 0 });
      expect(await ofOwner()).toEqual([]);
      const [runs] = await (
        await admin.db.client()
      ).$queryRaw<{ n: bigint }[]>`
        SELECT count(*) AS n FROM audio_cache_predictive_runs WHERE tenant_id = ${owner.tenantId}::uuid`;
      expect(runs?.n).toBe(0n);
    });
  });

  describe('refuses what it was not granted (each statement works as the admin, rolled back)', () => {
    const denied: [string, RegExp][] = [
      // Columns of the Khipu tables the app does not read, whole rows, and any write to them.
      ['SELECT email FROM users', /permission denied for table users/],
      ['SELECT * FROM users', /permission denied for table users/],
      ['SELECT name, subdomain FROM tenants', /permission denied for table tenants/],
      ['SELECT title, owner_id FROM projects', /permission denied for table projects/],
      ["UPDATE users SET role = 'admin'", /permission denied for table users/],
      ['UPDATE projects SET settings = NULL', /permission denied for table projects/],
      ['DELETE FROM tenants WHERE false', /permission denied for table tenants/],
      // Any other table.
      ['SELECT * FROM _prisma_migrations', /permission denied for table _prisma_migrations/],
      // Statements no code of ours makes on our own tables.
      ['DELETE FROM audio_cache_default_key_usage WHERE false', /permission denied for table audio_cache_default/],
      ['TRUNCATE audio_cache_usage', /permission denied for table audio_cache_usage/],
      // DDL.
      ['CREATE TABLE audio_cache_extra (id int)', /permission denied for schema public/],
      ['CREATE VIEW every_user AS SELECT 1 AS one', /permission denied for schema public/],
      ["CREATE FUNCTION one() RETURNS int LANGUAGE sql AS 'SELECT 1'", /permission denied for schema public/],
      ['ALTER TABLE audio_cache ADD COLUMN extra int', /must be owner of table audio_cache/],
      ['ALTER TABLE users ADD COLUMN extra int', /must be owner of table users/],
      ['DROP TABLE audio_cache_usage', /must be owner of table audio_cache_usage/],
      ['CREATE INDEX ON audio_cache (text)', /must be owner of table audio_cache/],
      ['CREATE SCHEMA extra', /permission denied for database/],
      // Roles.
      ['CREATE ROLE intruder LOGIN', /permission denied to create role/],
    ];
    const khipuOnly: [string, RegExp][] = [
      ['SELECT hashed_password FROM users', /permission denied for table users/],
      ['SELECT version_num FROM alembic_version', /permission denied for table alembic_version/],
      ['SELECT project_id, processing_chain FROM audio_segment_metadata', /permission denied for table audio_segment/],
    ];

    it.each(shape === 'khipu' ? [...denied, ...khipuOnly] : denied)('%s', async (statement, message) => {
      expect(await wouldWork(setup.admin.url, statement)).toBe('ok');
      const outcome = await attempt(setup.app.url, statement);
      expect(outcome.startsWith(`${INSUFFICIENT_PRIVILEGE}: `), outcome).toBe(true);
      expect(outcome).toMatch(message);
    });

    it('may not become the admin, nor give itself an attribute', async () => {
      expect(await wouldWork(setup.admin.url, `SET ROLE ${quoteIdentifier(setup.admin.login)}`)).toBe('ok');
      expect(await attempt(setup.app.url, `SET ROLE ${quoteIdentifier(setup.admin.login)}`)).toMatch(
        /^42501: permission denied to set role/,
      );
      expect(await attempt(setup.app.url, `ALTER ROLE ${quoteIdentifier(setup.app.login)} CREATEDB`)).toMatch(
        /^42501: permission denied to alter role/,
      );
    });
  });

  it('converges: again it changes nothing; a table added to the grants is granted, with its sequence, and taken back when removed; a grant made by hand is taken back', async () => {
    const grants = () => withPgClient(superUrl(setup.database.name), (c) => privilegesOf(c, setup.app.login));
    const before = await grants();
    expect((await applyAppRole(setup.admin.url, setup.app)).created).toBe(false);
    expect(await grants()).toEqual(before);

    // A later migration's table (made by the admin, as migrations are) and a grant made by hand.
    await sql(setup.admin.url, 'CREATE TABLE audio_cache_later (n serial PRIMARY KEY, note text)');
    await sql(setup.admin.url, `GRANT SELECT ON users TO ${quoteIdentifier(setup.app.login)}`);
    expect(await attempt(setup.app.url, 'SELECT email FROM users')).toBe('ok');
    const later: AppRoleGrants = {
      ...APP_ROLE_GRANTS,
      tables: { ...APP_ROLE_GRANTS.tables, audio_cache_later: ['SELECT', 'INSERT'] },
    };
    await applyAppRole(setup.admin.url, setup.app, later);
    expect(await grants()).toEqual(
      [
        ...before,
        'audio_cache_later: INSERT',
        'audio_cache_later: SELECT',
        'sequence audio_cache_later_n_seq: SELECT',
        'sequence audio_cache_later_n_seq: USAGE',
      ].sort(),
    );
    expect(
      await attempt(setup.app.url, "INSERT INTO audio_cache_later (note) VALUES ('drawn from the sequence')"),
    ).toBe('ok');
    expect(await attempt(setup.app.url, 'SELECT email FROM users')).toMatch(
      /^42501: permission denied for table users/,
    );

    await applyAppRole(setup.admin.url, setup.app);
    expect(await grants()).toEqual(before);
    expect(await attempt(setup.app.url, 'SELECT note FROM audio_cache_later')).toMatch(
      /^42501: permission denied for table audio_cache_later/,
    );
    await sql(setup.admin.url, 'DROP TABLE audio_cache_later');
  });

  it('takes a new password, after which the old one is refused', async () => {
    const rotated = { ...setup.app, password: PASSWORD() };
    await applyAppRole(setup.admin.url, rotated);
    expect(await attempt(setup.app.url, 'SELECT 1')).toMatch(new RegExp(`^${WRONG_PASSWORD}:`));
    const url = urlAs(setup.database.name, rotated.login, rotated.password);
    expect(await attempt(url, 'SELECT 1')).toBe('ok');
    await applyAppRole(setup.admin.url, setup.app);
    expect(await attempt(setup.app.url, 'SELECT 1')).toBe('ok');
  });

  describe('refuses, and changes nothing, when the role could still create or alter', () => {
    /** applyAppRole with a new password: it must fail, and the old password still work (rolled back). */
    async function refused(): Promise<string> {
      const message = await applyAppRole(setup.admin.url, { ...setup.app, password: PASSWORD() }).then(
        () => 'applied',
        (error: Error) => error.message,
      );
      expect(await attempt(setup.app.url, 'SELECT 1')).toBe('ok');
      return message;
    }

    it('PUBLIC may create in the schema (PostgreSQL before 15, or granted by hand)', async () => {
      await sql(superUrl(setup.database.name), 'GRANT CREATE ON SCHEMA public TO PUBLIC');
      try {
        expect(await refused()).toMatch(/may CREATE in schema public, through PUBLIC/);
      } finally {
        await sql(superUrl(setup.database.name), 'REVOKE CREATE ON SCHEMA public FROM PUBLIC');
      }
      await expect(applyAppRole(setup.admin.url, setup.app)).resolves.toMatchObject({ created: false });
    });

    it('the role owns a table', async () => {
      await sql(superUrl(setup.database.name), 'CREATE TABLE owned_by_app (id int)');
      await sql(superUrl(setup.database.name), `ALTER TABLE owned_by_app OWNER TO ${quoteIdentifier(setup.app.login)}`);
      try {
        expect(await refused()).toMatch(/it owns public\.owned_by_app/);
      } finally {
        await sql(superUrl(setup.database.name), 'DROP TABLE owned_by_app');
      }
    });

    it('the role has an attribute only a superuser can take away', async () => {
      await sql(superUrl(setup.database.name), `ALTER ROLE ${quoteIdentifier(setup.app.login)} REPLICATION`);
      try {
        expect(await refused()).toMatch(/it has REPLICATION \(a superuser must remove it\)/);
      } finally {
        await sql(superUrl(setup.database.name), `ALTER ROLE ${quoteIdentifier(setup.app.login)} NOREPLICATION`);
      }
    });

    it('another role granted it something this admin cannot revoke', async () => {
      const other = `${setup.app.login}_x`;
      await sql(superUrl(setup.database.name), `CREATE ROLE ${quoteIdentifier(other)}`);
      await sql(superUrl(setup.database.name), `GRANT SELECT ON users TO ${quoteIdentifier(other)} WITH GRANT OPTION`);
      await sql(
        superUrl(setup.database.name),
        `SET ROLE ${quoteIdentifier(other)}; GRANT SELECT (email) ON users TO ${quoteIdentifier(setup.app.login)}`,
      );
      try {
        expect(await refused()).toMatch(
          /would hold more than its grants: users\.email: SELECT \(granted to PUBLIC, or by another role/,
        );
      } finally {
        await sql(
          superUrl(setup.database.name),
          `SET ROLE ${quoteIdentifier(other)}; REVOKE SELECT (email) ON users FROM ${quoteIdentifier(setup.app.login)}`,
        );
        await sql(superUrl(setup.database.name), `REVOKE SELECT ON users FROM ${quoteIdentifier(other)}`);
      }
      await expect(applyAppRole(setup.admin.url, setup.app)).resolves.toMatchObject({ created: false });
    });

    it('PUBLIC may read a table the role was not granted', async () => {
      await sql(superUrl(setup.database.name), 'GRANT SELECT ON _prisma_migrations TO PUBLIC');
      try {
        expect(await refused()).toMatch(
          /would hold more than its grants: _prisma_migrations: SELECT \(granted to PUBLIC/,
        );
      } finally {
        await sql(superUrl(setup.database.name), 'REVOKE SELECT ON _prisma_migrations FROM PUBLIC');
      }
    });

    it('it was made a member of a role that reads every table (pg_read_all_data)', async () => {
      const login = quoteIdentifier(setup.app.login);
      await sql(superUrl(setup.database.name), `GRANT pg_read_all_data TO ${login}`);
      expect(await attempt(setup.app.url, 'SET ROLE pg_read_all_data; SELECT email FROM users')).toBe('ok');
      try {
        expect(await refused()).toMatch(/it is a member of pg_read_all_data \(granted by another role\)/);
      } finally {
        await sql(superUrl(setup.database.name), `REVOKE pg_read_all_data FROM ${login}`);
      }
      await expect(applyAppRole(setup.admin.url, setup.app)).resolves.toMatchObject({ created: false });
    });

    it('the admin names itself', async () => {
      await expect(applyAppRole(setup.admin.url, { ...setup.admin })).rejects.toThrow(/is the admin this runs as/);
    });
  });
});

describe('npm run db:app-role (what the azd predeploy hook runs after the migrations)', () => {
  let setup: Setup | undefined;
  afterAll(() => tearDown(setup));

  /** The command as the hook runs it: the admin's DATABASE_URL, the role's login and password. */
  function dbAppRole(env: Record<string, string>) {
    return run('npm', ['run', '--silent', 'db:app-role'], { cwd: root, env: { ...process.env, ...env } }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => error,
    );
  }

  it('creates the role, then updates it, listing what it holds and never the password', async () => {
    setup = await setUp('ours');
    const env = {
      DATABASE_URL: setup.admin.url,
      POSTGRES_APP_LOGIN: setup.app.login,
      POSTGRES_APP_PASSWORD: setup.app.password,
    };
    const first = await dbAppRole(env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`App role ${setup.app.login} created; it holds, and only holds:`);
    expect(first.stdout).toContain('  users.role: SELECT\n');
    expect(first.stdout).not.toContain(setup.app.password);
    expect(await attempt(setup.app.url, 'SELECT id FROM tenants')).toBe('ok');
    const second = await dbAppRole(env);
    expect(second.stdout).toContain(`App role ${setup.app.login} updated;`);
  });

  it('fails, naming the setting, without a usable password', async () => {
    const short = await dbAppRole({
      DATABASE_URL: setup!.admin.url,
      POSTGRES_APP_LOGIN: 'khipu_app',
      POSTGRES_APP_PASSWORD: 'short',
    });
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('POSTGRES_APP_PASSWORD must be 16-128 printable ASCII characters');
  });
});
