import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobNotFoundError } from '../../src/ports/blob-store.ts';
import { cachePurgeFunction } from '../../src/functions/cache-purge.ts';
import { cacheStatsFunction } from '../../src/functions/cache-stats.ts';
import { prewarmFunction } from '../../src/functions/prewarm.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createPrewarmHandler } from '../../src/handlers/prewarm-handler.ts';
import { createPurgeHandler } from '../../src/handlers/purge-handler.ts';
import { createStatsHandler } from '../../src/handlers/stats-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { seedEntry } from '../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

const line = (label: string) =>
  `${label} ${randomBytes(4).toString('hex')}: una línea para la audición del personaje principal.`;

describe.each(DATABASE_SHAPES)('operations endpoints: stats, purge, prewarm, database shape: %s', (shape) => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let audio: Buffer;

  beforeAll(async () => {
    audio = await encodeToneMp3(0.4);
    standIn = await startSpeechStandIn(audio);
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host, PREWARM_CONCURRENCY: '2' }, shape);
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });

  const account = (options: { role?: string } = {}) =>
    createTestAccount(services.prisma, services.config.jwt.secretKey, options);

  async function audition(who: TestAccount, body: object) {
    const { response } = await invokeHttp(
      createAuditionHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${who.projectId}/characters/audition`,
        headers: { authorization: `Bearer ${await who.token()}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        params: { projectId: who.projectId },
      },
    );
    const bytes = Buffer.from(await response.arrayBuffer());
    await services.auditions.drain();
    return {
      status: response.status,
      cache: response.headers.get('x-cache-status'),
      etag: response.headers.get('etag'),
      bytes,
    };
  }

  async function stats(who: TestAccount | null) {
    const { response, logs } = await invokeHttp(
      createStatsHandler(() => services),
      {
        method: 'GET',
        url: 'http://localhost/api/v1/audio-cache/stats',
        headers: who ? { authorization: `Bearer ${await who.token()}` } : {},
      },
    );
    return {
      status: response.status,
      body: (await response.json()) as Record<string, any>,
      logs,
      headers: response.headers,
    };
  }

  async function purge(who: TestAccount, query = '') {
    const { response, logs } = await invokeHttp(
      createPurgeHandler(() => services),
      {
        method: 'DELETE',
        url: `http://localhost/api/v1/audio-cache${query}`,
        headers: { authorization: `Bearer ${await who.token()}` },
      },
    );
    return { status: response.status, body: (await response.json()) as Record<string, any>, logs };
  }

  async function prewarm(who: TestAccount, body: unknown, projectId = who.projectId) {
    const { response, logs } = await invokeHttp(
      createPrewarmHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${projectId}/characters/auditions/prewarm`,
        headers: { authorization: `Bearer ${await who.token()}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        params: { projectId },
      },
    );
    return { status: response.status, body: (await response.json()) as Record<string, any>, logs };
  }

  it('registers the three routes docs/endpoints.md and openapi.yaml name', () => {
    expect(cacheStatsFunction.options).toMatchObject({
      methods: ['GET'],
      route: 'v1/audio-cache/stats',
      authLevel: 'anonymous',
    });
    expect(cachePurgeFunction.options).toMatchObject({
      methods: ['DELETE'],
      route: 'v1/audio-cache',
      authLevel: 'anonymous',
    });
    expect(prewarmFunction.options).toMatchObject({
      methods: ['POST'],
      route: 'v1/projects/{projectId}/characters/auditions/prewarm',
      authLevel: 'anonymous',
    });
  });

  describe('GET /api/v1/audio-cache/stats', () => {
    it('answers 401 without a token', async () => {
      const result = await stats(null);
      expect(result.status).toBe(401);
      expect(result.body.type).toBe('https://khipu.studio/problems/unauthorized');
    });

    it('is all zeros for a tenant with nothing cached', async () => {
      const result = await stats(await account());
      expect(result.status).toBe(200);
      expect(result.headers.get('cache-control')).toBe('no-store');
      expect(result.body).toMatchObject({
        entries: 0,
        totalMb: 0,
        totalHits: 0,
        avgHitsPerEntry: 0,
        hitRatio: null,
        topEntries: [],
        last24h: { entriesCreated: 0, hits: 0, misses: 0, hitRatio: null, charactersSaved: 0, dollarsSaved: 0 },
        savings: { characters: 0, dollars: 0, pricePerMillionChars: 16 },
      });
    });

    it('counts the caller’s tenant’s entries, plays and syntheses, and nobody else’s', async () => {
      const alice = await account();
      const bob = await account();
      const played = { voice: 'es-AR-ElenaNeural', text: line('Tres veces') };
      const once = { voice: 'es-PE-CamilaNeural', text: line('Una vez') };
      expect((await audition(alice, played)).cache).toBe('MISS');
      for (let i = 0; i < 3; i++) expect((await audition(alice, played)).cache).toBe('HIT-L2');
      expect((await audition(alice, once)).cache).toBe('MISS');
      // Bob asks for the same line: his own miss, in his own figures.
      expect((await audition(bob, played)).cache).toBe('MISS');
      await services.hits.flush();

      const { status, body, logs } = await stats(alice);
      expect(status).toBe(200);
      const characters = 3 * played.text.length;
      expect(body).toMatchObject({
        tenantId: alice.tenantId,
        entries: 2,
        totalHits: 3,
        avgHitsPerEntry: 1.5,
        hitRatio: 0.6,
        last24h: { entriesCreated: 2, hits: 3, misses: 2, hitRatio: 0.6, charactersSaved: characters },
        last7d: { entriesCreated: 2, hits: 3, misses: 2, hitRatio: 0.6, charactersSaved: characters },
        savings: { characters, pricePerMillionChars: 16 },
      });
      expect(body.savings.dollars).toBeCloseTo((characters / 1_000_000) * 16, 4);
      expect(body.totalMb).toBeCloseTo((2 * audio.length) / (1024 * 1024), 2);
      expect(body.topEntries).toEqual([
        { voice: played.voice, text: played.text.slice(0, 40), hits: 3, sizeBytes: audio.length },
        { voice: once.voice, text: once.text.slice(0, 40), hits: 0, sizeBytes: audio.length },
      ]);
      // One structured line: the tenant, never the text.
      expect(logs.join('\n')).toMatch(
        new RegExp(`"function":"cacheStats","status":200,"ms":\\d+,"tenant":"${alice.tenantId}"`),
      );
      expect(logs.join('\n')).not.toContain(played.text.slice(0, 20));

      const bobs = await stats(bob);
      expect(bobs.body).toMatchObject({ entries: 1, totalHits: 0, last24h: { misses: 1, hits: 0, hitRatio: 0 } });
    });

    it('puts older activity in the 7-day window only', async () => {
      const carol = await account();
      const threeDaysAgo = new Date(Date.now() - 3 * 86_400_000);
      await seedEntry(services, carol.tenantId, {
        text: 'Hola',
        size: 1000,
        hits: 5,
        createdAt: threeDaysAgo,
        expiresAt: new Date(Date.now() + 86_400_000),
        blob: false,
      });
      // The tenant's narration, stored by the Khipu Cloud API in the same table: not ours to count.
      await seedEntry(services, carol.tenantId, {
        writer: 'khipu-api',
        text: 'Capítulo uno',
        size: 900_000,
        hits: 40,
        blob: false,
      });
      await services.prisma.audioCacheUsage.create({
        data: {
          tenantId: carol.tenantId,
          hour: new Date(Math.floor(threeDaysAgo.getTime() / 3_600_000) * 3_600_000),
          hits: 5,
          misses: 1,
          charactersSaved: 20n,
        },
      });
      // Older than a week: in no window.
      await services.prisma.audioCacheUsage.create({
        data: {
          tenantId: carol.tenantId,
          hour: new Date(Date.now() - 9 * 86_400_000),
          hits: 100,
          misses: 100,
          charactersSaved: 400n,
        },
      });
      const { body } = await stats(carol);
      expect(body.last24h).toMatchObject({ entriesCreated: 0, hits: 0, misses: 0, hitRatio: null });
      expect(body.last7d).toMatchObject({
        entriesCreated: 1,
        hits: 5,
        misses: 1,
        hitRatio: 0.8333,
        charactersSaved: 20,
      });
      expect(body).toMatchObject({ entries: 1, totalHits: 5, savings: { characters: 20 } });
    });
  });

  describe('DELETE /api/v1/audio-cache', () => {
    it('answers 403 to anyone but an admin, and deletes nothing', async () => {
      const creator = await account();
      await audition(creator, { voice: 'es-AR-ElenaNeural', text: line('No borrar') });
      const result = await purge(creator);
      expect(result.status).toBe(403);
      expect(result.body).toMatchObject({ type: 'https://khipu.studio/problems/forbidden', status: 403 });
      expect(await services.prisma.audioCache.count({ where: { tenantId: creator.tenantId } })).toBe(1);
    });

    it('removes the admin’s tenant’s entries (one voice, then all), rows and blobs, and no other tenant’s', async () => {
      const admin = await account({ role: 'admin' });
      const other = await account({ role: 'admin' });
      const elena = [line('Elena uno'), line('Elena dos')].map((text) => ({ voice: 'es-AR-ElenaNeural', text }));
      const camila = { voice: 'es-PE-CamilaNeural', text: line('Camila') };
      for (const body of [...elena, camila]) expect((await audition(admin, body)).cache).toBe('MISS');
      await audition(other, elena[0]!);
      const paths = async (tenantId: string) =>
        await services.prisma.audioCache.findMany({
          where: { tenantId },
          select: { audioBlobPath: true, voiceId: true },
        });
      const elenaPaths = (await paths(admin.tenantId))
        .filter((r) => r.voiceId === 'es-AR-ElenaNeural')
        .map((r) => r.audioBlobPath);

      const byVoice = await purge(admin, '?voice=es-AR-ElenaNeural');
      expect(byVoice.status).toBe(200);
      expect(byVoice.body).toEqual({
        tenantId: admin.tenantId,
        voice: 'es-AR-ElenaNeural',
        entriesDeleted: 2,
        blobsDeleted: 2,
        blobsMissing: 0,
        blobsFailed: 0,
        entriesKept: 0,
      });
      for (const path of elenaPaths)
        await expect(services.blobStore.get(path)).rejects.toBeInstanceOf(BlobNotFoundError);
      expect((await paths(admin.tenantId)).map((r) => r.voiceId)).toEqual(['es-PE-CamilaNeural']);
      expect(byVoice.logs.join('\n')).toMatch(/"function":"cachePurge","status":200/);

      // Purged means gone from this instance's memory too: the next request synthesizes again.
      expect((await audition(admin, elena[0]!)).cache).toBe('MISS');

      const all = await purge(admin);
      expect(all.body).toMatchObject({ voice: null, entriesDeleted: 2, blobsDeleted: 2 });
      expect(await services.prisma.audioCache.count({ where: { tenantId: admin.tenantId } })).toBe(0);
      // The other tenant's copy of the same line (same voice) is untouched.
      const kept = await paths(other.tenantId);
      expect(kept).toHaveLength(1);
      await expect(services.blobStore.get(kept[0]!.audioBlobPath)).resolves.toBeDefined();
    });

    it('checks the caller against the database on every call, not the authorization cache: a revoked admin is refused at once, a new one allowed at once', async () => {
      const setRole = (who: TestAccount, role: string) =>
        services.prisma.$executeRaw`UPDATE users SET role = ${role} WHERE id = ${who.userId}::uuid`;
      // Each caller is first seen by an audition, which remembers them for AUTH_CACHE_SECONDS (30 s here).
      const admin = await account({ role: 'admin' });
      expect((await audition(admin, { voice: 'es-AR-ElenaNeural', text: line('Admin') })).status).toBe(200);
      expect((await purge(admin)).status).toBe(200);
      await setRole(admin, 'creator');
      expect((await purge(admin)).status).toBe(403);

      const creator = await account();
      expect((await audition(creator, { voice: 'es-AR-ElenaNeural', text: line('Creator') })).status).toBe(200);
      expect((await purge(creator)).status).toBe(403);
      await setRole(creator, 'admin');
      const promoted = await purge(creator);
      expect(promoted.status).toBe(200);
      expect(promoted.body.entriesDeleted).toBe(1);

      // Deactivated: not a caller any more (401), for the purge at once.
      await services.prisma.$executeRaw`UPDATE users SET is_active = false WHERE id = ${creator.userId}::uuid`;
      expect((await purge(creator)).status).toBe(401);
    });

    it('answers 400 for a voice filter that is not a voice name', async () => {
      const admin = await account({ role: 'admin' });
      const result = await purge(admin, `?voice=${encodeURIComponent("x' OR 1=1 --")}`);
      expect(result.status).toBe(400);
      expect(result.body.errors).toEqual([{ field: 'voice', message: expect.stringContaining('voice name') }]);
    });

    it('counts a row whose blob was already gone as missing, not failed', async () => {
      const admin = await account({ role: 'admin' });
      await audition(admin, { voice: 'es-AR-ElenaNeural', text: line('Sin blob') });
      const row = await services.prisma.audioCache.findFirstOrThrow({ where: { tenantId: admin.tenantId } });
      await services.blobStore.delete(row.audioBlobPath);
      expect((await purge(admin)).body).toMatchObject({
        entriesDeleted: 1,
        blobsDeleted: 0,
        blobsMissing: 1,
        blobsFailed: 0,
      });
    });
  });

  describe('POST /api/v1/projects/{projectId}/characters/auditions/prewarm', () => {
    it('synthesizes what is missing, reports each item, and is idempotent', async () => {
      const dana = await account();
      const first = { voice: 'es-AR-ElenaNeural', text: line('Prewarm uno') };
      // The web client's shape, for the second one.
      const second = {
        voice: { id: 'es-PE-CamilaNeural', engine: 'azure', locale: 'es-PE' },
        text: line('Prewarm dos'),
        style: null,
        page: 'casting',
      };
      const invalid = { voice: 'nope', text: '' };
      const before = standIn.received.length;

      const run1 = await prewarm(dana, { auditions: [first, second, invalid] });
      expect(run1.status).toBe(200);
      expect(run1.body).toMatchObject({ projectId: dana.projectId, cached: 0, created: 2, failed: 1 });
      expect(run1.body.items).toEqual([
        { index: 0, key: expect.stringMatching(/^[0-9a-f]{64}$/), status: 'created' },
        { index: 1, key: expect.stringMatching(/^[0-9a-f]{64}$/), status: 'created' },
        {
          index: 2,
          key: null,
          status: 'failed',
          reason: 'invalid-request',
          detail: expect.any(String),
          errors: expect.arrayContaining([expect.objectContaining({ field: 'voice' })]),
        },
      ]);
      expect(standIn.received.length - before).toBe(2);
      // Stored, rows and blobs, and no play counted.
      const rows = await services.prisma.audioCache.findMany({ where: { tenantId: dana.tenantId } });
      expect(rows.map((r) => r.cacheKey).sort()).toEqual([run1.body.items[0].key, run1.body.items[1].key].sort());
      expect(rows.every((r) => r.hitCount === 0)).toBe(true);

      const run2 = await prewarm(dana, { auditions: [first, second, invalid] });
      expect(run2.body).toMatchObject({ cached: 2, created: 0, failed: 1 });
      expect(run2.body.items.map((i: { key: string }) => i.key)).toEqual(
        run1.body.items.map((i: { key: string }) => i.key),
      );
      expect(standIn.received.length - before).toBe(2);

      // The audition itself is now a hit, under the key prewarm reported (its ETag).
      const played = await audition(dana, first);
      expect(played.cache).toBe('HIT-L2');
      expect(played.etag).toBe(`"${run1.body.items[0].key}"`);
      expect(run1.logs.join('\n')).toMatch(/"function":"prewarm","status":200,.*"cached":0,"created":2,"failed":1/);
    });

    it('takes the web app’s item shape too (style_degree, no text: the voice’s default line), for its voices route', async () => {
      const ivy = await account();
      const items = [
        { voice: 'es-PE-CamilaNeural' },
        { voice: 'es-PE-CamilaNeural', style: 'cheerful', style_degree: 0.6, rate_pct: -5 },
      ];
      const result = await prewarm(ivy, { auditions: items });
      expect(result.body).toMatchObject({ created: 2, failed: 0 });
      // The casting page's `{}` and the characters page's settings are now hits under those keys.
      const { response } = await invokeHttp(
        createAuditionHandler(() => services, 'voices'),
        {
          url: `http://localhost/api/v1/projects/${ivy.projectId}/voices/es-PE-CamilaNeural/audition`,
          headers: { authorization: `Bearer ${await ivy.token()}`, 'content-type': 'application/json' },
          body: JSON.stringify({ style: 'cheerful', style_degree: 0.6, rate_pct: -5 }),
          params: { projectId: ivy.projectId, voiceId: 'es-PE-CamilaNeural' },
        },
      );
      expect(response.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(response.headers.get('etag')).toBe(`"${result.body.items[1].key}"`);
      expect(
        (
          await audition(ivy, {
            voice: 'es-PE-CamilaNeural',
            text: 'Hola, soy Camila. Así sonaría mi voz narrando tu historia.',
          })
        ).etag,
      ).toBe(`"${result.body.items[0].key}"`);
    });

    it('runs at most PREWARM_CONCURRENCY syntheses at once per tenant, however many prewarm requests it sends', async () => {
      const erin = await account();
      standIn.behave({ kind: 'audio', delayMs: 60 });
      standIn.resetStats();
      try {
        // Three tabs prewarm at once.
        const batch = (tab: number) => ({
          auditions: Array.from({ length: 4 }, (_, i) => ({
            voice: 'es-AR-ElenaNeural',
            text: line(`Pestaña ${tab} lote ${i}`),
          })),
        });
        const results = await Promise.all([1, 2, 3].map((tab) => prewarm(erin, batch(tab))));
        for (const result of results) expect(result.body).toMatchObject({ created: 4, failed: 0 });
        expect(standIn.maxConcurrent).toBe(2);
      } finally {
        standIn.behave({ kind: 'audio' });
      }
    });

    it('reports a synthesis failure per item, with its reason, and stores nothing for it', async () => {
      const fay = await account();
      standIn.behave({ kind: 'reject-upgrade', status: 401 });
      try {
        const result = await prewarm(fay, { auditions: [{ voice: 'es-AR-ElenaNeural', text: line('Clave mala') }] });
        expect(result.status).toBe(200);
        expect(result.body.items).toEqual([
          {
            index: 0,
            key: expect.stringMatching(/^[0-9a-f]{64}$/),
            status: 'failed',
            reason: 'tts-credentials-rejected',
            detail: expect.any(String),
          },
        ]);
        expect(await services.prisma.audioCache.count({ where: { tenantId: fay.tenantId } })).toBe(0);
      } finally {
        standIn.behave({ kind: 'audio' });
      }
    });

    it.each([
      ['no auditions array', { items: [] }],
      ['an empty list', { auditions: [] }],
      [
        'more than 100',
        { auditions: Array.from({ length: 101 }, () => ({ voice: 'es-AR-ElenaNeural', text: 'Hola' })) },
      ],
      ['a list instead of an object', [{ voice: 'es-AR-ElenaNeural', text: 'Hola' }]],
    ])('answers 400 for %s', async (_name, body) => {
      const result = await prewarm(await account(), body);
      expect(result.status).toBe(400);
      expect(result.body.errors).toEqual([{ field: 'auditions', message: expect.any(String) }]);
    });

    it('answers 404 for another tenant’s project, synthesizing nothing', async () => {
      const gus = await account();
      const hal = await account();
      const before = standIn.received.length;
      const result = await prewarm(
        gus,
        { auditions: [{ voice: 'es-AR-ElenaNeural', text: line('Ajeno') }] },
        hal.projectId,
      );
      expect(result.status).toBe(404);
      expect(standIn.received.length).toBe(before);
    });
  });
});
