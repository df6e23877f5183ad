import type { HttpResponse } from '@azure/functions';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConnectRetry } from '../../src/adapters/postgres/connect-retry.ts';
import { Database } from '../../src/adapters/postgres/prisma-client.ts';
import { PrismaSpeechBudget } from '../../src/adapters/postgres/prisma-speech-budget.ts';
import { PROBE_INTERVAL_MS, StallGuard } from '../../src/adapters/stall-guard.ts';
import { createServices, type BuiltServices } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createPrewarmHandler } from '../../src/handlers/prewarm-handler.ts';
import { createStatsHandler } from '../../src/handlers/stats-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { startTcpProxy, type TcpProxy } from '../../tools/local-services/tcp-proxy.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testSettings } from '../support/test-services.ts';

/** One minute before midnight UTC, on the injected clock. */
const NOW = new Date('2031-03-01T23:59:00Z');
const DAY = '2031-03-01';

/** A 1-character line with every prosody option: what Azure bills is its markup. */
const ALL_PROSODY = { text: 'a', style: 'cheerful', styledegree: 1.5, rate_pct: 10, pitch_pct: 5 };

/**
 * What Azure bills for an SSML the speech stand-in received, counted here apart from the code
 * (src/audition/ssml.ts billableCharacters): the code points between `<voice …>` and `</voice>`,
 * each Chinese character (Unicode's Han script) twice.
 */
function billedBy(ssml: string): number {
  const inside = /<voice name="[^"]*">(.*)<\/voice><\/speak>$/s.exec(ssml)?.[1];
  expect(inside).toBeTypeOf('string');
  return [...inside!].length + (inside!.match(/\p{Script=Han}/gu)?.length ?? 0);
}

let standIn: SpeechStandIn;
let database: TestDatabase;
beforeAll(async () => {
  standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
  database = await createTestDatabase('migrated');
});
afterAll(async () => {
  await standIn.stop();
  await database.drop();
});

/** The app's services on the suite's database and speech stand-in, on the injected clock. */
function servicesWith(
  charsPerDay: number,
  clock: () => Date,
  overrides: { speechBudget?: PrismaSpeechBudget; settings?: NodeJS.ProcessEnv } = {},
): BuiltServices {
  const settings = testSettings(database.url, {
    AZURE_SPEECH_HOST: standIn.host,
    AZURE_SPEECH_KEY: 'operator-key',
    AZURE_SPEECH_REGION: 'eastus',
    DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY: String(charsPerDay),
    ...overrides.settings,
  });
  return createServices(parseConfig(settings), { now: clock, speechBudget: overrides.speechBudget });
}

const token = (who: TestAccount) => who.token({}, { expiresIn: '3650d' }); // valid on the injected clock

/** The guide's route: the body's settings, the voice es-AR-ElenaNeural unless the body names one. */
async function audition(services: BuiltServices, who: TestAccount, body: object, projectId = who.projectId) {
  const { response } = await invokeHttp(
    createAuditionHandler(() => services),
    {
      url: `http://localhost/api/v1/projects/${projectId}/characters/audition`,
      headers: { authorization: `Bearer ${await token(who)}`, 'content-type': 'application/json' },
      body: JSON.stringify({ voice: 'es-AR-ElenaNeural', ...body }),
      params: { projectId },
    },
  );
  return answerOf(services, response);
}

/** The web app's route, `…/voices/{voiceId}/audition`. */
async function voiceAudition(services: BuiltServices, who: TestAccount, voiceId: string, body: object) {
  const { response } = await invokeHttp(
    createAuditionHandler(() => services, 'voices'),
    {
      url: `http://localhost/api/v1/projects/${who.projectId}/voices/${voiceId}/audition`,
      headers: { authorization: `Bearer ${await token(who)}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      params: { projectId: who.projectId, voiceId },
    },
  );
  return answerOf(services, response);
}

async function answerOf(services: BuiltServices, response: HttpResponse) {
  const body = Buffer.from(await response.arrayBuffer());
  await services.auditions.drain();
  return {
    status: response.status,
    cache: response.headers.get('x-cache-status'),
    etag: response.headers.get('etag'),
    retryAfter: response.headers.get('retry-after'),
    contentType: response.headers.get('content-type'),
    body,
  };
}

describe('the daily budget on the service’s default key (DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY), real Postgres and Speech SDK', () => {
  let services: BuiltServices;
  let keyless: TestAccount;
  let clock = NOW;

  beforeAll(async () => {
    services = servicesWith(40, () => clock);
    keyless = await createTestAccount(await services.db.client(), services.config.jwt.secretKey, { ttsKey: null });
  });
  afterAll(() => services.close());

  it('serves a keyless project on the default key until today’s characters are used, then 429 until midnight UTC; cached lines and own keys are not limited', async () => {
    const line = (text: string) => ({ text });
    const first = line('Veinte letras justas'); // 20 characters, no markup: 20 billed
    expect(await audition(services, keyless, first)).toMatchObject({ status: 200, cache: 'MISS' });
    expect(await audition(services, keyless, line('Otras veinte letras.'))).toMatchObject({
      status: 200,
      cache: 'MISS',
    });
    const received = standIn.received.length;
    expect(standIn.received.at(-1)!.key).toBe('operator-key');

    const refused = await audition(services, keyless, line('Una línea más'));
    expect(refused).toMatchObject({ status: 429, retryAfter: '60', contentType: 'application/problem+json' });
    const problem = JSON.parse(refused.body.toString()) as { status: number; detail: string };
    expect(problem.status).toBe(429);
    expect(problem.detail).toMatch(/own Azure Speech key/);
    expect(standIn.received.length).toBe(received); // nothing synthesized, nothing spent

    // What is cached still plays.
    expect(await audition(services, keyless, first)).toMatchObject({ status: 200, cache: 'HIT-L2' });
    // A project of the same tenant with its own key is not limited by the service's budget.
    const ownKey = await createTestProject(await services.db.client(), keyless, {
      azure_tts_key: 'tenant-key',
      azure_tts_region: 'eastus',
    });
    expect(await audition(services, keyless, line('Con la clave del proyecto'), ownKey)).toMatchObject({
      status: 200,
      cache: 'MISS',
    });
    expect(standIn.received.at(-1)!.key).toBe('tenant-key');
    // Another tenant has its own budget.
    const other = await createTestAccount(await services.db.client(), services.config.jwt.secretKey, { ttsKey: null });
    expect(await audition(services, other, line('Otro inquilino'))).toMatchObject({ status: 200, cache: 'MISS' });

    // The stats show the tenant's use of the default key today.
    const { response } = await invokeHttp(
      createStatsHandler(() => services),
      {
        method: 'GET',
        url: 'http://localhost/api/v1/audio-cache/stats',
        headers: { authorization: `Bearer ${await token(keyless)}` },
      },
    );
    expect(((await response.json()) as { defaultKey: unknown }).defaultKey).toEqual({
      charactersPerDay: 40,
      usedToday: 40,
      remainingToday: 0,
    });

    // A new UTC day, a new budget.
    clock = new Date('2031-03-02T00:00:01Z');
    expect(await audition(services, keyless, line('Una línea más'))).toMatchObject({ status: 200, cache: 'MISS' });
  });
});

describe('what the budget counts: what Azure bills for the SSML the speech service receives', () => {
  const CHARS_PER_DAY = 1_000;
  let services: BuiltServices;
  beforeAll(() => {
    services = servicesWith(CHARS_PER_DAY, () => NOW);
  });
  afterAll(() => services.close());

  const keylessAccount = async () =>
    createTestAccount(await services.db.client(), services.config.jwt.secretKey, { ttsKey: null });
  const used = (who: TestAccount) => services.speechBudget.used(who.tenantId, DAY);

  it('reserves exactly the characters inside <voice> of the SSML the speech stand-in received: the markup, and Chinese characters twice', async () => {
    const keyless = await keylessAccount();
    const before = standIn.received.length;
    expect(await audition(services, keyless, ALL_PROSODY)).toMatchObject({ status: 200, cache: 'MISS' });
    expect(standIn.received).toHaveLength(before + 1);
    const sent = standIn.received.at(-1)!;
    expect(sent.key).toBe('operator-key');
    const billed = billedBy(sent.ssml);
    expect(await used(keyless)).toBe(billed);
    expect(billed).toBe(116); // the text is 1 character
    console.log(
      `1-character line with style, styledegree, rate and pitch: counted ${billed}, ` +
        `characters inside <voice> sent to the speech stand-in ${billed} (text ${[...ALL_PROSODY.text].length})`,
    );

    // Chinese characters count twice (the web app's route, a zh-CN voice).
    const zh = await voiceAudition(services, keyless, 'zh-CN-XiaoxiaoNeural', { text: '你好，世界。', rate_pct: -20 });
    expect(zh).toMatchObject({ status: 200, cache: 'MISS' });
    const zhBilled = billedBy(standIn.received.at(-1)!.ssml);
    expect(zhBilled).toBe('<prosody rate="-20%"></prosody>'.length + 4 * 2 + 2);
    expect(await used(keyless)).toBe(billed + zhBilled);
  });

  it('refuses (429) a tenant’s 1-character auditions with every prosody option once the billed characters reach the budget, never after spending past it', async () => {
    const keyless = await keylessAccount();
    const before = standIn.received.length;
    const statuses: number[] = [];
    // Thirty different lines (each rate its own audio), as a script would send them.
    for (let rate = 1; rate <= 30; rate++) {
      statuses.push((await audition(services, keyless, { ...ALL_PROSODY, rate_pct: rate })).status);
    }
    const sent = standIn.received.slice(before);
    const billed = sent.map((synthesis) => billedBy(synthesis.ssml));
    const spent = billed.reduce((sum, n) => sum + n, 0);
    // Everything the speech service received was counted, and the count stayed within the budget...
    expect(await used(keyless)).toBe(spent);
    expect(spent).toBeLessThanOrEqual(CHARS_PER_DAY);
    // ...and the first refusal came when the next line would not fit, never later: 8 of 30 (counting the
    // text, as before, all 30 went through, and 1,000 of them a day would).
    const served = statuses.filter((status) => status === 200).length;
    expect(served).toBe(8);
    expect(statuses).toEqual([...Array<number>(8).fill(200), ...Array<number>(22).fill(429)]);
    expect(sent).toHaveLength(served);
    expect(spent + billed.at(-1)!).toBeGreaterThan(CHARS_PER_DAY); // the next line, as long as the last, did not fit
    console.log(
      `30 one-character all-prosody auditions on a ${CHARS_PER_DAY}-character budget: ${served} synthesized ` +
        `(${billed.join(' + ')} = ${spent} billed characters sent, ${await used(keyless)} counted), ${30 - served} refused (429)`,
    );
  });

  it('rounds rate_pct and pitch_pct to integers and styledegree to hundredths before the key: decimal spellings are one entry, one synthesis, one charge, on both routes and prewarm', async () => {
    const keyless = await keylessAccount();
    const before = standIn.received.length;
    const body = { text: 'b', style: 'cheerful', styledegree: 0.8, rate_pct: 10, pitch_pct: 5 };
    const first = await audition(services, keyless, body);
    expect(first).toMatchObject({ status: 200, cache: 'MISS' });
    const charged = await used(keyless);
    expect(standIn.received.at(-1)!.ssml).toContain('styledegree="0.8"><prosody rate="+10%" pitch="+5%">b<');

    const decimal = { ...body, styledegree: 0.800001, rate_pct: 10.000001, pitch_pct: 4.999999 };
    expect(await audition(services, keyless, decimal)).toMatchObject({
      status: 200,
      cache: 'HIT-L2',
      etag: first.etag,
    });
    const { text, style } = body;
    expect(
      await voiceAudition(services, keyless, 'es-AR-ElenaNeural', {
        text,
        style,
        style_degree: 0.7951,
        rate_pct: 9.6,
        pitch_pct: 5.4,
      }),
    ).toMatchObject({ status: 200, cache: 'HIT-L2', etag: first.etag });
    const { response } = await invokeHttp(
      createPrewarmHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${keyless.projectId}/characters/auditions/prewarm`,
        headers: { authorization: `Bearer ${await token(keyless)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ auditions: [{ voice: 'es-AR-ElenaNeural', ...body, rate_pct: 10.4 }] }),
        params: { projectId: keyless.projectId },
      },
    );
    expect(await response.json()).toMatchObject({ created: 0, cached: 1, failed: 0 });
    // -0 and a rate that rounds to 0 are no rate at all: the entry of the plain line.
    const plain = await audition(services, keyless, { text: 'c' });
    expect(plain).toMatchObject({ status: 200, cache: 'MISS' });
    expect(await audition(services, keyless, { text: 'c', rate_pct: -0.4, pitch_pct: -0 })).toMatchObject({
      status: 200,
      cache: 'HIT-L2',
      etag: plain.etag,
    });

    expect(standIn.received).toHaveLength(before + 2); // 'b' once, 'c' once
    expect(await used(keyless)).toBe(charged + 1);
  });
});

describe('a budget that cannot be read (its database down or not answering): the operator’s key is not spent', () => {
  let proxy: TcpProxy;
  let budgetClient: Database;
  let services: BuiltServices;
  let keyless: TestAccount;
  let ownKeyProject: string;
  /** The budget client's stall guard reads this instead of the monotonic clock. */
  let elapsedMs = 0;

  beforeAll(async () => {
    const url = new URL(database.url);
    proxy = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
    url.hostname = proxy.host;
    url.port = String(proxy.port);
    // The budget on its own client, through a proxy the test controls: the same table as always, on a database
    // that stops answering (paused) or refuses connections (closed), while the rest of the app's database works.
    budgetClient = Database.open(url.toString(), {
      maxConnections: 2,
      timeoutMs: 500,
      connectRetry: new ConnectRetry({ windowMs: 0 }),
      stallGuard: new StallGuard('the budget’s database', { elapsed: () => elapsedMs }),
    });
    services = servicesWith(1_000, () => NOW, { speechBudget: new PrismaSpeechBudget(budgetClient) });
    keyless = await createTestAccount(await services.db.client(), services.config.jwt.secretKey, { ttsKey: null });
    ownKeyProject = await createTestProject(await services.db.client(), keyless, {
      azure_tts_key: 'tenant-key',
      azure_tts_region: 'eastus',
    });
  });
  afterEach(() => proxy.resume());
  afterAll(async () => {
    await services.close();
    await budgetClient.close();
    await proxy.close();
  });

  /** A keyless line answers 503 + Retry-After and reaches no speech service; the project's own key still gets audio. */
  async function expectOperatorKeyUnspent(label: string) {
    const before = standIn.received.length;
    const refused = await audition(services, keyless, { text: `${label}: sin clave propia` });
    expect(refused).toMatchObject({ status: 503, retryAfter: '5', contentType: 'application/problem+json' });
    const problem = JSON.parse(refused.body.toString()) as { type: string; detail: string };
    expect(problem.type).toBe('https://khipu.studio/problems/unavailable');
    expect(problem.detail).toMatch(/own Azure Speech key/);
    expect(standIn.received).toHaveLength(before); // nothing reached the speech service

    const own = await audition(services, keyless, { text: `${label}: con la clave del proyecto` }, ownKeyProject);
    expect(own).toMatchObject({ status: 200, cache: 'MISS', contentType: 'audio/mpeg' });
    expect(own.body.length).toBeGreaterThan(0);
    expect(standIn.received).toHaveLength(before + 1);
    expect(standIn.received.at(-1)!.key).toBe('tenant-key');
  }

  it('answers a keyless project 503 + Retry-After while the budget’s database does not answer, then counts again once it does', async () => {
    expect(await audition(services, keyless, { text: 'Antes del corte' })).toMatchObject({
      status: 200,
      cache: 'MISS',
    });
    proxy.pause();
    await expectOperatorKeyUnspent('colgada');
    proxy.resume();
    elapsedMs += PROBE_INTERVAL_MS; // the next call is the stall guard's probe: the database answers it
    expect(await audition(services, keyless, { text: 'Después del corte' })).toMatchObject({
      status: 200,
      cache: 'MISS',
    });
    // The refused line's reservation had been sent when the database stopped answering; the database ran it
    // once it answered again. It stays counted though nothing was spent: whether a reservation whose answer never
    // came was applied cannot be known, and giving it back could count less than was spent.
    const counted = ['Antes del corte', 'colgada: sin clave propia', 'Después del corte'];
    await vi.waitFor(async () =>
      expect(await services.speechBudget.used(keyless.tenantId, DAY)).toBe(
        counted.reduce((sum, text) => sum + [...text].length, 0),
      ),
    );
  });

  it('answers a keyless project 503 + Retry-After while the budget’s database refuses connections', async () => {
    proxy.cutAll();
    await proxy.close(); // its port now refuses connections
    await expectOperatorKeyUnspent('caída');
  });
});

describe('the whole database not answering: a keyless project authorized moments ago is refused, not synthesized uncached on the operator’s key', () => {
  it('answers a keyless project’s new line 503 + Retry-After (before: BYPASS, uncounted), and a project with its own key BYPASS audio', async () => {
    const pg = await startTcpProxy({ host: new URL(database.url).hostname, port: Number(new URL(database.url).port) });
    const url = new URL(database.url);
    url.hostname = pg.host;
    url.port = String(pg.port);
    const services = servicesWith(1_000, () => NOW, {
      settings: {
        DATABASE_URL: url.toString(),
        DATABASE_TIMEOUT_SECONDS: '1',
        DATABASE_RECONNECT_SECONDS: '0',
        AUTH_CACHE_SECONDS: '600', // the callers were checked moments ago: their checks stand during the outage
      },
    });
    try {
      const keyless = await createTestAccount(await services.db.client(), services.config.jwt.secretKey, {
        ttsKey: null,
      });
      const ownKey = await createTestProject(await services.db.client(), keyless, {
        azure_tts_key: 'tenant-key',
        azure_tts_region: 'eastus',
      });
      expect(await audition(services, keyless, { text: 'Recién autorizada' })).toMatchObject({ cache: 'MISS' });
      expect(await audition(services, keyless, { text: 'Recién autorizado' }, ownKey)).toMatchObject({
        cache: 'MISS',
      });

      pg.pause();
      const before = standIn.received.length;
      const refused = await audition(services, keyless, { text: 'Sin base de datos' });
      expect(refused).toMatchObject({ status: 503, retryAfter: '5', contentType: 'application/problem+json' });
      expect(JSON.parse(refused.body.toString())).toMatchObject({
        detail: expect.stringMatching(/own Azure Speech key/),
      });
      expect(standIn.received).toHaveLength(before);
      const own = await audition(services, keyless, { text: 'Sin base de datos' }, ownKey);
      expect(own).toMatchObject({ status: 200, cache: 'BYPASS', contentType: 'audio/mpeg' });
      expect(standIn.received).toHaveLength(before + 1);
      expect(standIn.received.at(-1)!.key).toBe('tenant-key');
    } finally {
      pg.resume();
      // The instance's stall guard lets one call a second through: wait for it to find the database again.
      await vi.waitFor(() => services.pingDatabase(), { timeout: 15_000, interval: 200 });
      await services.close();
      await pg.close();
    }
  });
});
