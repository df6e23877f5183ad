import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type Services } from '../../src/app/services.ts';
import { CacheCleanup } from '../../src/cleanup/clean-cache.ts';
import { parseConfig } from '../../src/config.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { applyMigrations } from '../../tools/db/migrations.ts';
import { startEmbeddedPostgres, type RunningPostgres } from '../../tools/local-services/embedded-postgres.ts';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestServices, testSettings, type TestServices } from '../support/test-services.ts';
import { signAccessToken } from '../../tools/dev/access-token.ts';

const line = () => ({ voice: 'es-AR-ElenaNeural', text: `Falla ${randomBytes(4).toString('hex')}` });

async function call(services: Services, account: TestAccount, body: object) {
  const { response, logs } = await invokeHttp(
    createAuditionHandler(() => services),
    {
      url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
      headers: { authorization: `Bearer ${await account.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      params: { projectId: account.projectId },
    },
  );
  await response.arrayBuffer(); // as a client does
  await services.auditions.drain(); // and, before the next step, a streamed miss is stored
  return {
    status: response.status,
    cache: response.headers.get('x-cache-status'),
    retryAfter: response.headers.get('retry-after'),
    logs,
  };
}

describe('Postgres going away and coming back', () => {
  let standIn: SpeechStandIn;
  let workDir: string;
  let port: number;
  let postgres: RunningPostgres | undefined;
  let running = false;
  const start = async () => {
    postgres = await startEmbeddedPostgres({
      dataDir: path.join(workDir, 'data'),
      persistent: true,
      durable: false,
      port,
    });
    running = true;
  };
  const stop = async () => {
    running = false;
    await postgres!.stop();
  };
  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    workDir = await mkdtemp(path.join(os.tmpdir(), 'khipu-pg-faults-'));
    port = await findFreePort();
  });
  afterAll(async () => {
    if (running) await stop();
    await standIn.stop();
    await rm(workDir, { recursive: true, force: true });
  });

  it('answers 503 while it is down (at start and mid-run), caches nothing wrong, and recovers', async () => {
    const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
    // The app starts while the database is down. Without the short-lived authorization cache,
    // so every request asks the database (the cached case is below).
    const services = createServices(
      parseConfig(testSettings(url, { AZURE_SPEECH_HOST: standIn.host, AUTH_CACHE_SECONDS: '0' })),
    );
    try {
      const ghost: TestAccount = {
        tenantId: '',
        userId: crypto.randomUUID(),
        projectId: crypto.randomUUID(),
        token: async () => '',
      };
      ghost.token = () => signAccessToken(services.config.jwt, { userId: ghost.userId, expiresIn: '10m' });
      const before = standIn.received.length;
      const down = await call(services, ghost, line());
      expect(down).toMatchObject({ status: 503, retryAfter: '5' });
      expect(standIn.received.length).toBe(before); // nothing spent while authorization cannot be checked

      // The database comes up: the same process serves normally, no restart.
      await start();
      await applyMigrations(url);
      const account = await createTestAccount(await services.db.client(), services.config.jwt.secretKey);
      const body = line();
      expect((await call(services, account, body)).cache).toBe('MISS');
      expect((await call(services, account, body)).cache).toBe('HIT-L2');

      // Mid-run it goes away again: 503, never a 500, never a pass.
      await stop();
      const midRun = await call(services, account, line());
      expect(midRun).toMatchObject({ status: 503, retryAfter: '5' });

      // And it comes back: the cached entry is still served, a new line is cached.
      await start();
      expect((await call(services, account, body)).cache).toBe('HIT-L2');
      expect((await call(services, account, line())).cache).toBe('MISS');
      expect(await (await services.db.client()).audioCache.count({ where: { tenantId: account.tenantId } })).toBe(2);
    } finally {
      await services.close();
    }
  });

  it('waits out a restart shorter than DATABASE_RECONNECT_SECONDS: every audition answered and cached, one synthesis per line', async () => {
    const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
    if (!running) await start();
    await applyMigrations(url);
    // Every request asks the database (no authorization cache), and the window is wide enough
    // for a restart on a busy machine.
    const services = createServices(
      parseConfig(
        testSettings(url, {
          AZURE_SPEECH_HOST: standIn.host,
          AUTH_CACHE_SECONDS: '0',
          MEMORY_CACHE_MB: '0',
          DATABASE_RECONNECT_SECONDS: '30',
        }),
      ),
    );
    try {
      const account = await createTestAccount(await services.db.client(), services.config.jwt.secretKey);
      const known = line();
      expect((await call(services, account, known)).cache).toBe('MISS');
      const before = standIn.received.length;

      // The server restarts (every connection cut, new ones refused until it is up) while
      // auditions arrive: a known line, and new lines asked for twice each.
      const restarted = postgres!.restart();
      const fresh = [line(), line(), line()];
      const answers = await Promise.all([known, ...fresh, ...fresh].map((body) => call(services, account, body)));
      await restarted;

      expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
      expect(answers[0]!.cache).toBe('HIT-L2');
      expect(answers.filter((a) => a.cache === 'BYPASS')).toEqual([]);
      expect(standIn.received.length - before).toBe(fresh.length);
      expect(await (await services.db.client()).audioCache.count({ where: { tenantId: account.tenantId } })).toBe(
        1 + fresh.length,
      );
    } finally {
      await services.close();
    }
  });

  it('keeps serving a caller authorized moments ago (AUTH_CACHE_SECONDS) while it is down, uncached', async () => {
    const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
    if (!running) await start();
    await applyMigrations(url);
    const services = createServices(
      parseConfig(testSettings(url, { AZURE_SPEECH_HOST: standIn.host, AUTH_CACHE_SECONDS: '60' })),
    );
    try {
      const account = await createTestAccount(await services.db.client(), services.config.jwt.secretKey);
      const cached = line();
      expect((await call(services, account, cached)).cache).toBe('MISS');
      await stop();
      // The checks that passed a moment ago stand; the cache fails open: memory, then BYPASS.
      expect(await call(services, account, cached)).toMatchObject({ status: 200, cache: 'HIT-L2' });
      expect(await call(services, account, line())).toMatchObject({ status: 200, cache: 'BYPASS' });
      // Someone never seen before is still refused: authorization fails closed.
      const stranger: TestAccount = { ...account, userId: crypto.randomUUID() };
      stranger.token = () => signAccessToken(services.config.jwt, { userId: stranger.userId, expiresIn: '10m' });
      expect(await call(services, stranger, line())).toMatchObject({ status: 503, retryAfter: '5' });
    } finally {
      if (!running) await start();
      await services.close();
    }
  });
});

describe('a crash between the blob upload and the row insert', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let account: TestAccount;
  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host });
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });

  it('never serves a broken entry, and the next cleanup sweeps the blob left behind', async () => {
    const body = line();
    // The database refuses this one row, exactly where a crash after the upload would stop.
    await services.prisma.$executeRawUnsafe(`
      CREATE FUNCTION refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'simulated crash before the row insert'; END $$`);
    await services.prisma.$executeRawUnsafe(`
      CREATE TRIGGER refuse_row BEFORE INSERT ON audio_cache FOR EACH ROW
      WHEN (NEW.text = '${body.text}') EXECUTE FUNCTION refuse_row()`);
    const first = await call(services, account, body);
    // The caller still got the audio, streamed as it was synthesized (so already labelled
    // MISS when the row insert failed at its end); the failure is logged.
    expect(first).toMatchObject({ status: 200, cache: 'MISS' });
    expect(first.logs.join('\n')).toMatch(/warning: audition cache: index write failed, audio not cached/);
    expect(await services.prisma.audioCache.count({ where: { text: body.text } })).toBe(0);
    const orphans = [];
    for await (const blob of services.blobStore.list(`audio-cache/${account.tenantId}/`)) orphans.push(blob);
    expect(orphans).toHaveLength(1); // the uploaded blob, referenced by nothing

    // Nothing is ever served from the half-written state: still no row, so no hit.
    const synthesized = standIn.received.length;
    expect((await call(services, account, body)).cache).toBe('MISS');
    expect(standIn.received.length).toBe(synthesized + 1);

    // The next cleanup past the grace period (from the blob's Last-Modified) removes the orphan.
    const uploaded = orphans[0]!.lastModified.getTime();
    const report = await new CacheCleanup(
      {
        maintenance: services.maintenance,
        leases: services.leases,
        blobStore: services.blobStore,
        stats: services.statsReader,
      },
      { maxEntriesPerTenant: 10_000, pricePerMillionChars: 16, now: () => new Date(uploaded + 2 * 3_600_000) },
    ).run({ info() {}, warn() {}, error() {} });
    expect(report.orphans).toBe(1);

    // Once the fault is gone, the line is cached normally.
    await services.prisma.$executeRawUnsafe('DROP TRIGGER refuse_row ON audio_cache');
    expect((await call(services, account, body)).cache).toBe('MISS');
    expect((await call(services, account, body)).cache).toBe('HIT-L2');
  });
});
