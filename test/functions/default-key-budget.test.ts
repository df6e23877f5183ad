import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type BuiltServices } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createStatsHandler } from '../../src/handlers/stats-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testSettings } from '../support/test-services.ts';

/** One minute before midnight UTC, on the injected clock. */
const NOW = new Date('2031-03-01T23:59:00Z');

describe('the daily budget on the service’s default key (DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY), real Postgres and Speech SDK', () => {
  let standIn: SpeechStandIn;
  let database: TestDatabase;
  let services: BuiltServices;
  let keyless: TestAccount;
  let clock = NOW;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    database = await createTestDatabase('migrated');
    const settings = testSettings(database.url, {
      AZURE_SPEECH_HOST: standIn.host,
      AZURE_SPEECH_KEY: 'operator-key',
      AZURE_SPEECH_REGION: 'eastus',
      DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY: '40',
    });
    services = createServices(parseConfig(settings), { now: () => clock });
    keyless = await createTestAccount(services.prisma, services.config.jwt.secretKey, { ttsKey: null });
  });
  afterAll(async () => {
    await services.close();
    await database.drop();
    await standIn.stop();
  });

  const token = (who: TestAccount) => who.token({}, { expiresIn: '3650d' }); // valid on the injected clock

  async function audition(who: TestAccount, text: string, projectId = who.projectId) {
    const { response } = await invokeHttp(
      createAuditionHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${projectId}/characters/audition`,
        headers: { authorization: `Bearer ${await token(who)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
        params: { projectId },
      },
    );
    const body = Buffer.from(await response.arrayBuffer());
    await services.auditions.drain();
    return {
      status: response.status,
      cache: response.headers.get('x-cache-status'),
      retryAfter: response.headers.get('retry-after'),
      contentType: response.headers.get('content-type'),
      body,
    };
  }

  it('serves a keyless project on the default key until today’s characters are used, then 429 until midnight UTC; cached lines and own keys are not limited', async () => {
    const first = 'Veinte letras justas'; // 20 characters
    expect(await audition(keyless, first)).toMatchObject({ status: 200, cache: 'MISS' });
    expect(await audition(keyless, 'Otras veinte letras.')).toMatchObject({ status: 200, cache: 'MISS' });
    const received = standIn.received.length;
    expect(standIn.received.at(-1)!.key).toBe('operator-key');

    const refused = await audition(keyless, 'Una línea más');
    expect(refused).toMatchObject({ status: 429, retryAfter: '60', contentType: 'application/problem+json' });
    const problem = JSON.parse(refused.body.toString()) as { status: number; detail: string };
    expect(problem.status).toBe(429);
    expect(problem.detail).toMatch(/own Azure Speech key/);
    expect(standIn.received.length).toBe(received); // nothing synthesized, nothing spent

    // What is cached still plays.
    expect(await audition(keyless, first)).toMatchObject({ status: 200, cache: 'HIT-L2' });
    // A project of the same tenant with its own key is not limited by the service's budget.
    const ownKey = await createTestProject(services.prisma, keyless, {
      azure_tts_key: 'tenant-key',
      azure_tts_region: 'eastus',
    });
    expect(await audition(keyless, 'Con la clave del proyecto', ownKey)).toMatchObject({ status: 200, cache: 'MISS' });
    expect(standIn.received.at(-1)!.key).toBe('tenant-key');
    // Another tenant has its own budget.
    const other = await createTestAccount(services.prisma, services.config.jwt.secretKey, { ttsKey: null });
    expect(await audition(other, 'Otro inquilino')).toMatchObject({ status: 200, cache: 'MISS' });

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
    expect(await audition(keyless, 'Una línea más')).toMatchObject({ status: 200, cache: 'MISS' });
  });
});
