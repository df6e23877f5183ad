import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createStatsHandler } from '../../src/handlers/stats-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

describe('every database connection of the instance taken (pool exhausted)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    // DATABASE_POOL_MAX=1: the instance's one connection (leases go through it too).
    services = await createTestServices({ AZURE_SPEECH_HOST: standIn.host, DATABASE_POOL_MAX: '1' });
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });

  async function audition(account: TestAccount, text: string) {
    const { response } = await invokeHttp(
      createAuditionHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
        headers: { authorization: `Bearer ${await account.token()}`, 'content-type': 'application/json' },
        body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
        params: { projectId: account.projectId },
      },
    );
    await response.arrayBuffer();
    return {
      status: response.status,
      cache: response.headers.get('x-cache-status'),
      retryAfter: response.headers.get('retry-after'),
    };
  }

  async function stats(account: TestAccount) {
    const { response } = await invokeHttp(
      createStatsHandler(() => services),
      {
        method: 'GET',
        url: 'http://localhost/api/v1/audio-cache/stats',
        headers: { authorization: `Bearer ${await account.token()}` },
      },
    );
    return { status: response.status, retryAfter: response.headers.get('retry-after') };
  }

  it('serves what it can without the database, answers the rest with documented statuses (never 500), then recovers by itself', async () => {
    const known = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const stranger = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    // A known caller, authorized (cached for AUTH_CACHE_SECONDS), with a line in memory.
    expect(await audition(known, 'Una línea que ya se escuchó.')).toMatchObject({ status: 200, cache: 'MISS' });
    await services.auditions.drain();

    // Something holds the only query connection longer than a request may wait for it (5 s):
    // a transaction kept open (no statement runs on it, so no statement deadline ends it).
    let hogDone = false;
    let holding = false;
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => (letGo = resolve));
    const hog = services.prisma
      .$transaction(
        async (tx) => {
          await tx.$executeRaw`SELECT 1`;
          holding = true;
          await held;
        },
        { timeout: 60_000 },
      )
      .then(() => (hogDone = true));
    await vi.waitFor(() => expect(holding).toBe(true), { timeout: 10_000 });

    const [hot, fresh, refused, figures] = await Promise.all([
      audition(known, 'Una línea que ya se escuchó.'),
      audition(known, 'Una línea nueva mientras tanto.'),
      audition(stranger, 'Alguien que nunca preguntó.'),
      stats(known),
    ]);
    expect(hogDone).toBe(false); // every answer came while the connection was still taken
    expect(hot).toMatchObject({ status: 200, cache: 'HIT-L2' }); // memory, and the cached authorization
    expect(fresh).toMatchObject({ status: 200, cache: 'BYPASS' }); // the index waited, then the cache failed open
    expect(refused).toMatchObject({ status: 503, retryAfter: '5' }); // authorization fails closed
    expect(figures).toMatchObject({ status: 503, retryAfter: '5' });

    letGo();
    await hog;
    // Nothing restarted: the pool gives the connection back and everything works again.
    expect(await audition(stranger, 'Alguien que nunca preguntó.')).toMatchObject({ status: 200, cache: 'MISS' });
    expect(await stats(known)).toMatchObject({ status: 200 });
  });
});
