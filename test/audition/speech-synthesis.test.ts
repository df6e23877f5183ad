import { describe, expect, it } from 'vitest';
import {
  SpeechSynthesis,
  toSynthesisAppError,
  type StartedSynthesis,
  type SynthesisJob,
} from '../../src/audition/speech-synthesis.ts';
import { billableCharacters, buildSsml } from '../../src/audition/ssml.ts';
import { AppError } from '../../src/errors.ts';
import { statusOf } from '../../src/handlers/problem-response.ts';
import type { ProjectAccess } from '../../src/ports/account-directory.ts';
import { SynthesisError, type SynthesisFailure } from '../../src/ports/synthesizer.ts';
import { Timings } from '../../src/timing.ts';
import { testAudition } from '../support/auditions.ts';
import { databaseOutage } from '../support/required-deps.ts';
import { piecesOf } from '../support/synthesis-pieces.ts';
import { MemorySpeechBudget } from '../twins/memory-speech-budget.ts';
import { MemorySynthesizer } from '../twins/memory-synthesizer.ts';

// SpeechSynthesis on the in-memory synthesizer and speech budget: whose key pays, the default key's
// daily budget, the synthesis slots, and the speech service's failures as the caller's errors.

const TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0001';
const OTHER_TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0002';
const TODAY = '2031-03-01';
const SSML = buildSsml(testAudition());
const CHARACTERS = billableCharacters(SSML);

const withOwnKey: ProjectAccess = { id: 'p-own', tenantId: TENANT, ttsKey: 'project-key', ttsRegion: 'westeurope' };
const withoutKey: ProjectAccess = { id: 'p-none', tenantId: TENANT };

function synthesisOnTwins(
  options: {
    defaultKey?: string;
    budgetChars?: number;
    maxConcurrency?: number;
    queueWaitMs?: number;
    streams?: boolean;
    latencyMs?: number;
  } = {},
) {
  const { streams, latencyMs } = options;
  const synthesizer = new MemorySynthesizer({ chunkBytes: 1024, streams, latencyMs });
  const budget = new MemorySpeechBudget();
  const metrics = { succeeded: [] as number[], failed: [] as string[] };
  const synthesis = new SpeechSynthesis({
    synthesizer,
    speech: {
      defaultKey: options.defaultKey,
      defaultRegion: 'eastus',
      host: undefined,
      maxConcurrency: options.maxConcurrency ?? 4,
      queueWaitMs: options.queueWaitMs ?? 1_000,
      defaultKeyCharsPerTenantPerDay: options.budgetChars ?? 0,
    },
    budget,
    now: () => new Date('2031-03-01T10:00:00Z'),
    metrics: { synthesis: (ms) => metrics.succeeded.push(ms), synthesisFailed: (code) => metrics.failed.push(code) },
    databaseOutage: databaseOutage(),
  });
  const warnings: string[] = [];
  const infos: string[] = [];
  const log = { info: (l: string) => infos.push(l), warn: (l: string) => warnings.push(l), error: () => {} };
  const job = (project: ProjectAccess, tenantId = TENANT): SynthesisJob => ({
    tenantId,
    audition: testAudition(),
    project: { ...project, tenantId },
    timings: new Timings(),
    log,
  });
  const synthesize = (project: ProjectAccess, tenantId = TENANT) =>
    whole(synthesis.start(job(project, tenantId), SSML));
  return { synthesis, synthesizer, budget, metrics, warnings, infos, job, synthesize };
}

/** A synthesis's whole audio; rejected with why it could not start, or why it failed. */
const whole = (started: Promise<StartedSynthesis>) => started.then((synthesis) => synthesis.whole);

/** What `promise` was rejected with (fails the test when it resolves). */
async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => new Error('expected a refusal, it resolved'),
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('SpeechSynthesis: whose key pays', () => {
  it('synthesizes with the project’s own key and region, even when the service has a default key', async () => {
    const { synthesizer, synthesize } = synthesisOnTwins({ defaultKey: 'default-key' });
    const result = await synthesize(withOwnKey);
    expect(synthesizer.received.map((r) => r.credentials)).toEqual([{ key: 'project-key', region: 'westeurope' }]);
    expect(result.audio.equals(await synthesizer.audio())).toBe(true);
    // A one-second tone (and the encoder's padding), read from the MP3 itself: the synthesizer says none.
    expect(result.durationSeconds).toBeGreaterThanOrEqual(1);
    expect(result.durationSeconds).toBeLessThan(1.1);
  });

  it('falls back to the service’s default key and region for a project without its own', async () => {
    const { synthesizer, synthesize } = synthesisOnTwins({ defaultKey: 'default-key' });
    await synthesize(withoutKey);
    expect(synthesizer.received[0]!.credentials).toEqual({ key: 'default-key', region: 'eastus' });
  });

  it('refuses with no-tts-credentials (422) before any work when neither has a key', async () => {
    const { synthesizer, synthesize } = synthesisOnTwins();
    const error = await refusal(synthesize(withoutKey));
    expect(error.code).toBe('no-tts-credentials');
    expect(statusOf(error.code)).toBe(422);
    expect(synthesizer.calls).toBe(0);
  });

  it('refuses a project whose region is not a region name (422), rather than use its key elsewhere', async () => {
    const { synthesizer, synthesize } = synthesisOnTwins({ defaultKey: 'default-key' });
    const error = await refusal(synthesize({ ...withOwnKey, ttsRegion: undefined, ttsRegionInvalid: true }));
    expect(error.code).toBe('invalid-project-settings');
    expect(statusOf(error.code)).toBe(422);
    expect(synthesizer.calls).toBe(0);
  });

  it('prepares the engine with the credentials a synthesis would use, and never throws without any', () => {
    const { synthesis, synthesizer } = synthesisOnTwins();
    synthesis.prepare(withOwnKey);
    synthesis.prepare(withoutKey);
    expect(synthesizer.prepared).toEqual([{ key: 'project-key', region: 'westeurope' }]);
  });
});

describe('SpeechSynthesis: the default key’s daily budget per tenant', () => {
  it('counts the billable characters before synthesizing, and gives them back when the synthesis fails', async () => {
    const { budget, synthesizer, synthesize } = synthesisOnTwins({ defaultKey: 'default-key', budgetChars: 10_000 });
    await synthesize(withoutKey);
    expect(await budget.used(TENANT, TODAY)).toBe(CHARACTERS);

    synthesizer.failNext('failed');
    expect((await refusal(synthesize(withoutKey))).code).toBe('tts-failed');
    expect(await budget.used(TENANT, TODAY)).toBe(CHARACTERS);
  });

  it('answers 429 once the tenant’s day is spent, without synthesizing, until midnight UTC; other tenants go on', async () => {
    const { synthesizer, synthesize } = synthesisOnTwins({ defaultKey: 'default-key', budgetChars: CHARACTERS });
    await synthesize(withoutKey);
    const error = await refusal(synthesize(withoutKey));
    expect(error.code).toBe('tts-budget-exceeded');
    expect(statusOf(error.code)).toBe(429);
    expect(error.extra.retryAfterSeconds).toBe(14 * 3600); // 10:00 UTC to midnight
    expect(synthesizer.calls).toBe(1);

    await synthesize(withoutKey, OTHER_TENANT);
    expect(synthesizer.calls).toBe(2);
  });

  it('answers 503 with Retry-After, spending nothing, while the budget cannot be read; warned once per outage', async () => {
    const { budget, infos, synthesizer, synthesize, warnings } = synthesisOnTwins({
      defaultKey: 'default-key',
      budgetChars: 10_000,
    });
    budget.failing = new Error('connection refused');
    for (let i = 0; i < 2; i++) {
      const error = await refusal(synthesize(withoutKey));
      expect(error).toMatchObject({ code: 'unavailable', extra: { retryAfterSeconds: 5 } });
    }
    expect(synthesizer.calls).toBe(0);
    expect(warnings).toEqual([
      expect.stringMatching(/^speech budget: could not count \d+ characters on the default key, refusing \(503\)/),
    ]);

    budget.failing = undefined;
    await synthesize(withoutKey);
    expect(infos).toEqual([expect.stringMatching(/^the database answers again .*\(2 failed call\(s\)\)/)]);
  });

  it('never counts a project with its own key: it synthesizes while the budget cannot be read', async () => {
    const { budget, synthesizer, synthesize } = synthesisOnTwins({ defaultKey: 'default-key', budgetChars: 1 });
    budget.failing = new Error('connection refused');
    await synthesize(withOwnKey);
    expect(synthesizer.calls).toBe(1);
    budget.failing = undefined;
    expect(await budget.used(TENANT, TODAY)).toBe(0);
  });
});

describe('SpeechSynthesis: the speech service’s failures', () => {
  it.each<[SynthesisFailure, string, number, number | undefined]>([
    ['credentials-rejected', 'tts-credentials-rejected', 502, undefined],
    ['throttled', 'tts-throttled', 503, 10],
    ['rejected-request', 'tts-rejected-request', 400, undefined],
    ['timeout', 'tts-timeout', 504, 5],
    ['failed', 'tts-failed', 502, 5],
  ])('answers %s as %s (%i), counted in the metrics by that code', async (failure, code, status, retryAfter) => {
    const { metrics, synthesize, synthesizer } = synthesisOnTwins();
    synthesizer.failNext(failure);
    const error = await refusal(synthesize(withOwnKey));
    expect(error.code).toBe(code);
    expect(statusOf(error.code)).toBe(status);
    expect(error.extra.retryAfterSeconds).toBe(retryAfter);
    expect(error.message).not.toContain('injected'); // the SDK's own words stay in the cause
    expect(error.cause).toBeInstanceOf(SynthesisError);
    expect(metrics).toEqual({ succeeded: [], failed: [code] });
  });

  it('answers anything else thrown as tts-failed (502), keeping it as the cause', () => {
    const thrown = new Error('socket hang up');
    const error = toSynthesisAppError(thrown);
    expect(error).toMatchObject({ code: 'tts-failed', extra: { retryAfterSeconds: 5 } });
    expect(error.cause).toBe(thrown);
  });

  it('reports the latency of a synthesis that succeeded', async () => {
    const { metrics, synthesize } = synthesisOnTwins();
    await synthesize(withOwnKey);
    expect(metrics.succeeded).toHaveLength(1);
    expect(metrics.succeeded[0]).toBeGreaterThanOrEqual(0);
    expect(metrics.failed).toEqual([]);
  });
});

describe('SpeechSynthesis: slots and streaming', () => {
  it('runs at most maxConcurrency syntheses at once; one that waits past queueWaitMs gets tts-busy (503)', async () => {
    const { budget, synthesis, synthesizer, job } = synthesisOnTwins({
      defaultKey: 'default-key',
      budgetChars: 10_000,
      maxConcurrency: 2,
      queueWaitMs: 50,
    });
    synthesizer.hold();
    const running = [1, 2].map(() => whole(synthesis.start(job(withoutKey), SSML)));
    await synthesizer.waitForCalls(2);

    const error = await refusal(whole(synthesis.start(job(withoutKey), SSML)));
    expect(error).toMatchObject({ code: 'tts-busy', extra: { retryAfterSeconds: 2 } });
    expect(statusOf(error.code)).toBe(503);
    expect(synthesizer.calls).toBe(2);
    expect(await budget.used(TENANT, TODAY)).toBe(2 * CHARACTERS); // the refused one's characters given back

    synthesizer.release();
    await Promise.all(running);
    expect(synthesizer.maxInFlight).toBe(2);
  });

  it('gives a waiting synthesis the slot one that finished frees', async () => {
    const { synthesis, synthesizer, job } = synthesisOnTwins({ maxConcurrency: 1, queueWaitMs: 5_000 });
    synthesizer.hold();
    const first = whole(synthesis.start(job(withOwnKey), SSML));
    await synthesizer.waitForCalls(1);
    const second = whole(synthesis.start(job(withOwnKey), SSML));
    await new Promise((resolve) => setImmediate(resolve));
    expect(synthesizer.calls).toBe(1); // waiting for the slot

    synthesizer.release();
    await Promise.all([first, second]);
    expect(synthesizer.calls).toBe(2);
    expect(synthesizer.maxInFlight).toBe(1);
  });

  it('gives the audio back piece by piece as it arrives (`streaming`); the pieces, in order, are the whole audio', async () => {
    const { synthesis, job } = synthesisOnTwins();
    const started = await synthesis.start(job(withOwnKey), SSML);
    expect(await started.started).toBe('streaming');
    const pieces = (await piecesOf(started)).map((piece) => piece.bytes);
    const result = await started.whole;
    expect(pieces.length).toBeGreaterThan(1);
    expect(pieces.every((piece) => piece.length <= 1024)).toBe(true);
    expect(Buffer.concat(pieces).equals(result.audio)).toBe(true);
    expect(result.durationSeconds).toBeGreaterThan(0.9); // read from the MP3
  });

  it('times the synthesis for Server-Timing: to the first audio when it streams, to the whole when it cannot', async () => {
    const synthesisMs = (timings: Timings) => Number(/synthesis;dur=([\d.]+)/.exec(timings.toHeader())![1]);
    for (const streams of [true, false]) {
      const { synthesis, job } = synthesisOnTwins({ streams, latencyMs: 40 });
      const timed = job(withOwnKey);
      const started = await synthesis.start(timed, SSML);
      expect(await started.started).toBe(streams ? 'streaming' : 'whole');
      await started.whole;
      expect(synthesisMs(timed.timings)).toBeGreaterThanOrEqual(35);
    }
  });

  it('a failure before any audio rejects `started` with the caller’s error, once the characters are given back', async () => {
    const { budget, synthesis, synthesizer, job } = synthesisOnTwins({
      defaultKey: 'default-key',
      budgetChars: 10_000,
    });
    synthesizer.failNext('throttled');
    const started = await synthesis.start(job(withoutKey), SSML);
    const error = await refusal(started.started);
    expect(error).toMatchObject({ code: 'tts-throttled' });
    expect(await budget.used(TENANT, TODAY)).toBe(0);
    expect(await refusal(started.whole)).toBe(error);
  });
});
