import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { withPgClient } from '../../tools/local-services/postgres-server.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

describe('the connection budget (DATABASE_POOL_MAX)', () => {
  let standIn: SpeechStandIn;
  let services: TestServices;
  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    // No memory tier: every hit reads the index, so hits compete for connections too.
    services = await createTestServices({
      AZURE_SPEECH_HOST: standIn.host,
      DATABASE_POOL_MAX: '3',
      MEMORY_CACHE_MB: '0',
    });
  });
  afterAll(async () => {
    await services.dispose();
    await standIn.stop();
  });

  it('holds every connection of an instance within the budget: 40 misses holding locks at once, and hits, on 3 connections', async () => {
    const account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const token = await account.token();
    const handler = createAuditionHandler(() => services);
    const audition = (text: string) =>
      invokeHttp(handler, {
        url: `http://localhost/api/v1/projects/${account.projectId}/characters/audition`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ voice: 'es-AR-ElenaNeural', text }),
        params: { projectId: account.projectId },
      }).then(async ({ response }) => ({
        status: response.status,
        cache: response.headers.get('x-cache-status'),
        bytes: (await response.arrayBuffer()).byteLength,
      }));

    // This instance's sessions on its database, sampled while the load runs (from another
    // database). Client backends only: an autovacuum worker on this database shows there too.
    const database = decodeURIComponent(new URL(services.database.url).pathname.slice(1));
    let peak = 0;
    let sampling = true;
    const sampler = withPgClient(inject('postgresAdminUrl'), async (client) => {
      while (sampling) {
        const { rows } = await client.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'",
          [database],
        );
        peak = Math.max(peak, rows[0]!.n);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    });

    standIn.behave({ kind: 'audio', delayMs: 400 }); // every miss holds its lock for 0.4 s
    standIn.resetStats();
    try {
      const lines = Array.from({ length: 40 }, (_, i) => `Línea ${i} del presupuesto de conexiones.`);
      const first = await Promise.all([...lines, ...lines.slice(0, 10)].map(audition));
      expect(first.filter((r) => r.status !== 200)).toEqual([]);
      expect(standIn.received).toHaveLength(40); // one synthesis per line, the repeats joined them
      const hits = await Promise.all(lines.map(audition));
      expect(hits.map((r) => r.cache)).toEqual(lines.map(() => 'HIT-L2'));
    } finally {
      sampling = false;
      await sampler;
      standIn.behave({ kind: 'audio' });
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(3);
  });
});
