import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CacheCleanup } from '../../src/cleanup/clean-cache.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

describe('tenancy and secrets', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  let alice: TestAccount; // tenant A
  let bob: TestAccount; // tenant B
  const logs: string[] = [];
  const SERVICE_KEY = `service-default-key-${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.4));
    services = await createTestServices({
      AZURE_SPEECH_HOST: standIn.host,
      AZURE_SPEECH_KEY: SERVICE_KEY,
      TTS_TIMEOUT_SECONDS: '1',
    });
    alice = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    bob = await createTestAccount(services.prisma, services.config.jwt.secretKey);
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });

  async function audition(
    who: TestAccount,
    body: object,
    options: { projectId?: string; headers?: Record<string, string>; token?: string } = {},
  ) {
    const projectId = options.projectId ?? who.projectId;
    const { response, logs: lines } = await invokeHttp(
      createAuditionHandler(() => services),
      {
        url: `http://localhost/api/v1/projects/${projectId}/characters/audition`,
        headers: {
          authorization: `Bearer ${options.token ?? (await who.token())}`,
          'content-type': 'application/json',
          ...options.headers,
        },
        body: JSON.stringify(body),
        params: { projectId },
      },
    );
    logs.push(...lines);
    return {
      status: response.status,
      cache: response.headers.get('x-cache-status'),
      etag: response.headers.get('etag'),
      body: Buffer.from(await response.arrayBuffer()),
    };
  }

  it('never gives one tenant’s audio, or spends its key, for another tenant, by any path', async () => {
    const line = { voice: 'es-AR-ElenaNeural', text: `Secreto de Alice ${randomBytes(4).toString('hex')}` };
    const alices = await audition(alice, line);
    expect(alices.cache).toBe('MISS');
    const alicesKey = standIn.received.at(-1)!.key;

    // By project id: Alice's project is not Bob's, whatever he asks for.
    expect((await audition(bob, line, { projectId: alice.projectId })).status).toBe(404);
    // By the same line: Bob's request is a miss of his own (so its timing says nothing about
    // Alice's cache), paid with Bob's project key, never Alice's.
    const bobs = await audition(bob, line);
    expect(bobs.cache).toBe('MISS');
    expect(standIn.received.at(-1)!.key).not.toBe(alicesKey);
    expect(bobs.etag).not.toBe(alices.etag);
    // By ETag: presenting Alice's ETag changes nothing (no conditional answers that could
    // confirm what another tenant has cached).
    const withEtag = await audition(bob, line, {
      headers: { 'if-none-match': alices.etag!, 'if-match': alices.etag! },
    });
    expect(withEtag.status).toBe(200);
    expect(withEtag.etag).toBe(bobs.etag);
    // Nothing in Bob's answers names Alice's tenant or key.
    for (const answer of [bobs, withEtag]) expect(answer.body.toString('latin1')).not.toContain(alice.tenantId);
  });

  it('logs no TTS key, no token and no signing secret across misses, hits, failures and cleanup', async () => {
    const tokens = [await alice.token(), await bob.token()];
    const text = `Registro ${randomBytes(4).toString('hex')}`;
    await audition(alice, { voice: 'es-AR-ElenaNeural', text }, { token: tokens[0] }); // miss
    await audition(alice, { voice: 'es-AR-ElenaNeural', text }, { token: tokens[0] }); // hit
    standIn.behave({ kind: 'reject-upgrade', status: 401 });
    await audition(bob, { voice: 'es-AR-ElenaNeural', text: `${text} 2` }, { token: tokens[1] }); // key rejected
    standIn.behave({ kind: 'hang' });
    await audition(bob, { voice: 'es-AR-ElenaNeural', text: `${text} 3` }, { token: tokens[1] }); // timeout
    standIn.behave({ kind: 'audio' });
    await audition(bob, { voice: 'nope', text }, { token: tokens[1] }); // invalid
    await audition(bob, { voice: 'es-AR-ElenaNeural', text }, { token: 'x.y.z' }); // unauthorized
    const log = (...args: unknown[]) => logs.push(args.join(' '));
    await new CacheCleanup(
      {
        maintenance: services.maintenance,
        leases: services.leases,
        blobStore: services.blobStore,
        stats: services.statsReader,
      },
      { maxEntriesPerTenant: 1, pricePerMillionChars: 16, now: () => new Date() },
    ).run({ info: log, warn: log, error: log });

    const all = logs.join('\n');
    expect(all).toMatch(/"function":"audition","status":200,"cache":"MISS"/);
    expect(all).toMatch(/"function":"audition","status":200,"cache":"HIT-L2"/);
    expect(all).toMatch(/Running audio cache cleanup/);
    const secrets = [
      services.config.jwt.secretKey,
      SERVICE_KEY,
      ...tokens,
      ...standIn.received.map((r) => r.key!).filter(Boolean),
    ];
    for (const secret of secrets) expect(all).not.toContain(secret);
    expect(all).not.toContain(text); // the user's text is not logged either
  });
});
