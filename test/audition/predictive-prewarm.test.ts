import { afterEach, describe, expect, it } from 'vitest';
import { AuditionService } from '../../src/audition/audition-service.ts';
import { PredictivePrewarm, type KnownVoice, type VoiceCatalog } from '../../src/audition/predictive-prewarm.ts';
import { HitRecorder } from '../../src/cache/hit-recorder.ts';
import { auditionOf, type Audition } from '../../src/domain/audition.ts';
import type { Caller, ProjectAccess } from '../../src/ports/account-directory.ts';
import { auditionDeps } from '../support/required-deps.ts';
import { MemoryAudioCacheIndex } from '../twins/memory-audio-cache-index.ts';
import { MemoryBlobStore } from '../twins/memory-blob-store.ts';
import { MemoryCacheDatabase } from '../twins/memory-cache-database.ts';
import { MemoryPredictiveRuns } from '../twins/memory-predictive-runs.ts';
import { MemorySpeechBudget } from '../twins/memory-speech-budget.ts';
import { MemorySynthesizer } from '../twins/memory-synthesizer.ts';

// Predictive prewarm on the ports' in-memory twins (each proven against its real backend by its contract suite), with
// the real audition use case underneath: what it stores, what it spends, when it stops. Through HTTP, Postgres,
// Azurite, the Speech SDK and a real browser: test/functions/predictive-prewarm.test.ts and test/e2e/.

const TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0001';
const caller: Caller = { userId: '0b6f0c1e-0000-4000-8000-000000000001', tenantId: TENANT, role: 'creator' };
const withKey: ProjectAccess = { id: 'p1', tenantId: TENANT, ttsKey: 'project-key', ttsRegion: 'eastus' };
const onDefaultKey: ProjectAccess = { id: 'p2', tenantId: TENANT };
const DAY_MS = 86_400_000;

const SPANISH: KnownVoice[] = [
  { name: 'es-PE-CamilaNeural', locale: 'es-PE' },
  { name: 'es-PE-AlexNeural', locale: 'es-PE' },
  { name: 'es-AR-ElenaNeural', locale: 'es-AR' },
  { name: 'es-AR-TomasNeural', locale: 'es-AR' },
  { name: 'es-ES-ElviraNeural', locale: 'es-ES' },
  { name: 'es-ES-AlvaroNeural', locale: 'es-ES' },
  { name: 'es-MX-DaliaNeural', locale: 'es-MX' },
  { name: 'es-MX-JorgeNeural', locale: 'es-MX' },
];
const ENGLISH: KnownVoice[] = [
  { name: 'en-US-AvaNeural', locale: 'en-US' },
  { name: 'en-GB-SoniaNeural', locale: 'en-GB' },
];

/** The catalog's rule (the inventory's own tests prove it on the shipped data): own locale first, then the rest. */
const catalog: VoiceCatalog = {
  otherVoices(voice, locale) {
    const language = locale.split('-')[0];
    const same = [...SPANISH, ...ENGLISH].filter((v) => v.name !== voice && v.locale.split('-')[0] === language);
    return [...same.filter((v) => v.locale === locale), ...same.filter((v) => v.locale !== locale)];
  },
};

const defaultLine = (voice: string): Audition =>
  auditionOf({ voice, locale: voice.split('-').slice(0, 2).join('-'), text: undefined, style: null });

const open: HitRecorder[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((hits) => hits.close()));
});

function setUp(
  options: { maxVoices?: number; concurrency?: number; maxConcurrency?: number; budgetChars?: number } = {},
) {
  const clock = { now: new Date('2031-03-01T10:00:00Z') };
  const now = () => clock.now;
  const infos: string[] = [];
  const warnings: string[] = [];
  const log = { info: (l: string) => infos.push(l), warn: (l: string) => warnings.push(l), error: () => {} };
  const database = new MemoryCacheDatabase(now);
  const index = new MemoryAudioCacheIndex(database);
  const hits = new HitRecorder(index, log, 60_000);
  open.push(hits);
  const synthesizer = new MemorySynthesizer();
  const budget = new MemorySpeechBudget();
  const auditions = new AuditionService(
    auditionDeps({
      index,
      blobStore: new MemoryBlobStore(now),
      synthesizer,
      hits,
      cache: { ttlDays: 30, lineLeaseMs: 6_000 },
      speech: {
        defaultKey: 'service-key',
        defaultRegion: 'westeurope',
        host: undefined,
        maxConcurrency: options.maxConcurrency ?? 4,
        queueWaitMs: 5_000,
        timeoutMs: 5_000,
        defaultKeyCharsPerTenantPerDay: options.budgetChars ?? 0,
      },
      budget,
      now,
    }),
  );
  const runs = new MemoryPredictiveRuns();
  const predictive = new PredictivePrewarm({
    auditions,
    voices: catalog,
    runs,
    credentialsFor: (project) =>
      project.ttsKey ? { key: project.ttsKey, region: project.ttsRegion } : { key: 'service-key' },
    settings: { maxVoices: options.maxVoices ?? 24, concurrency: options.concurrency ?? 2 },
    ttlDays: 30,
    log,
    now,
  });
  /** A casting-page click: the audition, then (as the handler does) the trigger. */
  const click = async (voice: string, project = withKey) => {
    const audition = defaultLine(voice);
    const answer = await auditions.getAudio({ caller, project, audition, log });
    if (!Buffer.isBuffer(answer.audio)) await new Response(answer.audio).arrayBuffer();
    predictive.afterAudition({ caller, project, audition });
    return answer;
  };
  const settle = async () => {
    await predictive.idle();
    await auditions.drain();
  };
  const predictiveLines = () => infos.filter((l) => l.startsWith('prewarm: predictive {'));
  return { clock, database, synthesizer, budget, auditions, predictive, click, settle, infos, predictiveLines, log };
}

const voicesSynthesized = (synthesizer: MemorySynthesizer) => synthesizer.received.map((r) => r.audition.voice);

describe('PredictivePrewarm', () => {
  it('after a default-line miss, stores the other voices of the language, the same locale first, then plays them as hits', async () => {
    const t = setUp({ concurrency: 1 });
    expect((await t.click('es-PE-CamilaNeural')).status).toBe('MISS');
    await t.settle();
    expect(voicesSynthesized(t.synthesizer)).toEqual([
      'es-PE-CamilaNeural',
      'es-PE-AlexNeural', // its own locale first
      'es-AR-ElenaNeural',
      'es-AR-TomasNeural',
      'es-ES-ElviraNeural',
      'es-ES-AlvaroNeural',
      'es-MX-DaliaNeural',
      'es-MX-JorgeNeural',
    ]);
    // Paid with the key the trigger used; each a predictive entry, logged as one.
    expect(new Set(t.synthesizer.received.map((r) => r.credentials?.key))).toEqual(new Set(['project-key']));
    expect(t.predictiveLines()).toHaveLength(7);
    expect(JSON.parse(t.predictiveLines()[0]!.slice('prewarm: predictive '.length))).toMatchObject({
      tenant: TENANT,
      voice: 'es-PE-AlexNeural',
      status: 'created',
    });
    expect(t.infos.some((l) => l.startsWith('prewarm: predictive run {'))).toBe(true);
    for (const voice of ['es-MX-DaliaNeural', 'es-AR-ElenaNeural', 'es-ES-ElviraNeural', 'es-PE-AlexNeural'])
      expect((await t.click(voice)).status, voice).toBe('HIT-L2');
    await t.settle();
    expect(t.synthesizer.calls).toBe(8); // and the clicks started no second run
  });

  it('never prewarms more than the cap per trigger', async () => {
    const t = setUp({ maxVoices: 3 });
    await t.click('es-PE-CamilaNeural');
    await t.settle();
    expect(t.synthesizer.calls).toBe(1 + 3);
    expect(voicesSynthesized(t.synthesizer).slice(1)).toEqual([
      'es-PE-AlexNeural',
      'es-AR-ElenaNeural',
      'es-AR-TomasNeural',
    ]);
  });

  it('runs once per tenant, language and line version within the entries’ lifetime, then again after it', async () => {
    const t = setUp({ maxVoices: 2 });
    await t.click('es-PE-CamilaNeural');
    await t.settle();
    await t.click('es-MX-JorgeNeural'); // another voice of the language: its own miss, no second run
    await t.settle();
    expect(t.synthesizer.calls).toBe(1 + 2 + 1);
    await t.click('en-US-AvaNeural'); // another language: its own run
    await t.settle();
    expect(voicesSynthesized(t.synthesizer).slice(4)).toEqual(['en-US-AvaNeural', 'en-GB-SoniaNeural']);
    // Past the lifetime (the entries expired too): the next default-line audition runs it again.
    t.clock.now = new Date(t.clock.now.getTime() + 31 * DAY_MS);
    const before = t.synthesizer.calls;
    await t.click('es-PE-CamilaNeural');
    await t.settle();
    expect(voicesSynthesized(t.synthesizer).slice(before)).toEqual([
      'es-PE-CamilaNeural',
      'es-PE-AlexNeural',
      'es-AR-ElenaNeural',
    ]);
  });

  it('is not set off by a text, a style, a rate or a pitch, by a project that opted out, or with the setting at 0', async () => {
    const t = setUp();
    const { auditions, predictive, log } = t;
    const asked = (audition: Audition, project: ProjectAccess = withKey) => {
      predictive.afterAudition({ caller, project, audition });
      return auditions.getAudio({ caller, project, audition, log });
    };
    const voice = 'es-PE-CamilaNeural';
    await asked({ ...defaultLine(voice), text: 'Hola, soy el narrador.' });
    await asked({ ...defaultLine(voice), style: 'cheerful' });
    await asked({ ...defaultLine(voice), ratePct: 10 });
    await asked({ ...defaultLine(voice), pitchPct: -5 });
    await asked(defaultLine(voice), { ...withKey, predictivePrewarm: false });
    await t.settle();
    expect(t.predictiveLines()).toEqual([]);
    const off = setUp({ maxVoices: 0 });
    await off.click(voice);
    await off.settle();
    expect(off.synthesizer.calls).toBe(1);
  });

  it('counts against the default key’s daily budget and stops at it, never past it', async () => {
    const line = defaultLine('es-PE-AlexNeural').text.length;
    // Room for the trigger and about two more lines of this length.
    const limit = defaultLine('es-PE-CamilaNeural').text.length + 2 * line + 5;
    const t = setUp({ budgetChars: limit, concurrency: 1 });
    await t.click('es-PE-CamilaNeural', onDefaultKey);
    await t.settle();
    const used = await t.budget.used(TENANT, '2031-03-01');
    expect(used).toBeLessThanOrEqual(limit);
    expect(t.synthesizer.calls).toBeLessThan(1 + SPANISH.length - 1);
    expect(t.synthesizer.calls).toBeGreaterThanOrEqual(3);
    const run = JSON.parse(t.infos.find((l) => l.startsWith('prewarm: predictive run '))!.slice(24));
    expect(run).toMatchObject({ stoppedBy: 'tts-budget-exceeded' });
  });

  it('stops at the first throttle, and skips a voice the region does not have', async () => {
    const t = setUp({ concurrency: 1 });
    await t.click('es-PE-CamilaNeural');
    t.synthesizer.failNext('rejected-request'); // es-PE-AlexNeural: not in this region
    t.synthesizer.failNext('throttled'); // es-AR-ElenaNeural: the service throttles
    await t.settle();
    expect(voicesSynthesized(t.synthesizer)).toEqual(['es-PE-CamilaNeural', 'es-PE-AlexNeural', 'es-AR-ElenaNeural']);
    const run = JSON.parse(t.infos.find((l) => l.startsWith('prewarm: predictive run '))!.slice(24));
    expect(run).toMatchObject({ created: 0, skipped: 1, stoppedBy: 'tts-throttled' });
  });

  it('never takes the slot an interactive audition needs: background work waits, the interactive one starts at once', async () => {
    const t = setUp({ maxConcurrency: 2, concurrency: 2 });
    await t.click('es-PE-CamilaNeural');
    t.synthesizer.hold(); // every background synthesis from here on is held in flight
    await t.synthesizer.waitForCalls(2);
    // One background synthesis holds a slot (half of two); the other worker waits for a background slot.
    expect(t.synthesizer.inFlight).toBe(1);
    const interactive = t.auditions.getAudio({
      caller,
      project: withKey,
      audition: { ...defaultLine('es-PE-CamilaNeural'), text: 'Una línea del personaje.' },
      log: t.log,
    });
    await t.synthesizer.waitForCalls(3);
    expect(t.synthesizer.received[2]!.audition.text).toBe('Una línea del personaje.');
    t.synthesizer.release();
    expect((await interactive).status).toBe('MISS');
    await t.settle();
  });
});
