import { randomBytes } from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createHealthHandler } from '../../src/handlers/health-handler.ts';
import { createPurgeHandler } from '../../src/handlers/purge-handler.ts';
import { createStatsHandler } from '../../src/handlers/stats-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// A project's own storage account (Khipu's settings page: settings.creds.storage.azure), on real parts: Azurite runs
// the operator's account and a second one, `projectstore`, standing for the customer's; Postgres in both shapes.
const account = inject('azuriteProjectAccount');
const DAY_MS = 86_400_000;

/** The settings Khipu's web client saves for a project with its own storage (`containerName` optional). */
function storageSettings(containerName?: string, accessKey = account.accessKey) {
  const azure = { accountName: account.accountName, accessKey, endpoint: account.endpoint };
  return { creds: { storage: { azure: containerName ? { ...azure, containerName } : azure } } };
}

/** The customer's own view of a container of their account. */
function customerContainer(name: string): ContainerClient {
  const credential = new StorageSharedKeyCredential(account.accountName, account.accessKey);
  return new BlobServiceClient(account.endpoint, credential).getContainerClient(name);
}

async function blobNames(container: ContainerClient, prefix: string): Promise<string[]> {
  if (!(await container.exists())) return [];
  const names: string[] = [];
  for await (const blob of container.listBlobsFlat({ prefix })) names.push(blob.name);
  return names.sort();
}

describe.each(DATABASE_SHAPES)("a project's own storage account, database shape: %s", (shape) => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let owner: TestAccount;
  let operator: ContainerClient;
  let withAccount: string; // the tenant's project with its own account, default container ("audios")
  let withoutAccount: string; // the same tenant's project without one (the operator's account)
  let otherContainer: string; // the same tenant's project with the same account, another container
  const other = `other-${randomBytes(4).toString('hex')}`;
  const logs: string[] = [];
  /** The services' clock: now, unless a test moves it. */
  let movedTo: Date | undefined;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    // AUTH_CACHE_SECONDS 0: a settings change is seen by the next request (the production default is 30 s).
    // MEMORY_CACHE_MB 0: every hit is read from where its blob is stored (the instance's memory tier is not the
    // subject here).
    services = await createTestServices(
      {
        AZURE_SPEECH_HOST: standIn.host,
        AZURE_SPEECH_KEY: 'default-key',
        AUTH_CACHE_SECONDS: '0',
        MEMORY_CACHE_MB: '0',
      },
      shape,
      { now: () => movedTo ?? new Date() },
    );
    owner = await createTestAccount(services.prisma, services.config.jwt.secretKey, { role: 'admin' });
    // The customer made their containers; the service never creates one in a project's account.
    await customerContainer('audios').createIfNotExists();
    await customerContainer(other).create();
    withAccount = await createTestProject(services.prisma, owner, storageSettings());
    withoutAccount = owner.projectId;
    otherContainer = await createTestProject(services.prisma, owner, storageSettings(other));
    const config = services.config.blobStorage;
    if (config.kind !== 'connection-string') throw new Error('tests use a connection string');
    operator = BlobServiceClient.fromConnectionString(config.connectionString).getContainerClient(config.containerName);
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });

  async function audition(projectId: string, text: string) {
    const { response, logs: lines } = await invokeHttp(
      createAuditionHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${projectId}/characters/audition`,
        headers: { authorization: `Bearer ${await owner.token()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ voice: 'es-PE-CamilaNeural', text }),
        params: { projectId },
      },
    );
    logs.push(...lines);
    const body = Buffer.from(await response.arrayBuffer());
    await services.auditions.drain(); // a miss is stored after its answer
    return { status: response.status, cache: response.headers.get('x-cache-status'), body, logs: lines.join('\n') };
  }

  async function entries(): Promise<{ cacheKey: string; path: string; store: string | null }[]> {
    return services.prisma.$queryRaw`
      SELECT c.cache_key AS "cacheKey", c.audio_blob_path AS path, n.blob_store AS store
        FROM audio_cache c LEFT JOIN audio_cache_auditions n ON n.cache_key = c.cache_key
       WHERE c.tenant_id = ${owner.tenantId}::uuid ORDER BY c.created_at`;
  }

  async function setSettings(projectId: string, settings: object) {
    await services.prisma
      .$executeRaw`UPDATE projects SET settings = ${JSON.stringify(settings)} WHERE id = ${projectId}::uuid`;
  }

  const prefix = () => `audio-cache/${owner.tenantId}/`;

  it("stores the audition in the project's account, container 'audios', none in the operator's; then HIT-L2", async () => {
    const miss = await audition(withAccount, 'Hola desde mi propia cuenta.');
    expect([miss.status, miss.cache]).toEqual([200, 'MISS']);
    const [entry] = await entries();
    expect(entry!.store).toBe(`${account.endpoint}/audios`);
    expect(await blobNames(customerContainer('audios'), prefix())).toEqual([entry!.path]);
    expect(await blobNames(operator, prefix())).toEqual([]);

    const hit = await audition(withAccount, 'Hola desde mi propia cuenta.');
    expect([hit.status, hit.cache]).toEqual([200, 'HIT-L2']);
    expect(hit.body.equals(miss.body)).toBe(true);
  });

  it("the seed's failure sequence: other projects of the tenant get their own entries, nothing is lost", async () => {
    const line = 'La misma línea para tres proyectos.';
    expect((await audition(withAccount, line)).cache).toBe('MISS');
    // Project B, no account of its own: its own entry in the operator's account (never a failed read of A's account).
    expect((await audition(withoutAccount, line)).cache).toBe('MISS');
    // Project C, same account, another container: its own entry there.
    expect((await audition(otherContainer, line)).cache).toBe('MISS');
    // And each keeps hitting its own.
    for (const project of [withAccount, withoutAccount, otherContainer]) {
      expect((await audition(project, line)).cache).toBe('HIT-L2');
    }

    const rows = await entries();
    expect(rows).toHaveLength(4); // the first test's entry, and these three
    const stores = rows.map((row) => row.store);
    expect(stores.filter((s) => s === `${account.endpoint}/audios`)).toHaveLength(2);
    expect(stores.filter((s) => s === `${account.endpoint}/${other}`)).toHaveLength(1);
    expect(stores.filter((s) => s === null)).toHaveLength(1);
    // Every row's blob is where its row says.
    const where = (store: string | null) =>
      store === null ? operator : customerContainer(store.slice(store.lastIndexOf('/') + 1));
    for (const row of rows) expect(await blobNames(where(row.store), row.path)).toEqual([row.path]);
  });

  it('a row recorded in another account than the project uses now is answered uncached, and kept', async () => {
    const line = 'Una entrada que dice estar en otra cuenta.';
    expect((await audition(withAccount, line)).cache).toBe('MISS');
    const before = await entries();
    const moved = before.at(-1)!;
    await services.prisma.$executeRaw`
      UPDATE audio_cache_auditions SET blob_store = ${`${account.endpoint}/elsewhere`} WHERE cache_key = ${moved.cacheKey}`;

    const answer = await audition(withAccount, line);
    expect([answer.status, answer.cache]).toEqual([200, 'BYPASS']);
    expect(answer.body.length).toBeGreaterThan(0);
    expect((await entries()).map((row) => row.cacheKey)).toEqual(before.map((row) => row.cacheKey));
    expect(await blobNames(customerContainer('audios'), moved.path)).toEqual([moved.path]);
    await services.prisma.$executeRaw`
      UPDATE audio_cache_auditions SET blob_store = ${`${account.endpoint}/audios`} WHERE cache_key = ${moved.cacheKey}`;
  });

  it('a project whose account rejects its key gets 200 audio uncached; health and stats show it; others hit', async () => {
    const hitting = 'Otro proyecto sigue acertando.';
    expect((await audition(otherContainer, hitting)).cache).toBe('MISS');
    const wrongKey = randomBytes(64).toString('base64');
    await setSettings(withAccount, storageSettings(undefined, wrongKey));

    const rowsBefore = await entries();
    // Stored before, unreadable now: answered uncached, before any audio went out.
    const known = await audition(withAccount, 'Hola desde mi propia cuenta.');
    expect([known.status, known.cache, known.body.length > 0]).toEqual([200, 'BYPASS', true]);
    // A new line: its audio streams out as a MISS (the status goes before the store is tried), and nothing is stored.
    const fresh = await audition(withAccount, 'Una línea nueva con la clave equivocada.');
    expect([fresh.status, fresh.cache, fresh.body.length > 0]).toEqual([200, 'MISS', true]);
    expect(await entries()).toEqual(rowsBefore);
    const warnings = known.logs + fresh.logs;
    expect(warnings).toContain(`project ${withAccount}`);
    expect(warnings).not.toContain(wrongKey);
    expect(logs.join('\n')).not.toContain(account.accessKey);
    expect((await audition(otherContainer, hitting)).cache).toBe('HIT-L2');
    expect((await audition(withoutAccount, 'La misma línea para tres proyectos.')).cache).toBe('HIT-L2');

    const health = await invokeHttp(
      createHealthHandler(() => services),
      {
        method: 'GET',
        url: 'http://localhost/api/health',
      },
    );
    expect(health.response.status).toBe(200);
    const report = (await health.response.json()) as { checks: Record<string, string>; failingProjectAccounts: number };
    expect(report.checks.projectStorage).toBe('degraded');
    expect(report.failingProjectAccounts).toBe(1);

    const stats = await invokeHttp(
      createStatsHandler(() => services),
      {
        method: 'GET',
        url: 'http://localhost/api/v1/audio-cache/stats',
        headers: { authorization: `Bearer ${await owner.token()}` },
      },
    );
    const figures = (await stats.response.json()) as {
      projectStores: { storeId: string; projectId: string; status: string; entries: number; lastError?: string }[];
    };
    const failing = figures.projectStores.find((s) => s.storeId === `${account.endpoint}/audios`);
    expect(failing).toMatchObject({ projectId: withAccount, status: 'failing', entries: 3 });
    expect(JSON.stringify(figures)).not.toContain(wrongKey);

    // A purge cannot reach the account: it keeps those entries (their rows are the only record of their blobs).
    const purge = await invokeHttp(
      createPurgeHandler(() => services),
      {
        method: 'DELETE',
        url: 'http://localhost/api/v1/audio-cache',
        headers: { authorization: `Bearer ${await owner.token()}` },
      },
    );
    expect(purge.response.status).toBe(200);
    const purged = (await purge.response.json()) as { entriesKept: number };
    expect(purged.entriesKept).toBe(3);
    const kept = await entries();
    expect(kept.map((row) => row.store)).toEqual(Array(3).fill(`${account.endpoint}/audios`));
    for (const row of kept) expect(await blobNames(customerContainer('audios'), row.path)).toEqual([row.path]);
    expect(await blobNames(customerContainer(other), prefix())).toEqual([]); // the reachable one was purged

    await setSettings(withAccount, storageSettings()); // the key is fixed
    expect((await audition(withAccount, 'Hola desde mi propia cuenta.')).cache).toBe('HIT-L2');
  });

  it("the hourly pass deletes an expired entry from the project's account; a foreign blob beside it survives", async () => {
    // The Khipu Cloud API's narration in the same account and prefix: not ours, never touched.
    const foreign = `${prefix()}narration-${randomBytes(4).toString('hex')}.mp3`;
    await customerContainer('audios').getBlockBlobClient(foreign).uploadData(Buffer.from('narration'));
    const before = await entries();
    expect(before.length).toBeGreaterThan(0);

    const log = (...args: unknown[]) => logs.push(args.join(' '));
    const later = new Date(Date.now() + (services.config.cache.ttlDays + 1) * DAY_MS);
    movedTo = later; // the app's own pass, run that late
    const report = await services.cleanup.run({ info: log, warn: log, error: log }).finally(() => {
      movedTo = undefined;
    });

    expect(report.expired).toBe(before.length);
    expect(await entries()).toEqual([]);
    expect(await blobNames(customerContainer('audios'), prefix())).toEqual([foreign]);
  });
});
