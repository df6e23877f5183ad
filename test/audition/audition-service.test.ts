import { afterEach, describe, expect, it, vi } from 'vitest';
import { AuditionService, type AuditionAudio } from '../../src/audition/audition-service.ts';
import { billableCharacters } from '../../src/audition/ssml.ts';
import { HitRecorder } from '../../src/cache/hit-recorder.ts';
import { MemoryAudioTier } from '../../src/cache/memory-audio-tier.ts';
import { audioBlobPath } from '../../src/domain/blob-layout.ts';
import { AppError } from '../../src/errors.ts';
import type { Caller, ProjectAccess } from '../../src/ports/account-directory.ts';
import { Timings } from '../../src/timing.ts';
import { testAudition } from '../support/auditions.ts';
import { auditionKeyOf } from '../support/cache-keys.ts';
import { auditionDeps } from '../support/required-deps.ts';
import { MemoryAudioCacheIndex } from '../twins/memory-audio-cache-index.ts';
import { MemoryBlobStore } from '../twins/memory-blob-store.ts';
import { MemoryCacheDatabase } from '../twins/memory-cache-database.ts';
import { MemoryLeases } from '../twins/memory-leases.ts';
import { lineLeaseName } from '../../src/cache/held-lease.ts';
import { MemorySpeechBudget } from '../twins/memory-speech-budget.ts';
import { MemorySynthesizer } from '../twins/memory-synthesizer.ts';

// The audition use case on in-memory twins of every port (each proven against its real
// backend by its contract suite in test/ports/). The same behaviour through HTTP, Postgres,
// Azurite and the Speech SDK is tested in test/functions/.

const TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0001';
const OTHER_TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0002';
const DAY_MS = 86_400_000;
const line = testAudition;
const callerOf = (tenantId: string): Caller => ({
  userId: '0b6f0c1e-0000-4000-8000-000000000001',
  tenantId,
  role: 'user',
});
const projectOf = (tenantId: string, key: string | null = 'project-key'): ProjectAccess => ({
  id: '0b6f0c1e-0000-4000-8000-0000000000aa',
  tenantId,
  ...(key ? { ttsKey: key, ttsRegion: 'eastus' } : {}),
});

interface Shared {
  clock: { now: Date };
  database: MemoryCacheDatabase;
  blobStore: MemoryBlobStore;
  /** The clock leases expire on (the database's): a test moves it to expire one. */
  leaseClock: { ms: number };
}

const open: HitRecorder[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((hits) => hits.close()));
});

/** Shared storage (one database with its lease table, one container), as every instance sees it. */
function sharedStorage(options: { blobChunkBytes?: number } = {}): Shared {
  const clock = { now: new Date('2031-03-01T10:00:00Z') };
  const now = () => clock.now;
  const leaseClock = { ms: 0 };
  const database = new MemoryCacheDatabase(now);
  database.leaseClock = () => leaseClock.ms;
  return { clock, database, blobStore: new MemoryBlobStore(now, options.blobChunkBytes), leaseClock };
}

/** A line's lease lasts this long on the lease clock; its holder renews it every third of it (real time). */
const LINE_LEASE_MS = 60_000;

/** One instance of the service over the shared storage, with its own memory, synthesizer and locks. */
function instance(
  shared: Shared,
  options: {
    defaultKey?: string;
    maxConcurrency?: number;
    queueWaitMs?: number;
    memory?: boolean;
    budget?: MemorySpeechBudget;
    budgetChars?: number;
  } = {},
) {
  const now = () => shared.clock.now;
  const warnings: string[] = [];
  const infos: string[] = [];
  const log = {
    info: (line: string) => infos.push(line),
    warn: (line: string) => warnings.push(line),
    error: (line: string) => warnings.push(line),
  };
  const index = new MemoryAudioCacheIndex(shared.database);
  const hits = new HitRecorder(index, log, 60_000);
  open.push(hits);
  const synthesizer = new MemorySynthesizer();
  const leases = new MemoryLeases(shared.database);
  const service = new AuditionService(
    auditionDeps({
      index,
      blobStore: shared.blobStore,
      synthesizer,
      hits,
      memory: options.memory === false ? undefined : new MemoryAudioTier({ maxBytes: 10_000_000, ttlMs: 300_000, now }),
      leases,
      cache: { ttlDays: 30, lineLeaseMs: LINE_LEASE_MS },
      speech: {
        defaultKey: options.defaultKey,
        defaultRegion: 'eastus',
        host: undefined,
        maxConcurrency: options.maxConcurrency ?? 4,
        queueWaitMs: options.queueWaitMs ?? 1_000,
        timeoutMs: 5_000,
        defaultKeyCharsPerTenantPerDay: options.budgetChars ?? 0,
      },
      budget: options.budget,
      now,
    }),
  );
  const play = (audition = line(), tenantId = TENANT, project = projectOf(tenantId)) => {
    const timings = new Timings();
    return service
      .getAudio({ caller: callerOf(tenantId), project, audition, log, timings })
      .then((audio) => ({ ...audio, tier: timings.tier }));
  };
  const prewarm = (audition = line(), tenantId = TENANT, project = projectOf(tenantId)) =>
    service.prewarm({ caller: callerOf(tenantId), project, audition, log });
  return { service, synthesizer, hits, leases, warnings, infos, play, prewarm, index };
}

async function bytes(result: AuditionAudio): Promise<Buffer> {
  return Buffer.isBuffer(result.audio) ? result.audio : Buffer.from(await new Response(result.audio).arrayBuffer());
}

/** The default line stored by one instance on storage whose blob reads come in 512-byte pieces (a streamed hit elsewhere). */
async function storedInPieces() {
  const shared = sharedStorage({ blobChunkBytes: 512 });
  const first = instance(shared);
  const stored = await bytes(await first.play());
  await first.service.drain();
  return { shared, stored };
}

describe('AuditionService (on the ports’ in-memory twins)', () => {
  it('synthesizes a miss once, streams it, and stores the blob under the guide’s path and a row of ours', async () => {
    const shared = sharedStorage();
    const { play, synthesizer, service } = instance(shared);
    const result = await play();
    expect(result).toMatchObject({ status: 'MISS', tier: 'synthesis' });
    const audio = await bytes(result);
    await service.drain();
    expect(audio.equals(await synthesizer.audio())).toBe(true);
    expect(synthesizer.calls).toBe(1);
    expect(synthesizer.received[0]!.credentials).toEqual({ key: 'project-key', region: 'eastus' });

    const key = auditionKeyOf(TENANT, line(), 'memory');
    expect(result.cacheKey).toBe(key);
    const row = shared.database.row(key)!;
    expect(row).toMatchObject({
      tenantId: TENANT,
      audioBlobPath: audioBlobPath(TENANT, key),
      voiceId: 'es-AR-ElenaNeural',
      audioFileSizeBytes: audio.length,
    });
    expect(row.expiresAt).toEqual(new Date(shared.clock.now.getTime() + 30 * DAY_MS));
    expect(shared.database.isOurs(key)).toBe(true);
    const blob = await shared.blobStore.get(audioBlobPath(TENANT, key));
    expect(blob).toMatchObject({ contentType: 'audio/mpeg', size: audio.length });
  });

  it('serves the next play from memory, and another instance from the index and the blob', async () => {
    const shared = sharedStorage();
    const first = instance(shared);
    const stored = await bytes(await first.play());
    await first.service.drain();
    await expect(first.play()).resolves.toMatchObject({ status: 'HIT-L2', tier: 'memory' });

    const second = instance(shared);
    const hit = await second.play();
    expect(hit).toMatchObject({ status: 'HIT-L2', tier: 'l2' });
    expect((await bytes(hit)).equals(stored)).toBe(true);
    expect(second.synthesizer.calls).toBe(0);
    // Both plays are counted once written.
    await Promise.all([first.hits.flush(), second.hits.flush()]);
    expect(shared.database.row(auditionKeyOf(TENANT, line(), 'memory'))!.hitCount).toBe(2);
  });

  it('streams a stored entry from its first chunk, with its length and duration, and keeps it in memory once it has passed', async () => {
    const { shared, stored } = await storedInPieces();
    expect(stored.length).toBeGreaterThan(2 * 512);
    const row = shared.database.row(auditionKeyOf(TENANT, line(), 'memory'))!;

    const second = instance(shared);
    const hit = await second.play();
    expect(hit).toMatchObject({
      status: 'HIT-L2',
      tier: 'l2',
      sizeBytes: stored.length,
      durationSeconds: row.audioDurationSeconds,
    });
    expect(Buffer.isBuffer(hit.audio)).toBe(false);
    // Not in memory until all of it has passed: a play meanwhile reads the blob again.
    const meanwhile = await second.play();
    expect(meanwhile.tier).toBe('l2');
    expect((await bytes(hit)).equals(stored)).toBe(true);
    await expect(second.play()).resolves.toMatchObject({ status: 'HIT-L2', tier: 'memory' });
    expect((await bytes(meanwhile)).equals(stored)).toBe(true);
    expect(second.synthesizer.calls).toBe(0);
  });

  it('answers a stored entry that fits in its first chunk whole', async () => {
    const shared = sharedStorage(); // 16 KiB pieces: the whole line in one
    const first = instance(shared);
    const stored = await bytes(await first.play());
    await first.service.drain();
    const hit = await instance(shared).play();
    expect(hit).toMatchObject({ status: 'HIT-L2', tier: 'l2' });
    expect(Buffer.isBuffer(hit.audio) && hit.audio.equals(stored)).toBe(true);
  });

  it('breaks the stream off when the blob read fails after its first chunk, and keeps nothing in memory', async () => {
    const { shared } = await storedInPieces();

    const second = instance(shared);
    shared.blobStore.breakingMidway = new Error('connection reset by peer');
    const hit = await second.play();
    expect(hit.status).toBe('HIT-L2'); // the headers were promised before the failure
    await expect(bytes(hit)).rejects.toThrow('connection reset by peer');
    expect(second.warnings).toContainEqual(
      expect.stringMatching(/blob read broke off after streaming began, response cut off: .*connection reset/),
    );

    shared.blobStore.breakingMidway = null;
    await expect(second.play()).resolves.toMatchObject({ status: 'HIT-L2', tier: 'l2' });
  });

  it('stops reading the blob as soon as the caller goes away, without a warning, and keeps nothing', async () => {
    const { shared } = await storedInPieces();

    const second = instance(shared);
    shared.blobStore.stallingMidway = true; // the next chunk would never come
    const hit = await second.play();
    const reader = (hit.audio as ReadableStream<Uint8Array>).getReader();
    expect((await reader.read()).value!.length).toBe(512);
    const pending = reader.read(); // waiting on the stalled blob
    await new Promise((resolve) => setImmediate(resolve));
    expect(shared.blobStore.openReads).toBe(1);
    await reader.cancel();
    await expect(pending).resolves.toMatchObject({ done: true });
    await vi.waitFor(() => expect(shared.blobStore.openReads).toBe(0));
    expect(second.warnings).toEqual([]);

    shared.blobStore.stallingMidway = false;
    await expect(second.play()).resolves.toMatchObject({ tier: 'l2' }); // nothing was kept
  });

  it('never sends more or fewer bytes than the blob’s recorded length, and keeps neither', async () => {
    const { shared, stored } = await storedInPieces();
    const second = instance(shared);

    // The store says more than the body holds: the stream ends short, and errors.
    shared.blobStore.misreportingSizeBy = 100;
    const short = await second.play();
    expect(short.sizeBytes).toBe(stored.length + 100);
    await expect(bytes(short)).rejects.toThrow(
      `the blob ended after ${stored.length} of its ${stored.length + 100} bytes`,
    );

    // Less than it holds: the stream errors before a byte past that length is sent.
    shared.blobStore.misreportingSizeBy = -600;
    const long = await second.play();
    const received: Uint8Array[] = [];
    const reader = (long.audio as ReadableStream<Uint8Array>).getReader();
    await expect(
      (async () => {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          received.push(value);
        }
      })(),
    ).rejects.toThrow(`the blob is longer than its ${stored.length - 600} bytes`);
    expect(Buffer.concat(received).length).toBeLessThanOrEqual(stored.length - 600);
    expect(second.warnings.filter((w) => w.includes('broke off after streaming began'))).toHaveLength(2);

    // A length within the first chunk: read whole, and since the body disagrees with it, not
    // served from the cache (BYPASS: synthesized, the right audio).
    shared.blobStore.misreportingSizeBy = 400 - stored.length;
    const whole = await second.play();
    expect(whole.status).toBe('BYPASS');
    expect((await bytes(whole)).equals(stored)).toBe(true);
    expect(second.warnings).toContainEqual(
      expect.stringMatching(
        `blob read failed, answering uncached: .*the blob gave ${stored.length} bytes, not its 400`,
      ),
    );

    shared.blobStore.misreportingSizeBy = 0;
    await expect(second.play()).resolves.toMatchObject({ status: 'HIT-L2', tier: 'l2' }); // nothing was kept
  });

  it('does not refill memory from a stream that began before the tenant’s purge', async () => {
    const { shared, stored } = await storedInPieces();

    const second = instance(shared);
    const hit = await second.play();
    second.service.forgetTenant(TENANT); // a purge while the audio streams
    expect((await bytes(hit)).equals(stored)).toBe(true);
    await expect(second.play()).resolves.toMatchObject({ tier: 'l2' });
    await bytes(await second.play());
    await expect(second.play()).resolves.toMatchObject({ tier: 'memory' }); // after it, as usual
  });

  it('answers uncached (BYPASS) when the blob read fails before its first chunk', async () => {
    const { shared, stored } = await storedInPieces();

    const second = instance(shared);
    shared.blobStore.failing = new Error('storage unreachable');
    const result = await second.play();
    expect(result.status).toBe('BYPASS');
    expect((await bytes(result)).equals(stored)).toBe(true);
    expect(second.warnings).toContainEqual(
      expect.stringMatching(/blob read failed, answering uncached: .*storage unreachable/),
    );
  });

  it('synthesizes identical concurrent misses once and gives every caller the same audio', async () => {
    const shared = sharedStorage();
    const { play, synthesizer } = instance(shared);
    synthesizer.hold();
    const results = Array.from({ length: 5 }, () => play());
    await synthesizer.waitForCalls(1);
    synthesizer.release();
    const audios = await Promise.all((await Promise.all(results)).map(bytes));
    expect(synthesizer.calls).toBe(1);
    for (const audio of audios) expect(audio.equals(audios[0]!)).toBe(true);
  });

  it('synthesizes the same line once across instances: the lease holder stores it, the other waits and reads it', async () => {
    const shared = sharedStorage();
    const a = instance(shared);
    const b = instance(shared);
    a.synthesizer.hold();
    const fromA = a.play();
    await a.synthesizer.waitForCalls(1);
    const fromB = b.play();
    await vi.waitFor(() => expect(b.leases.takes).toBeGreaterThanOrEqual(2), { timeout: 10_000 }); // b found the lease held, and waits
    expect(b.synthesizer.calls).toBe(0);
    a.synthesizer.release();
    const [resultA, resultB] = await Promise.all([fromA, fromB]);
    expect(resultA.status).toBe('MISS');
    expect(resultB.status).toBe('HIT-L2');
    expect((await bytes(resultB)).equals(await bytes(resultA))).toBe(true);
    expect(a.synthesizer.calls + b.synthesizer.calls).toBe(1);
  });

  it('waits for the holder elsewhere looking again less and less often (50 ms doubling to 1 s), then reads its entry', async () => {
    const shared = sharedStorage();
    const a = instance(shared);
    const b = instance(shared);
    a.synthesizer.hold();
    const fromA = a.play();
    await a.synthesizer.waitForCalls(1);
    const fromB = b.play();
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    // Each look again is a lookup and a try at the lease. 50, 100, 200, 400, 800 ms (± a quarter): at most 6 in
    // 1.6 s, where polling every 100 ms made 16.
    expect(b.leases.takes).toBeLessThanOrEqual(7);
    expect(b.leases.takes).toBeGreaterThanOrEqual(3);
    a.synthesizer.release();
    expect((await fromB).status).toBe('HIT-L2');
    await bytes(await fromA);
    expect(b.synthesizer.calls).toBe(0);
  });

  it('reads the entry a holder stored just before this instance took the line’s lease, and lets the lease go', async () => {
    const shared = sharedStorage();
    const a = instance(shared);
    const b = instance(shared);
    // Between b's lookup (a miss) and its lease, a stores the line and lets its lease go.
    const take = b.leases.take.bind(b.leases);
    b.leases.take = async (name, ttlMs) => {
      await bytes(await a.play());
      await a.service.drain();
      return take(name, ttlMs);
    };
    const result = await b.play();
    expect(result.status).toBe('HIT-L2');
    expect(b.synthesizer.calls).toBe(0);
    const other = new MemoryLeases(shared.database);
    expect(await other.take(lineLeaseName(auditionKeyOf(TENANT, line(), 'memory')), 1_000)).toBeDefined();
  });

  it('looks a line up once on a miss whose lease nobody held before, twice once somebody held it', async () => {
    const shared = sharedStorage();
    const a = instance(shared);
    const finds: string[] = [];
    const find = a.index.find.bind(a.index);
    a.index.find = (cacheKey) => {
      finds.push(cacheKey);
      return find(cacheKey);
    };
    await bytes(await a.play(line('Nadie la tuvo antes.')));
    await a.service.drain();
    expect(finds).toHaveLength(1); // its lookup; the lease was free of rows: nothing stored since
    // The line's lease was held (and let go) since: the next miss of the line looks again after taking it.
    shared.database.rows.clear();
    a.service.forgetTenant(TENANT);
    finds.length = 0;
    await bytes(await a.play(line('Nadie la tuvo antes.')));
    await a.service.drain();
    expect(finds).toHaveLength(2);
  });

  it('takes over the line of a holder that stopped renewing its lease; the holder, woken, leaves the new entry be', async () => {
    const shared = sharedStorage();
    const a = instance(shared);
    const b = instance(shared);
    a.synthesizer.hold();
    const fromA = a.play();
    await a.synthesizer.waitForCalls(1);
    // a freezes: its lease is not renewed, and expires on the database's clock.
    shared.leaseClock.ms += LINE_LEASE_MS + 1;
    const resultB = await b.play();
    expect(resultB.status).toBe('MISS');
    await bytes(resultB);
    await b.service.drain();
    expect(b.warnings).toContainEqual(
      expect.stringMatching(/^audition cache: took over the lease of [0-9a-f]{12}… \(generation 2\)/),
    );
    const key = auditionKeyOf(TENANT, line(), 'memory');
    const stored = shared.database.row(key)!;

    // a wakes and finishes its synthesis: the line is no longer its own to store.
    a.synthesizer.release();
    await bytes(await fromA);
    await a.service.drain();
    expect(a.warnings).toContainEqual(
      expect.stringMatching(/^audition cache: lost the lease of [0-9a-f]{12}… before storing it/),
    );
    expect(shared.database.row(key)).toEqual(stored); // b's entry, untouched
    expect(a.synthesizer.calls + b.synthesizer.calls).toBe(2);
  });

  it('stops waiting for a holder that never finishes once the injected clock passes the deadline, and synthesizes itself', async () => {
    const shared = sharedStorage();
    const stuck = new MemoryLeases(shared.database);
    // A holder that hangs but keeps renewing its lease (the lease clock never moves here).
    await stuck.take(lineLeaseName(auditionKeyOf(TENANT, line(), 'memory')), LINE_LEASE_MS);
    // A deadline far beyond the test's own timeout: only the injected clock can end the wait.
    const { play, synthesizer, warnings, leases } = instance(shared, { queueWaitMs: 120_000 });
    const result = play();
    // Refused twice: it is waiting, its deadline taken from the clock before the move below.
    await vi.waitFor(() => expect(leases.takes).toBeGreaterThanOrEqual(2), { timeout: 10_000 });
    expect(synthesizer.calls).toBe(0);
    shared.clock.now = new Date(shared.clock.now.getTime() + 10 * 60_000); // past queue wait + timeout + grace
    await expect(result).resolves.toMatchObject({ status: 'MISS' });
    expect(synthesizer.calls).toBe(1);
    expect(warnings.some((w) => w.startsWith('audition cache: gave up waiting for another instance'))).toBe(true);
  });

  it('synthesizes alone when the leases cannot be reached (fails open), and still stores the audio', async () => {
    const shared = sharedStorage();
    const { play, leases, warnings, service } = instance(shared);
    leases.failing = new Error('connection refused');
    const result = await play();
    expect(result.status).toBe('MISS');
    await bytes(result);
    await service.drain();
    expect(shared.database.row(auditionKeyOf(TENANT, line(), 'memory'))).toBeDefined();
    expect(warnings).toContainEqual(
      expect.stringMatching(/^audition cache: could not coordinate the miss with other instances: connection refused/),
    );
  });

  it('never serves one tenant’s audio to another: the same line is another key and another synthesis', async () => {
    const shared = sharedStorage();
    const { play, synthesizer } = instance(shared);
    await play(line(), TENANT);
    const other = await play(line(), OTHER_TENANT);
    expect(other.status).toBe('MISS');
    expect(other.cacheKey).not.toBe(auditionKeyOf(TENANT, line(), 'memory'));
    expect(synthesizer.calls).toBe(2);
    expect(synthesizer.received[1]!.credentials?.key).toBe('project-key');
  });

  it('answers uncached (BYPASS) when the index cannot be read, storing nothing', async () => {
    const shared = sharedStorage();
    const { play, synthesizer, warnings } = instance(shared);
    shared.database.failing = new Error('index down');
    const result = await play();
    expect(result.status).toBe('BYPASS');
    expect((await bytes(result)).length).toBeGreaterThan(0);
    expect(synthesizer.calls).toBe(1);
    shared.database.failing = null;
    expect(shared.database.rows.size).toBe(0);
    expect(warnings).toContainEqual(
      expect.stringMatching(/^audition cache: index lookup failed, answering uncached: index down/),
    );
  });

  it('logs a failing dependency once per outage, however many requests it fails, and says when it answers again', async () => {
    const shared = sharedStorage();
    const { play, warnings, infos, service } = instance(shared);
    shared.database.failing = new Error('index down');
    for (let i = 0; i < 5; i++) expect((await play(line(`Línea ${i}`))).status).toBe('BYPASS');
    expect(warnings.filter((w) => w.includes('index lookup failed'))).toHaveLength(1);
    expect(infos).toEqual([]);
    shared.database.failing = null;
    expect((await play(line('Otra'))).status).toBe('MISS');
    await service.drain();
    expect(infos).toEqual([
      expect.stringMatching(/^the database answers again after \d+\.\d s of failures \(5 failed call\(s\)\)$/),
    ]);
    // A new outage is a new warning.
    shared.database.failing = new Error('index down again');
    expect((await play(line('Tercera'))).status).toBe('BYPASS');
    expect(warnings.filter((w) => w.includes('index lookup failed'))).toHaveLength(2);
  });

  it('answers uncached when the blob cannot be written, and does not serve that audio from memory afterwards', async () => {
    const shared = sharedStorage();
    const { play, synthesizer, warnings, service } = instance(shared);
    shared.blobStore.failing = new Error('storage down');
    await bytes(await play());
    await service.drain(); // a streamed miss is answered before it is stored; storing fails behind it
    expect(shared.database.rows.size).toBe(0);
    expect(warnings).toContainEqual(
      expect.stringMatching(/^audition cache: blob upload failed, audio not cached: storage down/),
    );
    shared.blobStore.failing = null;
    await expect(play()).resolves.toMatchObject({ status: 'MISS' });
    expect(synthesizer.calls).toBe(2);
  });

  it('heals an expired entry: synthesizes again and renews the row’s expiry', async () => {
    const shared = sharedStorage();
    const { play, synthesizer, service } = instance(shared, { memory: false });
    await bytes(await play());
    await service.drain();
    const key = auditionKeyOf(TENANT, line(), 'memory');
    shared.clock.now = new Date(shared.clock.now.getTime() + 31 * DAY_MS);
    await bytes(await play());
    await service.drain();
    expect(synthesizer.calls).toBe(2);
    expect(shared.database.row(key)!.expiresAt).toEqual(new Date(shared.clock.now.getTime() + 30 * DAY_MS));
    await expect(play()).resolves.toMatchObject({ status: 'HIT-L2', tier: 'l2' });
  });

  it('heals an entry whose blob is gone', async () => {
    const shared = sharedStorage();
    const { play, synthesizer, warnings, service } = instance(shared, { memory: false });
    await bytes(await play());
    await service.drain();
    const key = auditionKeyOf(TENANT, line(), 'memory');
    await shared.blobStore.delete(audioBlobPath(TENANT, key));
    await bytes(await play());
    await service.drain();
    expect(synthesizer.calls).toBe(2);
    expect(warnings).toContain(`audition cache: blob missing for ${key.slice(0, 12)}…, healing`);
    await expect(play()).resolves.toMatchObject({ status: 'HIT-L2' });
  });

  it('uses the service’s default key for a project without one, and refuses (422) when there is neither', async () => {
    const shared = sharedStorage();
    const withDefault = instance(shared, { defaultKey: 'operator-key' });
    await withDefault.play(line(), TENANT, projectOf(TENANT, null));
    expect(withDefault.synthesizer.received[0]!.credentials).toEqual({ key: 'operator-key', region: 'eastus' });

    const without = instance(shared);
    const refused = without.play(line('Otra línea.'), TENANT, projectOf(TENANT, null));
    await expect(refused).rejects.toMatchObject({ code: 'no-tts-credentials' });
    expect(without.synthesizer.calls).toBe(0);
  });

  it('counts each tenant’s characters on the default key per UTC day, and answers 429 until midnight UTC once they are used up', async () => {
    const shared = sharedStorage(); // 2031-03-01T10:00:00Z
    const budget = new MemorySpeechBudget();
    const { play, synthesizer, service } = instance(shared, { defaultKey: 'operator-key', budget, budgetChars: 30 });
    const noKey = projectOf(TENANT, null);
    const first = line('Quince letras..'); // 15 characters
    await expect(play(first, TENANT, noKey)).resolves.toMatchObject({ status: 'MISS' });
    await expect(play(line('Otras quince...'), TENANT, noKey)).resolves.toMatchObject({ status: 'MISS' });
    expect(await budget.used(TENANT, '2031-03-01')).toBe(30);
    await service.drain(); // both stored

    const refused = await play(line('Una más.'), TENANT, noKey).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'tts-budget-exceeded', extra: { retryAfterSeconds: 14 * 3600 } });
    expect((refused as AppError).message).toMatch(/own Azure Speech key/);
    expect(synthesizer.calls).toBe(2);
    // What is cached still plays; a project with its own key and another tenant are not limited.
    await expect(play(first, TENANT, noKey)).resolves.toMatchObject({ status: 'HIT-L2' });
    await expect(play(line('Con su propia clave.'), TENANT, projectOf(TENANT))).resolves.toMatchObject({
      status: 'MISS',
    });
    await expect(play(line('Otro inquilino.'), OTHER_TENANT, projectOf(OTHER_TENANT, null))).resolves.toMatchObject({
      status: 'MISS',
    });
    // The next UTC day starts a new count.
    shared.clock.now = new Date('2031-03-02T00:00:00Z');
    await expect(play(line('Una más.'), TENANT, noKey)).resolves.toMatchObject({ status: 'MISS' });
    expect(await budget.used(TENANT, '2031-03-02')).toBe(8);
  });

  it('reserves what Azure bills for the SSML it sends (the markup inside <voice>), and gives exactly that back when the synthesis fails', async () => {
    const shared = sharedStorage();
    const budget = new MemorySpeechBudget();
    const { play, synthesizer } = instance(shared, { defaultKey: 'operator-key', budget, budgetChars: 1_000 });
    const noKey = projectOf(TENANT, null);
    const styled = { ...line('a'), style: 'cheerful', styleDegree: 1.5, ratePct: 10, pitchPct: 5 };
    await expect(play(styled, TENANT, noKey)).resolves.toMatchObject({ status: 'MISS' });
    const sent = synthesizer.received[0]!.ssml;
    expect(billableCharacters(sent)).toBe(116);
    expect(await budget.used(TENANT, '2031-03-01')).toBe(116); // not 1, the length of the text

    synthesizer.failNext('failed');
    await expect(play({ ...styled, ratePct: 11 }, TENANT, noKey)).rejects.toMatchObject({ code: 'tts-failed' });
    expect(synthesizer.received).toHaveLength(2); // it was sent, and failed
    expect(await budget.used(TENANT, '2031-03-01')).toBe(116); // the 116 of the failed one given back, no more
  });

  it('spends nothing on the default key when its budget cannot be read (503 + Retry-After), while a project’s own key still synthesizes', async () => {
    const shared = sharedStorage();
    const budget = new MemorySpeechBudget();
    const { play, prewarm, synthesizer, warnings } = instance(shared, {
      defaultKey: 'operator-key',
      budget,
      budgetChars: 100,
    });
    budget.failing = new Error('database unreachable');
    const refused = await play(line('Sin cuenta.'), TENANT, projectOf(TENANT, null)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: 'unavailable', extra: { retryAfterSeconds: 5 } });
    expect((refused as AppError).message).toMatch(/own Azure Speech key/);
    expect(synthesizer.calls).toBe(0);
    expect(warnings.filter((w) => w.includes('speech budget: could not count 11 characters'))).toHaveLength(1);
    // A prewarm (explicit or predictive) takes the same path.
    await expect(prewarm(line('Precalentada.'), TENANT, projectOf(TENANT, null))).rejects.toMatchObject({
      code: 'unavailable',
    });
    expect(synthesizer.calls).toBe(0);
    await expect(play(line('Con su propia clave.'), TENANT, projectOf(TENANT))).resolves.toMatchObject({
      status: 'MISS',
    });
    expect(synthesizer.calls).toBe(1);

    budget.failing = undefined; // the database answers again: counted as before
    await expect(play(line('Sin cuenta.'), TENANT, projectOf(TENANT, null))).resolves.toMatchObject({ status: 'MISS' });
    expect(await budget.used(TENANT, '2031-03-01')).toBe(11);
  });

  it('maps the speech service’s failures to the caller’s errors, and caches nothing', async () => {
    const shared = sharedStorage();
    const { play, synthesizer } = instance(shared);
    synthesizer.failNext('throttled');
    const throttled = await play().catch((error: unknown) => error);
    expect(throttled).toBeInstanceOf(AppError);
    expect(throttled).toMatchObject({ code: 'tts-throttled', extra: { retryAfterSeconds: 10 } });
    synthesizer.failNext('credentials-rejected');
    await expect(play()).rejects.toMatchObject({ code: 'tts-credentials-rejected' });
    expect(shared.database.rows.size).toBe(0);
    await expect(play()).resolves.toMatchObject({ status: 'MISS' });
  });

  it('answers 503 tts-busy when every synthesis slot stays taken past the queue wait', async () => {
    const shared = sharedStorage();
    const { play, synthesizer } = instance(shared, { maxConcurrency: 1, queueWaitMs: 50 });
    synthesizer.hold();
    const first = play(line('Primera.'));
    await synthesizer.waitForCalls(1);
    await expect(play(line('Segunda.'))).rejects.toMatchObject({ code: 'tts-busy', extra: { retryAfterSeconds: 2 } });
    synthesizer.release();
    await expect(first).resolves.toMatchObject({ status: 'MISS' });
  });

  it('prewarms: created once, cached after, without counting a play', async () => {
    const shared = sharedStorage();
    const { prewarm, synthesizer, hits } = instance(shared);
    const key = auditionKeyOf(TENANT, line(), 'memory');
    await expect(prewarm()).resolves.toEqual({ cacheKey: key, status: 'created' });
    await expect(prewarm()).resolves.toEqual({ cacheKey: key, status: 'cached' });
    expect(synthesizer.calls).toBe(1);
    await hits.flush();
    expect(shared.database.row(key)!.hitCount).toBe(0);
  });

  it('refuses a prewarm (503 unavailable) when the index or the blob store cannot be used, rather than paying for audio it cannot keep', async () => {
    const shared = sharedStorage();
    const { prewarm, synthesizer } = instance(shared);
    shared.database.failNext(new Error('index down'));
    await expect(prewarm()).rejects.toMatchObject({ code: 'unavailable', extra: { retryAfterSeconds: 5 } });
    expect(synthesizer.calls).toBe(0);
    shared.blobStore.failing = new Error('storage down');
    await expect(prewarm()).rejects.toMatchObject({ code: 'unavailable' });
    expect(shared.database.rows.size).toBe(0);
  });

  it('stops serving a purged tenant from memory (forgetTenant), leaving other tenants’ audio', async () => {
    const shared = sharedStorage();
    const { play, service } = instance(shared);
    await bytes(await play(line(), TENANT));
    await bytes(await play(line(), OTHER_TENANT));
    await service.drain();
    service.forgetTenant(TENANT);
    shared.database.rows.clear(); // as a purge does to the tenant's rows (and here, everyone's)
    await expect(play(line(), OTHER_TENANT)).resolves.toMatchObject({ status: 'HIT-L2', tier: 'memory' });
    await expect(play(line(), TENANT)).resolves.toMatchObject({ status: 'MISS' });
  });
});
