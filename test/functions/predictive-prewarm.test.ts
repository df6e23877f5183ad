import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServices, type BuiltServices } from '../../src/app/services.ts';
import { parseConfig } from '../../src/config.ts';
import { auditionOf, voiceLocale } from '../../src/domain/audition.ts';
import { defaultAuditionLine } from '../../src/domain/default-audition-line.ts';
import { createAuditionHandler } from '../../src/handlers/audition-handler.ts';
import { createStatsHandler } from '../../src/handlers/stats-handler.ts';
import { startSpeechStandIn, type SpeechStandIn } from '../../tools/local-services/speech-stand-in.ts';
import { encodeToneMp3 } from '../../tools/local-services/tone-mp3.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { invokeHttp } from '../support/invoke-http.ts';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { testSettings } from '../support/test-services.ts';

// Predictive prewarm through the audition function, on real Postgres, Azurite and the Speech SDK against the
// stand-in: the casting page's clicks, the figures the stats endpoint reports, the budget, the claim across
// instances, the opt-out. The rules one by one, on twins: test/audition/predictive-prewarm.test.ts.

const NOW = new Date('2031-03-01T10:00:00Z');
const CAP = 6;

describe('predictive prewarm of the default lines (real Postgres, Azurite, Speech SDK)', () => {
  let standIn: SpeechStandIn;
  let database: TestDatabase;
  let services: BuiltServices;
  let account: TestAccount;
  const logged: string[] = [];
  const log = { info: (l: string) => logged.push(l), warn: (l: string) => logged.push(l), error: () => {} };
  const settingsFor = (extra: NodeJS.ProcessEnv = {}) =>
    testSettings(database.url, {
      AZURE_SPEECH_HOST: standIn.host,
      AZURE_SPEECH_KEY: 'operator-key',
      AZURE_SPEECH_REGION: 'eastus',
      PREDICTIVE_PREWARM_MAX_VOICES: String(CAP),
      PREDICTIVE_PREWARM_CONCURRENCY: '1', // one at a time, so the stand-in hears them in prewarm order
      DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY: '300',
      ...extra,
    });

  beforeAll(async () => {
    standIn = await startSpeechStandIn(await encodeToneMp3(0.3));
    database = await createTestDatabase('migrated');
    services = createServices(parseConfig(settingsFor()), { now: () => NOW, log });
    account = await createTestAccount(await services.db.client(), services.config.jwt.secretKey, {
      ttsKey: 'casting-key',
    });
  });
  afterAll(async () => {
    await services.close();
    await database.drop();
    await standIn.stop();
  });

  const token = (who: TestAccount) => who.token({}, { expiresIn: '3650d' }); // valid on the injected clock

  /** The casting page's click: `POST …/voices/{voice}/audition` with `{}`. */
  async function click(voice: string, who = account, projectId = who.projectId, on = services) {
    const { response } = await invokeHttp(
      createAuditionHandler(() => on, 'voices'),
      {
        url: `http://localhost/api/v1/projects/${projectId}/voices/${voice}/audition`,
        headers: { authorization: `Bearer ${await token(who)}`, 'content-type': 'application/json' },
        body: '{}',
        params: { projectId, voiceId: voice },
      },
    );
    await response.arrayBuffer();
    await on.auditions.drain();
    return { status: response.status, cache: response.headers.get('x-cache-status') };
  }

  const spokenVoices = (from: number) =>
    standIn.received.slice(from).map((r) => /<voice name="([^"]+)"/.exec(r.ssml)?.[1]);
  const runLines = () => logged.filter((l) => l.startsWith('prewarm: predictive run '));

  it('a casting session: after the first Spanish voice, the next four are HIT-L2, and the stats show what it spent and served', async () => {
    const before = standIn.received.length;
    expect(await click('es-PE-CamilaNeural')).toEqual({ status: 200, cache: 'MISS' });
    await services.predictive.idle();
    const prewarmed = spokenVoices(before + 1) as string[];
    expect(prewarmed).toHaveLength(CAP);
    expect(prewarmed[0]).toMatch(/^es-PE-/); // the voice's own locale first
    expect(prewarmed.every((voice) => voice.startsWith('es-'))).toBe(true);
    expect(new Set(standIn.received.slice(before).map((r) => r.key))).toEqual(new Set(['casting-key']));

    const next = prewarmed.slice(0, 4);
    const answers = [];
    for (const voice of next) answers.push(await click(voice));
    expect(answers).toEqual(next.map(() => ({ status: 200, cache: 'HIT-L2' })));
    expect(standIn.received.length - before).toBe(1 + CAP);

    await services.hits.flush();
    const { response } = await invokeHttp(
      createStatsHandler(() => services),
      {
        url: 'http://localhost/api/v1/audio-cache/stats',
        headers: { authorization: `Bearer ${await token(account)}` },
      },
    );
    const stats = (await response.json()) as { last24h: { predictive: Record<string, number> } };
    const characters = prewarmed.reduce((sum, v) => sum + [...defaultAuditionLine(v, voiceLocale(v)!)].length, 0);
    expect(stats.last24h.predictive).toEqual({
      syntheses: CAP,
      characters,
      dollars: Math.round((characters / 1e6) * 16 * 1e4) / 1e4,
      hits: 4,
    });
  });

  it('runs once per tenant and language across instances: another instance, another voice of the language, no second run', async () => {
    const other = createServices(parseConfig({ ...settingsFor(), JWT_SECRET_KEY: services.config.jwt.secretKey }), {
      now: () => NOW,
      log,
    });
    try {
      const before = standIn.received.length;
      // A Spanish voice past the cap: its own miss, and nothing more.
      expect(await click('es-MX-JorgeNeural', account, account.projectId, other)).toMatchObject({ cache: 'MISS' });
      await other.predictive.idle();
      expect(spokenVoices(before)).toEqual(['es-MX-JorgeNeural']);
    } finally {
      await other.close();
    }
  });

  it('counts against the default key’s daily budget and stops there, never past it', async () => {
    const keyless = await createTestAccount(await services.db.client(), services.config.jwt.secretKey, {
      ttsKey: null,
    });
    const runsBefore = runLines().length;
    expect(await click('fr-FR-DeniseNeural', keyless)).toEqual({ status: 200, cache: 'MISS' });
    await services.predictive.idle();
    const used = await services.speechBudget.used(keyless.tenantId, '2031-03-01');
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThanOrEqual(300);
    const run = JSON.parse(runLines()[runsBefore]!.slice('prewarm: predictive run '.length)) as Record<string, unknown>;
    expect(run).toMatchObject({ tenant: keyless.tenantId, language: 'fr', stoppedBy: 'tts-budget-exceeded' });
    expect(run.created).toBeLessThan(CAP);
  });

  it('leaves a project that opted out alone', async () => {
    const tenant = await createTestAccount(await services.db.client(), services.config.jwt.secretKey);
    const optedOut = await createTestProject(await services.db.client(), tenant, {
      creds: { tts: { azure: { key: 'own-key', region: 'eastus' } } },
      audition_cache: { predictive_prewarm: false },
    });
    const before = standIn.received.length;
    expect(await click('de-DE-KatjaNeural', tenant, optedOut)).toEqual({ status: 200, cache: 'MISS' });
    await services.predictive.idle();
    expect(standIn.received.length - before).toBe(1);
  });

  it('stops at the speech service’s first throttle', async () => {
    const tenant = await createTestAccount(await services.db.client(), services.config.jwt.secretKey);
    // The trigger's line is cached already (a prewarm, which sets nothing off): its play is a HIT-L2, which sets off
    // the run, while the speech service throttles every synthesis.
    const caller = await services.access.authenticate(`Bearer ${await token(tenant)}`);
    const project = await services.access.authorizeProject(caller, tenant.projectId);
    const audition = auditionOf({ voice: 'it-IT-ElsaNeural', locale: 'it-IT', text: undefined, style: null });
    await services.auditions.prewarm({ caller, project, audition, log });
    const runsBefore = runLines().length;
    standIn.behave({ kind: 'close', code: 4429, reason: 'Throttled due to too many requests' });
    try {
      expect(await click('it-IT-ElsaNeural', tenant)).toEqual({ status: 200, cache: 'HIT-L2' });
      await services.predictive.idle();
    } finally {
      standIn.behave({ kind: 'audio' });
    }
    const run = JSON.parse(runLines()[runsBefore]!.slice('prewarm: predictive run '.length)) as Record<string, unknown>;
    expect(run).toMatchObject({ language: 'it', created: 0, stoppedBy: 'tts-throttled' });
  });
});
