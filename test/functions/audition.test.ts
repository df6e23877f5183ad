import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { parseBuffer } from 'music-metadata';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createServices, type Services } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { auditionFunction } from '../../src/functions/audition.ts';
import { voiceAuditionFunction } from '../../src/functions/voice-audition.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { startAzurite } from '../../tools/local-services/azurite.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import {
  startSpeechStandIn,
  type SpeechStandIn,
  type StandInBehaviour,
} from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestServices, testSettings, type TestServices } from '../support/test-services.ts';
import { GUIDE_BODY } from '../support/auditions.ts';

// The deployment guide's Step 7 body, and the same audition as khipu-web sends it.
const WEB_BODY = {
  voice: {
    id: 'es-AR-ElenaNeural',
    engine: 'azure',
    locale: 'es-AR',
    gender: 'F',
    age_hint: 'adult',
    accent_tags: ['rioplatense'],
    styles: ['cheerful', 'sad'],
    description: 'Voz cálida',
  },
  text: '  Hola,   este es un test\ndel cache ',
  style: 'cheerful',
  styledegree: null,
  rate_pct: null,
  pitch_pct: 0,
  page: 'casting',
};

describe.each(DATABASE_SHAPES)('POST /api/v1/projects/{projectId}/characters/audition, database shape: %s', (shape) => {
  let standIn: SpeechStandIn;
  let tone: Buffer;
  let services: TestServices;
  let account: TestAccount;
  let webAccount: TestAccount;

  beforeAll(async () => {
    tone = await encodeToneMp3(1.5);
    standIn = await startSpeechStandIn(tone);
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host, TTS_TIMEOUT_SECONDS: '1' }, shape);
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    // The web app's user, whose project keeps its key where the web UI writes it.
    webAccount = await createTestAccount(services.prisma, services.config.jwt.secretKey, { ttsKeyAt: 'creds' });
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });
  beforeEach(() => standIn.behave({ kind: 'audio' }));

  const handlerFor = (s: Services) => createAuditionHandler(() => s);
  /** The app's services with some settings changed: same database, same token secret. */
  const servicesWith = (overrides: NodeJS.ProcessEnv, databaseUrl = services.database.url) =>
    createServices(
      parseConfig(
        testSettings(databaseUrl, {
          AZURE_SPEECH_HOST: standIn.host,
          JWT_SECRET_KEY: services.config.jwt.secretKey,
          ...overrides,
        }),
      ),
    );
  async function audition(
    body: unknown,
    options: {
      account?: TestAccount;
      token?: string | null;
      projectId?: string;
      services?: Services;
      headers?: Record<string, string>;
    } = {},
  ) {
    const who = options.account ?? account;
    const token = options.token === undefined ? await who.token() : options.token;
    const projectId = options.projectId ?? who.projectId;
    const { response, logs } = await invokeHttp(handlerFor(options.services ?? services), {
      url: `http://localhost:7071/api/v1/projects/${projectId}/characters/audition`,
      headers: {
        'content-type': 'application/json',
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...options.headers,
      },
      body: typeof body === 'string' ? body : JSON.stringify(body),
      params: { projectId },
    });
    const bytes = Buffer.from(await response.arrayBuffer());
    // A streamed miss is stored just after its last byte: wait for that before looking.
    await (options.services ?? services).auditions.drain();
    const isProblem = response.headers.get('content-type') === 'application/problem+json';
    return {
      response,
      status: response.status,
      bytes,
      problem: isProblem ? JSON.parse(bytes.toString()) : undefined,
      logs,
    };
  }
  const rowsOf = (tenantId: string) =>
    services.prisma.audioCache.findMany({ where: { tenantId }, orderBy: { createdAt: 'asc' } });
  const uniqueText = () => `Línea ${randomBytes(4).toString('hex')}`;

  it('is registered as an anonymous POST on the guide’s route (the token is checked by the handler)', () => {
    expect(auditionFunction).toMatchObject({
      trigger: 'http',
      name: 'audition',
      options: { methods: ['POST'], route: 'v1/projects/{projectId}/characters/audition', authLevel: 'anonymous' },
    });
  });

  /** The web app's live route, as its pages call it (axios: JSON, its Accept header). */
  async function voiceAudition(
    voiceId: string,
    body: unknown,
    options: { account?: TestAccount; headers?: Record<string, string> } = {},
  ) {
    const who = options.account ?? webAccount;
    const { response, logs } = await invokeHttp(
      createAuditionHandler(() => services, 'voices'),
      {
        url: `http://localhost:7071/api/v1/projects/${who.projectId}/voices/${encodeURIComponent(voiceId)}/audition`,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          accept: 'application/json, text/plain, */*',
          authorization: `Bearer ${await who.token()}`,
          ...options.headers,
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
        params: { projectId: who.projectId, voiceId },
      },
    );
    const bytes = Buffer.from(await response.arrayBuffer());
    await services.auditions.drain();
    const isProblem = response.headers.get('content-type') === 'application/problem+json';
    return {
      response,
      status: response.status,
      bytes,
      problem: isProblem ? JSON.parse(bytes.toString()) : undefined,
      logs,
    };
  }

  describe('the web app’s route: POST …/projects/{projectId}/voices/{voiceId}/audition', () => {
    it('is registered as an anonymous POST on the route the shipped pages call', () => {
      expect(voiceAuditionFunction).toMatchObject({
        trigger: 'http',
        name: 'voiceAudition',
        options: {
          methods: ['POST'],
          route: 'v1/projects/{projectId}/voices/{voiceId}/audition',
          authLevel: 'anonymous',
        },
      });
    });

    it('speaks the voice’s default line for the casting page’s `{}`, then serves it from the cache', async () => {
      const other = await createTestAccount(services.prisma, services.config.jwt.secretKey);
      const first = await voiceAudition('es-PE-CamilaNeural', {}, { account: other });
      expect(first.status).toBe(200);
      expect(first.response.headers.get('x-cache-status')).toBe('MISS');
      expect(first.response.headers.get('content-type')).toBe('audio/mpeg');
      expect(first.response.headers.get('content-disposition')).toBe(
        'inline; filename="es-PE-CamilaNeural-audition.mp3"',
      );
      expect(first.response.headers.get('access-control-expose-headers')).toContain('Content-Disposition');
      expect(first.response.headers.get('server-timing')).toMatch(/^tier;desc=synthesis, /);
      expect(first.bytes.equals(tone)).toBe(true);
      expect(standIn.received.at(-1)!.ssml).toContain(
        '<voice name="es-PE-CamilaNeural">Hola, soy Camila. Así sonaría mi voz narrando tu historia.</voice>',
      );
      expect(first.logs.join('\n')).toMatch(/"function":"voiceAudition","status":200,"cache":"MISS"/);

      const again = await voiceAudition('es-PE-CamilaNeural', {}, { account: other });
      expect(again.response.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(again.response.headers.get('etag')).toBe(first.response.headers.get('etag'));
      // No body at all, or a blank text (a character without a description), is the same audition.
      const bodiless = await voiceAudition('es-PE-CamilaNeural', undefined, { account: other });
      expect(bodiless.response.headers.get('x-cache-status')).toBe('HIT-L2');
      const blank = await voiceAudition('es-PE-CamilaNeural', { text: '  ', style: null }, { account: other });
      expect(blank.response.headers.get('etag')).toBe(first.response.headers.get('etag'));
      const rows = await services.prisma.audioCache.findMany({ where: { tenantId: other.tenantId } });
      expect(rows.map((r) => r.text)).toEqual(['Hola, soy Camila. Así sonaría mi voz narrando tu historia.']);
    });

    it('is one cache entry with the guide’s route for the same audition (style_degree = styledegree)', async () => {
      const text = uniqueText();
      const guide = await audition(
        { voice: 'es-AR-ElenaNeural', text, style: 'cheerful', styledegree: 0.8, rate_pct: -10, pitch_pct: 5 },
        { account: webAccount },
      );
      expect(guide.response.headers.get('x-cache-status')).toBe('MISS');
      const live = await voiceAudition('es-AR-ElenaNeural', {
        text,
        style: 'cheerful',
        style_degree: 0.8,
        rate_pct: -10,
        pitch_pct: 5,
      });
      expect(live.status).toBe(200);
      expect(live.response.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(live.response.headers.get('etag')).toBe(guide.response.headers.get('etag'));
      expect(live.response.headers.get('content-disposition')).toBe(guide.response.headers.get('content-disposition'));
      expect(live.bytes.equals(guide.bytes)).toBe(true);
      expect(await services.prisma.audioCache.count({ where: { text } })).toBe(1);
      // The other way round too, with the fields the characters page sends as null.
      const text2 = uniqueText();
      expect(
        (
          await voiceAudition('es-AR-ElenaNeural', {
            text: text2,
            style: null,
            style_degree: null,
            rate_pct: null,
            pitch_pct: null,
          })
        ).response.headers.get('x-cache-status'),
      ).toBe('MISS');
      expect(
        (
          await audition({ voice: { id: 'es-AR-ElenaNeural', engine: 'azure' }, text: text2 }, { account: webAccount })
        ).response.headers.get('x-cache-status'),
      ).toBe('HIT-L2');
    });

    it.each([
      ['not a voice name', 'nope'],
      ['a path-like voice', '../../admin'],
      ['markup', '<voice>'],
      ['an over-long name', `es-AR-${'A'.repeat(200)}Neural`],
    ])('answers 400 naming voiceId for %s, before any synthesis', async (_label, voiceId) => {
      const before = standIn.received.length;
      const result = await voiceAudition(voiceId, {});
      expect(result.status).toBe(400);
      expect(result.problem).toMatchObject({
        status: 400,
        errors: [{ field: 'voiceId', message: expect.stringContaining('Azure voice name') }],
      });
      expect(standIn.received.length).toBe(before);
    });

    it.each([
      [
        'style_degree and styledegree that disagree',
        { style: 'sad', style_degree: 0.5, styledegree: 1.5 },
        'style_degree',
      ],
      ['a style_degree out of range', { style: 'sad', style_degree: 5 }, 'style_degree'],
      ['a text that is not a string', { text: 42 }, 'text'],
      ['a body that is not an object', [1, 2], '(body)'],
    ])('answers 400 for %s', async (_label, body, field) => {
      const result = await voiceAudition('es-AR-ElenaNeural', body);
      expect(result.status).toBe(400);
      expect(result.problem.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it('judges every voice id on its own, even one whose end spells a body parsed before for another voice', async () => {
      // The handler keeps the auditions it parsed by route, voice and body: none may answer for another request's.
      const seen = await voiceAudition('es-AR-ElenaNeural', '{}\n');
      expect(seen.status).toBe(200);
      const spelled = await voiceAudition('es-AR-ElenaNeural\n{}', undefined);
      expect(spelled.status).toBe(400);
      expect(spelled.problem.errors.map((e: { field: string }) => e.field)).toContain('voiceId');
    });

    it('answers 400 for a body that is not JSON, and 401 without a token, like the guide’s route', async () => {
      expect(
        (await voiceAudition('es-AR-ElenaNeural', 'text=hola', { headers: { 'content-type': 'text/plain' } })).status,
      ).toBe(400);
      expect((await voiceAudition('es-AR-ElenaNeural', {}, { headers: { authorization: '' } })).status).toBe(401);
    });
  });

  describe('the guide’s Step 7', () => {
    let first: Awaited<ReturnType<typeof audition>>;
    let second: Awaited<ReturnType<typeof audition>>;
    beforeAll(async () => {
      first = await audition(GUIDE_BODY);
      second = await audition(GUIDE_BODY);
    });

    it('test 1: a first request synthesizes: MISS, audio/mpeg, the guide’s Cache-Control, streamed', async () => {
      expect(first.status).toBe(200);
      expect(first.response.headers.get('x-cache-status')).toBe('MISS');
      expect(first.response.headers.get('content-type')).toBe('audio/mpeg');
      expect(first.response.headers.get('cache-control')).toBe('public, max-age=1800');
      expect(first.bytes.equals(tone)).toBe(true);
      // Streamed as the speech service sends it: length and duration are not known up front.
      expect(first.response.headers.get('content-length')).toBeNull();
      expect(first.response.headers.get('x-audio-duration')).toBeNull();
      expect(first.response.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/);
      expect(first.response.headers.get('access-control-expose-headers')).toBe(
        'X-Cache-Status, X-Audio-Duration, ETag, Server-Timing, Content-Disposition',
      );
      expect(first.response.headers.get('content-disposition')).toBe(
        'inline; filename="es-AR-ElenaNeural-audition.mp3"',
      );
      expect(first.response.headers.get('server-timing')).toMatch(
        /^tier;desc=synthesis, auth;dur=[\d.]+, lookup;dur=[\d.]+, blob;dur=0, synthesis;dur=[\d.]+, total;dur=[\d.]+$/,
      );
    });

    it('test 2: the same request again is served from the cache: HIT-L2, same bytes and ETag, whole', async () => {
      expect(second.status).toBe(200);
      expect(second.response.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(second.response.headers.get('cache-control')).toBe('public, max-age=1800');
      expect(second.response.headers.get('content-type')).toBe('audio/mpeg');
      expect(second.bytes.equals(first.bytes)).toBe(true);
      expect(second.response.headers.get('etag')).toBe(first.response.headers.get('etag'));
      expect(second.response.headers.get('content-length')).toBe(String(tone.length));
      const { format } = await parseBuffer(second.bytes, { mimeType: 'audio/mpeg' }, { duration: true });
      expect(format.duration).toBeGreaterThan(1.4);
      expect(Number(second.response.headers.get('x-audio-duration'))).toBeCloseTo(format.duration!, 2);
      // From this instance's memory tier: no lookup in Postgres, no blob read.
      expect(second.response.headers.get('server-timing')).toMatch(
        /^tier;desc=memory, .*blob;dur=0, synthesis;dur=0, /,
      );
    });

    it('test 3: the row holds the voice, the text, one hit, the size and a 30-day expiry', async () => {
      await services.hits.flush(); // hit counts are written in batches
      const [row, ...others] = await rowsOf(account.tenantId);
      expect(others).toEqual([]);
      const cacheKey = first.response.headers.get('etag')!.slice(1, -1);
      expect(row).toMatchObject({
        cacheKey,
        voiceId: 'es-AR-ElenaNeural',
        text: 'Hola, este es un test del cache',
        hitCount: 1,
        audioFileSizeBytes: BigInt(tone.length),
        audioBlobPath: `audio-cache/${account.tenantId}/${cacheKey}.mp3`,
        voiceSettings: {
          style: 'cheerful',
          styledegree: 1,
          rate_pct: 0,
          pitch_pct: 0,
          provider: 'azure',
          output_format: 'audio-24khz-48kbitrate-mono-mp3',
        },
      });
      expect(row!.ssml).toContain('<mstts:express-as style="cheerful">');
      expect(row!.audioDurationSeconds).toBeGreaterThan(1.4);
      expect(row!.lastAccessedAt.getTime()).toBeGreaterThan(row!.createdAt.getTime());
      const days = (row!.expiresAt!.getTime() - row!.createdAt.getTime()) / 86_400_000;
      expect(days).toBeCloseTo(30, 5);
      expect(row!.audioUrl).toMatch(
        new RegExp(`/${services.config.blobStorage.containerName}/audio-cache/${account.tenantId}/${cacheKey}\\.mp3$`),
      );
    });

    it('test 4: the blob is at audio-cache/{tenant_id}/{cache_key}.mp3, audio/mpeg, in a private container', async () => {
      const cacheKey = first.response.headers.get('etag')!.slice(1, -1);
      const container = BlobServiceClient.fromConnectionString(inject('azuriteConnectionString')).getContainerClient(
        services.config.blobStorage.containerName,
      );
      const names = [];
      for await (const blob of container.listBlobsFlat())
        names.push({ name: blob.name, size: blob.properties.contentLength, type: blob.properties.contentType });
      expect(names).toContainEqual({
        name: `audio-cache/${account.tenantId}/${cacheKey}.mp3`,
        size: tone.length,
        type: 'audio/mpeg',
      });
      expect((await container.getAccessPolicy()).blobPublicAccess).toBeUndefined();
    });
  });

  it('serves both body shapes of one audition (guide string voice, khipu-web voice object) from one entry', async () => {
    const text = uniqueText();
    const web = await audition({ ...WEB_BODY, text: `  ${text.replace(' ', '   ')}\n` });
    const guide = await audition({ ...GUIDE_BODY, text });
    expect(web.response.headers.get('x-cache-status')).toBe('MISS');
    expect(guide.response.headers.get('x-cache-status')).toBe('HIT-L2');
    expect(guide.response.headers.get('etag')).toBe(web.response.headers.get('etag'));
  });

  it('keeps tenants apart: the same line is another entry, and another tenant’s project is 404', async () => {
    const other = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const text = uniqueText();
    const mine = await audition({ ...GUIDE_BODY, text });
    const theirs = await audition({ ...GUIDE_BODY, text }, { account: other });
    expect(mine.response.headers.get('x-cache-status')).toBe('MISS');
    expect(theirs.response.headers.get('x-cache-status')).toBe('MISS');
    expect(theirs.response.headers.get('etag')).not.toBe(mine.response.headers.get('etag'));

    const sneaky = await audition({ ...GUIDE_BODY, text }, { account: other, projectId: account.projectId });
    const missing = await audition(GUIDE_BODY, { projectId: crypto.randomUUID() });
    const malformed = await audition(GUIDE_BODY, { projectId: 'not-a-uuid' });
    for (const result of [sneaky, missing, malformed]) {
      expect(result.status).toBe(404);
      expect(result.problem).toMatchObject({ status: 404, title: 'Not Found', detail: 'No such project' });
    }
    expect(sneaky.bytes.toString()).toBe(missing.bytes.toString());
  });

  describe('authentication', () => {
    const cases: [string, () => Promise<string | null>][] = [
      ['no Authorization header', async () => null],
      ['a malformed token', async () => 'not.a.jwt'],
      ['a token signed with another secret', () => account.token({}, { secret: 'someone-elses-secret' })],
      ['an expired token', () => account.token({}, { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
      ['a refresh token', () => account.token({ type: 'refresh' })],
      ['a token without a type', () => account.token({ type: undefined })],
      [
        'an alg:none token',
        async () => unsignedToken({ sub: account.userId, type: 'access', exp: Math.floor(Date.now() / 1000) + 600 }),
      ],
      ['a token for an unknown user', () => account.token({ sub: crypto.randomUUID() })],
      ['a token whose subject is not a user id', () => account.token({ sub: 'admin' })],
    ];
    it.each(cases)('answers 401 with WWW-Authenticate: Bearer for %s', async (_name, makeToken) => {
      const before = standIn.received.length;
      const result = await audition(GUIDE_BODY, { token: await makeToken() });
      expect(result.status).toBe(401);
      expect(result.response.headers.get('www-authenticate')).toBe('Bearer');
      expect(result.problem).toMatchObject({ status: 401, title: 'Unauthorized' });
      expect(standIn.received.length).toBe(before);
    });

    it('answers 401 for an inactive user and for a user of an inactive tenant', async () => {
      const inactiveUser = await createTestAccount(services.prisma, services.config.jwt.secretKey, {
        userActive: false,
      });
      const inactiveTenant = await createTestAccount(services.prisma, services.config.jwt.secretKey, {
        tenantActive: false,
      });
      expect((await audition(GUIDE_BODY, { account: inactiveUser })).status).toBe(401);
      expect((await audition(GUIDE_BODY, { account: inactiveTenant })).status).toBe(401);
    });

    it('answers 401 for the wrong scheme', async () => {
      const token = await account.token();
      const result = await audition(GUIDE_BODY, { token: null, headers: { authorization: `Basic ${token}` } });
      expect(result.status).toBe(401);
    });

    it('answers 503 (never a pass) when the accounts cannot be checked', async () => {
      const deadDatabase = servicesWith({}, services.database.url.replace(/127\.0\.0\.1:\d+/, '127.0.0.1:9'));
      try {
        const before = standIn.received.length;
        const result = await audition(GUIDE_BODY, { services: deadDatabase });
        expect(result.status).toBe(503);
        expect(result.response.headers.get('retry-after')).toBe('5');
        expect(result.problem).toMatchObject({ status: 503 });
        expect(standIn.received.length).toBe(before);
      } finally {
        await deadDatabase.close();
      }
    });
  });

  describe('request validation (nothing reaches the speech service)', () => {
    let before: number;
    beforeEach(() => {
      before = standIn.received.length;
      return () => expect(standIn.received.length).toBe(before);
    });

    it.each([
      ['voice', { ...GUIDE_BODY, voice: 'Elena' }],
      ['voice', { ...GUIDE_BODY, voice: 42 }],
      ['voice', { ...GUIDE_BODY, voice: `es-AR-${'A'.repeat(100)}` }],
      ['voice.id', { ...GUIDE_BODY, voice: { id: 'x<y' } }],
      ['text', { ...GUIDE_BODY, text: '   ' }],
      ['text', { ...GUIDE_BODY, text: 'a'.repeat(5_001) }],
      ['text', { ...GUIDE_BODY, text: null }],
      ['text', { voice: 'es-AR-ElenaNeural' }],
      ['text', { ...GUIDE_BODY, text: 'bell \u0007 and \ud800' }],
      ['style', { ...GUIDE_BODY, style: 'cheerful"><evil' }],
      ['styledegree', { ...GUIDE_BODY, styledegree: 3 }],
      ['styledegree', { ...GUIDE_BODY, styledegree: '1.5' }],
      ['rate_pct', { ...GUIDE_BODY, rate_pct: 201 }],
      ['pitch_pct', { ...GUIDE_BODY, pitch_pct: -51 }],
    ])('answers 400 naming %s', async (field, body) => {
      const result = await audition(body);
      expect(result.status).toBe(400);
      expect(result.response.headers.get('content-type')).toBe('application/problem+json');
      expect(result.problem.errors.map((e: { field: string }) => e.field)).toContain(field);
    });

    it.each([
      ['invalid JSON', '{"voice": "es-AR-ElenaNeural",', {}],
      ['a JSON array', '[]', {}],
      ['a text/plain body', JSON.stringify(GUIDE_BODY), { 'content-type': 'text/plain' }],
    ])('answers 400 for %s', async (_name, body, headers) => {
      const result = await audition(body, { headers });
      expect(result.status).toBe(400);
      expect(result.problem.errors[0].field).toBe('(body)');
    });

    it('answers 413 for a body over 64 KB', async () => {
      const result = await audition({ ...GUIDE_BODY, padding: 'x'.repeat(70_000) });
      expect(result.status).toBe(413);
      expect(result.problem).toMatchObject({ status: 413 });
    });

    it('accepts unknown fields and page without changing the audio', async () => {
      const text = uniqueText();
      const a = await audition({
        ...GUIDE_BODY,
        text,
        page: 'casting',
        extra: { nested: true },
        ['__proto__']: { polluted: 1 },
      });
      const b = await audition({ ...GUIDE_BODY, text, page: 'characters' });
      expect(a.status).toBe(200);
      expect(b.response.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      before = standIn.received.length; // this one did synthesize, once
    });
  });

  it('sends the speech service escaped SSML with only the markup that changes the audio', async () => {
    const text = `Tom & Jerry <b> </voice><voice name="x">injected ${randomBytes(3).toString('hex')}`;
    await audition({ voice: 'es-AR-ElenaNeural', text });
    const plain = standIn.received.at(-1)!;
    expect(plain.key).toMatch(/^project-key-/);
    expect(plain.ssml).toBe(
      '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang="es-AR">' +
        `<voice name="es-AR-ElenaNeural">${text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')}</voice></speak>`,
    );

    await audition({ voice: 'es-AR-ElenaNeural', text, style: 'sad', styledegree: 1.5, rate_pct: -10, pitch_pct: 5 });
    expect(standIn.received.at(-1)!.ssml).toContain(
      '<voice name="es-AR-ElenaNeural"><mstts:express-as style="sad" styledegree="1.5"><prosody rate="-10%" pitch="+5%">Tom &amp; Jerry',
    );
  });

  describe('speech service failures are mapped and never cached', () => {
    it.each([
      [{ kind: 'reject-upgrade', status: 401 }, 502, /credentials were rejected/],
      [{ kind: 'reject-upgrade', status: 403 }, 502, /credentials were rejected/],
      [{ kind: 'reject-upgrade', status: 429 }, 503, /throttling/],
      [{ kind: 'close', code: 4429, reason: 'exceeded the concurrent request limit' }, 503, /throttling/],
      [{ kind: 'close', code: 1007, reason: 'Throttled due to too many requests' }, 503, /throttling/],
      [{ kind: 'close', code: 1007, reason: 'Unsupported voice es-AR-Nobody' }, 400, /rejected the request/],
      [{ kind: 'close', code: 1008, reason: 'Quota exceeded' }, 502, /failed/],
      [{ kind: 'close', code: 1011, reason: 'Internal server error' }, 502, /failed/],
      [{ kind: 'hang' }, 504, /did not answer in time/],
      [{ kind: 'no-audio' }, 502, /failed/],
    ] as [StandInBehaviour, number, RegExp][])('%j → %i', async (behaviour, status, detail) => {
      standIn.behave(behaviour);
      const text = uniqueText();
      const result = await audition({ ...GUIDE_BODY, text });
      expect(result.status).toBe(status);
      expect(result.problem.detail).toMatch(detail);
      if (status === 503) expect(result.response.headers.get('retry-after')).toBe('10');
      expect(JSON.stringify(result.problem)).not.toMatch(/project-key-/);
      expect(await services.prisma.audioCache.count({ where: { text } })).toBe(0);

      standIn.behave({ kind: 'audio' });
      const retry = await audition({ ...GUIDE_BODY, text });
      expect(retry.response.headers.get('x-cache-status')).toBe('MISS');
    });
  });

  it('cuts a streamed miss off when the speech service stops midway, and caches nothing', async () => {
    // Some audio went out (200, streaming), then the service closed without finishing the turn.
    standIn.behave({ kind: 'close-mid-turn' });
    const text = uniqueText();
    const { response, logs } = await invokeHttp(handlerFor(services), {
      url: `http://localhost:7071/api/v1/projects/${account.projectId}/characters/audition`,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await account.token()}` },
      body: JSON.stringify({ ...GUIDE_BODY, text }),
      params: { projectId: account.projectId },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('x-cache-status')).toBe('MISS');
    await expect(response.arrayBuffer()).rejects.toThrow(/did not answer in time/);
    expect(logs.join('\n')).toMatch(/warning: audition: synthesis failed after streaming began, response cut off/);
    expect(await services.prisma.audioCache.count({ where: { text } })).toBe(0);

    standIn.behave({ kind: 'audio' });
    const retry = await audition({ ...GUIDE_BODY, text });
    expect(retry.response.headers.get('x-cache-status')).toBe('MISS');
    expect(retry.bytes.equals(tone)).toBe(true);
  });

  it('waits for a slow speech service (within TTS_TIMEOUT_SECONDS) and caches its answer', async () => {
    standIn.behave({ kind: 'audio', delayMs: 600 });
    const body = { ...GUIDE_BODY, text: uniqueText() };
    const slow = await audition(body);
    expect(slow.status).toBe(200);
    expect(slow.response.headers.get('x-cache-status')).toBe('MISS');
    standIn.behave({ kind: 'audio' });
    expect((await audition(body)).response.headers.get('x-cache-status')).toBe('HIT-L2');
  });

  it('answers 422 when neither the project nor the service has TTS credentials', async () => {
    const keyless = await createTestAccount(services.prisma, services.config.jwt.secretKey, { ttsKey: null });
    const result = await audition(GUIDE_BODY, { account: keyless });
    expect(result.status).toBe(422);
    expect(result.problem.detail).toMatch(/no Azure TTS credentials/);
  });

  it('serves a cached audition to a project that has no TTS credentials (nothing to synthesize)', async () => {
    const keyless = await createTestAccount(services.prisma, services.config.jwt.secretKey, { ttsKey: null });
    // Same tenant as `keyless`: a project of theirs with a key caches the line first.
    const withKey = await createTestProject(services.prisma, keyless, {
      azure_tts_key: 'tenant-key',
      azure_tts_region: 'eastus',
    });
    const body = { ...GUIDE_BODY, text: uniqueText() };
    expect(
      (await audition(body, { account: keyless, projectId: withKey })).response.headers.get('x-cache-status'),
    ).toBe('MISS');
    const hit = await audition(body, { account: keyless });
    expect(hit.status).toBe(200);
    expect(hit.response.headers.get('x-cache-status')).toBe('HIT-L2');
  });

  it('falls back to the service’s own key for a project without one', async () => {
    const withDefault = servicesWith({ AZURE_SPEECH_KEY: 'service-default-key' });
    try {
      const keyless = await createTestAccount(await withDefault.db.client(), withDefault.config.jwt.secretKey, {
        ttsKey: null,
      });
      const result = await audition({ ...GUIDE_BODY, text: uniqueText() }, { account: keyless, services: withDefault });
      expect(result.status).toBe(200);
      expect(standIn.received.at(-1)!.key).toBe('service-default-key');
    } finally {
      await withDefault.close();
    }
  });

  it('synthesizes with the key where the web UI stores it, else the guide’s flat key, else the service’s own', async () => {
    const withDefault = servicesWith({ AZURE_SPEECH_KEY: 'service-default-key' });
    try {
      const secret = withDefault.config.jwt.secretKey;
      const ui = await createTestAccount(await withDefault.db.client(), secret, {
        ttsKey: 'ui-key',
        ttsKeyAt: 'creds',
      });
      const flat = await createTestAccount(await withDefault.db.client(), secret, {
        ttsKey: 'flat-key',
        ttsKeyAt: 'flat',
      });
      const none = await createTestAccount(await withDefault.db.client(), secret, { ttsKey: null });
      // Both places filled in (the UI's newer value, the guide's older one): the UI's wins.
      const both = await createTestProject(await withDefault.db.client(), ui, {
        creds: { tts: { azure: { key: 'ui-key-2', region: 'westeurope' } }, storage: { azure: { account: 'x' } } },
        azure_tts_key: 'stale-flat-key',
        azure_tts_region: 'eastus',
      });
      const keyUsed = async (account: TestAccount, projectId = account.projectId) => {
        const result = await audition(
          { ...GUIDE_BODY, text: uniqueText() },
          { account, projectId, services: withDefault },
        );
        expect(result.status).toBe(200);
        return standIn.received.at(-1)!.key;
      };
      expect(await keyUsed(ui)).toBe('ui-key');
      expect(await keyUsed(flat)).toBe('flat-key');
      expect(await keyUsed(none)).toBe('service-default-key');
      expect(await keyUsed(ui, both)).toBe('ui-key-2');
    } finally {
      await withDefault.close();
    }
  });

  it('heals an entry whose blob was deleted, and one that expired', async () => {
    // Without the memory tier, so every hit reads the index and the blob.
    const l2Only = servicesWith({ MEMORY_CACHE_MB: '0' });
    try {
      const text = uniqueText();
      const first = await audition({ ...GUIDE_BODY, text }, { services: l2Only });
      const [row] = await services.prisma.audioCache.findMany({ where: { text } });
      await l2Only.blobStore.delete(row!.audioBlobPath);

      const healed = await audition({ ...GUIDE_BODY, text }, { services: l2Only });
      expect(healed.response.headers.get('x-cache-status')).toBe('MISS');
      expect(healed.bytes.equals(first.bytes)).toBe(true);
      const hit = await audition({ ...GUIDE_BODY, text }, { services: l2Only });
      expect(hit.response.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(hit.response.headers.get('server-timing')).toMatch(/^tier;desc=l2, /);

      await l2Only.hits.flush(); // that hit counts for the entry it was served from
      await services.prisma.audioCache.update({
        where: { id: row!.id },
        data: { expiresAt: new Date(Date.now() - 1000) },
      });
      const renewed = await audition({ ...GUIDE_BODY, text }, { services: l2Only });
      expect(renewed.response.headers.get('x-cache-status')).toBe('MISS');
      await l2Only.hits.flush();
      const after = await services.prisma.audioCache.findUniqueOrThrow({ where: { id: row!.id } });
      expect(after.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
      expect(after.hitCount).toBe(0);
    } finally {
      await l2Only.close();
    }
  });

  it('streams a long stored line from Blob Storage as it arrives: length, ETag and duration from the entry, memory filled as it passes', async () => {
    const long = await encodeToneMp3(30);
    const longStandIn = await startSpeechStandIn(long);
    // Two instances on one container: one stores the line, the other (empty memory) plays it from L2.
    const container = `test-${randomBytes(6).toString('hex')}`;
    const writer = servicesWith({ AZURE_SPEECH_HOST: longStandIn.host, AZURE_STORAGE_CONTAINER_NAME: container });
    const reader = servicesWith({ AZURE_SPEECH_HOST: longStandIn.host, AZURE_STORAGE_CONTAINER_NAME: container });
    try {
      const body = { ...GUIDE_BODY, text: uniqueText() };
      const miss = await audition(body, { services: writer });
      expect(miss.response.headers.get('x-cache-status')).toBe('MISS');
      await writer.close(); // stored
      const [row] = await services.prisma.audioCache.findMany({ where: { text: body.text } });
      // Azurite hands this blob over in more than one piece, so the hit below is streamed.
      const pieces = [];
      for await (const piece of (await reader.blobStore.get(row!.audioBlobPath)).stream) pieces.push(piece);
      expect(pieces.length).toBeGreaterThan(1);

      const streamed = await audition(body, { services: reader });
      expect(streamed.status).toBe(200);
      expect(streamed.response.headers.get('x-cache-status')).toBe('HIT-L2');
      expect(streamed.response.headers.get('server-timing')).toMatch(/^tier;desc=l2, /);
      expect(streamed.response.headers.get('content-length')).toBe(String(long.length));
      expect(streamed.response.headers.get('etag')).toBe(miss.response.headers.get('etag'));
      expect(Number(streamed.response.headers.get('x-audio-duration'))).toBeCloseTo(row!.audioDurationSeconds!, 3);
      expect(streamed.bytes.equals(long)).toBe(true);
      // All of it passed: the next play is served from this instance's memory.
      const again = await audition(body, { services: reader });
      expect(again.response.headers.get('server-timing')).toMatch(/^tier;desc=memory, /);
      expect(again.bytes.equals(long)).toBe(true);
    } finally {
      await reader.close();
      await longStandIn.stop();
    }
  });

  it('shares one synthesis among 20 concurrent identical misses', async () => {
    standIn.behave({ kind: 'audio', delayMs: 200 });
    const before = standIn.received.length;
    const body = { ...GUIDE_BODY, text: uniqueText() };
    const results = await Promise.all(Array.from({ length: 20 }, () => audition(body)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect(standIn.received.length - before).toBe(1);
    expect(results.every((r) => r.bytes.equals(tone))).toBe(true);
    expect(await services.prisma.audioCache.count({ where: { text: body.text } })).toBe(1);
  });

  it('fails open when Blob Storage goes away: BYPASS with the audio, and back to normal after', async () => {
    const azurite = await startAzurite();
    let restarted: Awaited<ReturnType<typeof startAzurite>> | undefined;
    const flaky = servicesWith({ AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString, MEMORY_CACHE_MB: '0' });
    try {
      const cached = { ...GUIDE_BODY, text: uniqueText() };
      expect((await audition(cached, { services: flaky })).response.headers.get('x-cache-status')).toBe('MISS');
      await azurite.stop();

      const hitWithoutBlob = await audition(cached, { services: flaky });
      expect(hitWithoutBlob.status).toBe(200);
      expect(hitWithoutBlob.response.headers.get('x-cache-status')).toBe('BYPASS');
      expect(hitWithoutBlob.bytes.equals(tone)).toBe(true);
      expect(hitWithoutBlob.logs.join('\n')).toMatch(/warning: audition cache: blob read failed/);

      // A new line is synthesized and streamed (so labelled MISS before the upload at its
      // end fails); nothing is cached. The same outage is not logged twice.
      const newLine = { ...GUIDE_BODY, text: uniqueText() };
      const missWithoutBlob = await audition(newLine, { services: flaky });
      expect(missWithoutBlob.status).toBe(200);
      expect(missWithoutBlob.bytes.equals(tone)).toBe(true);
      expect(missWithoutBlob.logs.join('\n')).not.toMatch(/warning: audition cache/);
      expect(await services.prisma.audioCache.count({ where: { text: newLine.text } })).toBe(0);

      // Storage is back (empty: it kept its blobs in memory): the row whose blob is gone heals,
      // and the end of the outage is logged once.
      restarted = await startAzurite({ port: azurite.port });
      const healed = await audition(cached, { services: flaky });
      expect(healed.response.headers.get('x-cache-status')).toBe('MISS');
      expect(healed.logs.join('\n')).toMatch(
        /information: Blob Storage answers again after [\d.]+ s of failures \(2 failed call\(s\)\)/,
      );
      expect((await audition(cached, { services: flaky })).response.headers.get('x-cache-status')).toBe('HIT-L2');
    } finally {
      await restarted?.stop();
      await azurite.stop();
      await flaky.close();
    }
  });

  it('never logs the token or the TTS key', async () => {
    const token = await account.token();
    const result = await audition({ ...GUIDE_BODY, text: uniqueText() }, { token });
    const logs = result.logs.join('\n');
    expect(logs).toMatch(/"function":"audition","status":200,"cache":"MISS"/);
    expect(logs).not.toContain(token);
    expect(logs).not.toMatch(/project-key-/);
    expect(logs).not.toContain(services.config.jwt.secretKey);
  });
});

function unsignedToken(payload: Record<string, unknown>): string {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode(payload)}.`;
}
