import { afterEach, describe, expect, it } from 'vitest';
import { AudioCache, type CacheLine } from '../../src/cache/audio-cache.ts';
import { HeldLease } from '../../src/cache/held-lease.ts';
import { HitRecorder } from '../../src/cache/hit-recorder.ts';
import { MemoryAudioTier } from '../../src/cache/memory-audio-tier.ts';
import type { LineStore } from '../../src/cache/project-stores.ts';
import type { AuditionAudio } from '../../src/domain/audition-audio.ts';
import { audioBlobPath } from '../../src/domain/blob-layout.ts';
import { AppError } from '../../src/errors.ts';
import { BlobNotFoundError } from '../../src/ports/blob-store.ts';
import { Timings } from '../../src/timing.ts';
import { audioCacheDeps } from '../support/required-deps.ts';
import { testAudition } from '../support/auditions.ts';
import { keyOf } from '../support/cache-keys.ts';
import { MemoryAudioCacheIndex } from '../twins/memory-audio-cache-index.ts';
import { MemoryBlobStore } from '../twins/memory-blob-store.ts';
import { MemoryCacheDatabase } from '../twins/memory-cache-database.ts';
import { MemoryLeases } from '../twins/memory-leases.ts';

// AudioCache on the in-memory twins of its ports: one instance's memory tier over one index and one container.

const TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0001';
const OTHER_TENANT = '6f1c1f2e-1d6a-4c55-9a57-2b1c8a0d0002';
const KEY = keyOf('the line');
const DAY_MS = 86_400_000;
/** A line's lease lasts this long on the database's lease clock. */
const LEASE_MS = 60_000;
const AUDIO = Buffer.from(Array.from({ length: 3000 }, (_, i) => i % 251));
/** The hit of the entry `seed` stores. */
const STORED_HIT = { status: 'HIT-L2', audio: AUDIO, cacheKey: KEY, durationSeconds: 2.5 };

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((held) => held.close()));
});

function cacheOnTwins({ blobChunkBytes = 16_384 } = {}) {
  const clock = { now: new Date('2031-03-01T10:00:00Z') };
  const now = () => clock.now;
  const leaseClock = { ms: 0 };
  const database = new MemoryCacheDatabase(now);
  database.leaseClock = () => leaseClock.ms;
  const index = new MemoryAudioCacheIndex(database);
  const blobStore = new MemoryBlobStore(now, blobChunkBytes);
  const warnings: string[] = [];
  const infos: string[] = [];
  const log = { info: (l: string) => infos.push(l), warn: (l: string) => warnings.push(l), error: () => {} };
  const hits = new HitRecorder(index, log, 60_000);
  open.push(hits);
  const memory = new MemoryAudioTier({ maxBytes: 10_000_000, ttlMs: 300_000, now });
  const engine = { provider: 'memory', outputFormat: 'audio-24khz-48kbitrate-mono-mp3' };
  const cache = new AudioCache(audioCacheDeps({ index, blobStore, hits, memory, ttlDays: 30, engine, now }));
  const slot = (tenantId = TENANT, cacheKey = KEY, store?: LineStore): CacheLine => {
    return { tenantId, cacheKey, log, timings: new Timings(), store };
  };
  /** An entry as any instance stored it: its blob (unless `blob: false`), then its row. */
  const seed = async (options: { tenantId?: string; expiresAt?: Date; blob?: boolean; store?: LineStore } = {}) => {
    const { tenantId = TENANT, expiresAt = new Date(clock.now.getTime() + DAY_MS), blob = true, store } = options;
    const path = audioBlobPath(tenantId, KEY);
    if (blob) await (store?.blobs ?? blobStore).put(path, AUDIO, 'audio/mpeg');
    const entryStore = store && { storeId: store.storeId, projectId: store.projectId };
    return database.putOurRow(
      { tenantId, cacheKey: KEY, audioBlobPath: path, audioDurationSeconds: 2.5, expiresAt },
      { store: entryStore },
    );
  };
  const store = (lease?: HeldLease) =>
    cache.store(slot(), testAudition(), '<speak/>', { audio: AUDIO, durationSeconds: 1.5 }, lease);
  /** This instance's lease on the line (released after the test). */
  const takeLease = async () => {
    const lease = (await HeldLease.take(new MemoryLeases(database), 'line', LEASE_MS, () => new Date(leaseClock.ms)))!;
    open.push({ close: () => lease.release() });
    return lease;
  };
  /** Another instance takes the line over: this one froze past its lease (on its own clock too). */
  const takeOver = () => {
    leaseClock.ms += LEASE_MS + 1;
    return new MemoryLeases(database).take('line', LEASE_MS);
  };
  return { clock, database, blobStore, cache, hits, warnings, infos, slot, seed, store, takeLease, takeOver };
}

async function bytes(audio: AuditionAudio['audio']): Promise<Buffer> {
  return Buffer.isBuffer(audio) ? audio : Buffer.from(await new Response(audio).arrayBuffer());
}

describe('AudioCache: memory', () => {
  it('serves audio this instance holds to its tenant, counting the play', () => {
    const { cache, hits, slot } = cacheOnTwins();
    cache.remember(slot(), { audio: AUDIO, durationSeconds: 1.5 });
    expect(cache.fromMemory(slot())).toEqual({ status: 'HIT-L2', audio: AUDIO, cacheKey: KEY, durationSeconds: 1.5 });
    expect(hits.pendingHits).toBe(1);
  });

  it('never serves another tenant’s audio from memory, even under the same key', () => {
    const { cache, hits, slot } = cacheOnTwins();
    cache.remember(slot(TENANT), { audio: AUDIO, durationSeconds: 1.5 });
    expect(cache.fromMemory(slot(OTHER_TENANT))).toBeUndefined();
    expect(hits.pendingHits).toBe(0);
  });

  it('stops serving a tenant from memory once it is forgotten, and only that tenant', () => {
    const { cache, slot } = cacheOnTwins();
    const otherKey = keyOf('another line');
    cache.remember(slot(TENANT), { audio: AUDIO, durationSeconds: 1 });
    cache.remember(slot(OTHER_TENANT, otherKey), { audio: AUDIO, durationSeconds: 1 });
    cache.forgetTenant(TENANT.toUpperCase());
    expect(cache.fromMemory(slot(TENANT))).toBeUndefined();
    expect(cache.fromMemory(slot(OTHER_TENANT, otherKey))?.status).toBe('HIT-L2');
  });
});

describe('AudioCache: lookUp', () => {
  it('answers a live entry’s whole audio and duration, counts the play, and keeps it in memory', async () => {
    const { cache, hits, slot, seed } = cacheOnTwins();
    await seed();
    expect(cache.fromMemory(slot())).toBeUndefined();
    const found = await cache.lookUp(slot());
    expect(found).toEqual({ kind: 'hit', audio: STORED_HIT });
    expect(hits.pendingHits).toBe(1);
    expect(cache.fromMemory(slot())?.audio.equals(AUDIO)).toBe(true);
  });

  it('misses when nothing is stored, when the row is another tenant’s, and once the row has expired', async () => {
    const { cache, clock, hits, slot, seed, warnings } = cacheOnTwins();
    expect(await cache.lookUp(slot())).toEqual({ kind: 'miss' });
    const row = await seed({ tenantId: OTHER_TENANT });
    expect(await cache.lookUp(slot(TENANT))).toEqual({ kind: 'miss' });
    expect(await cache.lookUp(slot(OTHER_TENANT))).toMatchObject({ kind: 'hit' });

    clock.now = new Date(row.expiresAt!.getTime() - 1);
    expect(await cache.lookUp(slot(OTHER_TENANT))).toMatchObject({ kind: 'hit' });
    clock.now = row.expiresAt!;
    expect(await cache.lookUp(slot(OTHER_TENANT))).toEqual({ kind: 'miss' });
    expect(hits.pendingHits).toBe(2);
    expect(warnings).toEqual([]);
  });

  it('answers uncached while the index fails, warning once per outage, and says when it answers again', async () => {
    const { cache, database, slot, seed, warnings, infos } = cacheOnTwins();
    await seed();
    database.failing = new Error('connection refused');
    expect(await cache.lookUp(slot())).toEqual({ kind: 'bypass' });
    expect(await cache.lookUp(slot())).toEqual({ kind: 'bypass' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^audition cache: index lookup failed, answering uncached: connection refused/);

    database.failing = null;
    expect(await cache.lookUp(slot())).toMatchObject({ kind: 'hit' });
    expect(infos).toEqual([expect.stringMatching(/^the database answers again .*\(2 failed call\(s\)\)/)]);
  });

  it('answers uncached when the blob cannot be read', async () => {
    const { cache, blobStore, hits, slot, seed, warnings } = cacheOnTwins();
    await seed();
    blobStore.failing = new Error('503 server busy');
    expect(await cache.lookUp(slot())).toEqual({ kind: 'bypass' });
    expect(warnings).toEqual([expect.stringMatching(/^audition cache: blob read failed, answering uncached/)]);
    expect(hits.pendingHits).toBe(0);
  });

  it('misses an entry whose blob is gone, so that it is stored again ("healed")', async () => {
    const { cache, slot, seed, warnings } = cacheOnTwins();
    await seed({ blob: false });
    expect(await cache.lookUp(slot())).toEqual({ kind: 'miss' });
    expect(warnings).toEqual([`audition cache: blob missing for ${KEY.slice(0, 12)}…, healing`]);
  });

  it('answers uncached, and leaves the entry be, when it is stored in another account than the slot’s', async () => {
    const { cache, database, slot, seed, warnings } = cacheOnTwins();
    const store: LineStore = {
      storeId: 'https://projectstore.blob.core.windows.net/auditions',
      projectId: '0b6f0c1e-0000-4000-8000-0000000000aa',
      tenantId: TENANT,
      accountName: 'projectstore',
      blobs: new MemoryBlobStore(),
    };
    await seed({ store });
    expect(await cache.lookUp(slot())).toEqual({ kind: 'bypass' });
    expect(warnings).toEqual([`audition cache: ${KEY.slice(0, 12)}… is stored in another account, answering uncached`]);
    expect(database.row(KEY)).toBeDefined();
    // The project's own slot reads it from the project's account.
    expect(await cache.lookUp(slot(TENANT, KEY, store))).toMatchObject({ kind: 'hit', audio: { audio: AUDIO } });
  });
});

describe('AudioCache: lookUpStreaming', () => {
  it('streams a stored entry from its first chunk with its length, and keeps it in memory once all has passed', async () => {
    const { cache, hits, slot, seed } = cacheOnTwins({ blobChunkBytes: 512 });
    await seed();
    const found = await cache.lookUpStreaming(slot());
    if (found.kind !== 'hit') throw new Error(`expected a hit, got ${found.kind}`);
    expect(found.audio).toMatchObject({ status: 'HIT-L2', cacheKey: KEY, durationSeconds: 2.5, sizeBytes: 3000 });
    expect(Buffer.isBuffer(found.audio.audio)).toBe(false);
    expect(hits.pendingHits).toBe(1);
    expect(cache.fromMemory(slot())).toBeUndefined(); // not until all of it has passed

    expect((await bytes(found.audio.audio)).equals(AUDIO)).toBe(true);
    expect(cache.fromMemory(slot())?.audio.equals(AUDIO)).toBe(true);
  });

  it('answers a blob that came whole in its first chunk as whole audio', async () => {
    const { cache, slot, seed } = cacheOnTwins({ blobChunkBytes: 16_384 });
    await seed();
    const found = await cache.lookUpStreaming(slot());
    expect(found).toEqual({ kind: 'hit', audio: STORED_HIT });
  });

  it('answers a miss or a bypass as lookUp does', async () => {
    const { cache, database, slot } = cacheOnTwins();
    expect(await cache.lookUpStreaming(slot())).toEqual({ kind: 'miss' });
    database.failing = new Error('connection refused');
    expect(await cache.lookUpStreaming(slot())).toEqual({ kind: 'bypass' });
  });
});

describe('AudioCache: holds', () => {
  it('says whether the tenant has a live entry under the key, without counting a play', async () => {
    const { cache, clock, hits, slot, seed } = cacheOnTwins();
    expect(await cache.holds(slot())).toBe(false);
    const row = await seed();
    expect(await cache.holds(slot())).toBe(true);
    expect(await cache.holds(slot(OTHER_TENANT))).toBe(false);
    clock.now = row.expiresAt!;
    expect(await cache.holds(slot())).toBe(false);
    expect(hits.pendingHits).toBe(0);
  });

  it('throws unavailable, with a Retry-After, when the index cannot be read', async () => {
    const { cache, database, slot } = cacheOnTwins();
    database.failing = new Error('connection refused');
    const error = await cache.holds(slot()).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'unavailable', extra: { retryAfterSeconds: 5 } });
  });
});

describe('AudioCache: store', () => {
  it('uploads the blob, then writes the row of ours, and answers a MISS', async () => {
    const { blobStore, clock, database, store } = cacheOnTwins();
    const path = audioBlobPath(TENANT, KEY);
    const upload = blobStore.put.bind(blobStore);
    let rowDuringUpload: unknown = 'not uploaded';
    blobStore.put = async (...args) => {
      rowDuringUpload = database.row(KEY);
      await upload(...args);
    };

    expect(await store()).toEqual({ status: 'MISS', audio: AUDIO, cacheKey: KEY, durationSeconds: 1.5 });
    expect(rowDuringUpload).toBeUndefined();
    expect(await blobStore.get(path)).toMatchObject({ contentType: 'audio/mpeg', size: AUDIO.length });
    expect(database.row(KEY)).toMatchObject({
      tenantId: TENANT,
      audioBlobPath: path,
      audioDurationSeconds: 1.5,
      audioFileSizeBytes: AUDIO.length,
      expiresAt: new Date(clock.now.getTime() + 30 * DAY_MS),
    });
    expect(database.isOurs(KEY)).toBe(true);
  });

  it('answers BYPASS, writes no row and drops the audio from memory when the blob upload fails', async () => {
    const { blobStore, cache, database, slot, store, warnings } = cacheOnTwins();
    cache.remember(slot(), { audio: AUDIO, durationSeconds: 1.5 });
    blobStore.failing = new Error('403 forbidden');
    expect(await store()).toMatchObject({ status: 'BYPASS', audio: AUDIO });
    expect(database.row(KEY)).toBeUndefined();
    expect(cache.fromMemory(slot())).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(/^audition cache: blob upload failed, audio not cached/)]);
  });

  it('answers BYPASS and drops the audio from memory when the row cannot be written', async () => {
    const { cache, database, slot, store, warnings } = cacheOnTwins();
    cache.remember(slot(), { audio: AUDIO, durationSeconds: 1.5 });
    database.failNext(new Error('connection reset'));
    expect(await store()).toMatchObject({ status: 'BYPASS' });
    expect(database.row(KEY)).toBeUndefined();
    expect(cache.fromMemory(slot())).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(/^audition cache: index write failed, audio not cached/)]);
  });

  it('replaces an expired row under the key', async () => {
    const { clock, database, seed, store } = cacheOnTwins();
    await seed({ expiresAt: new Date(clock.now.getTime() - 1), blob: false });
    expect(await store()).toMatchObject({ status: 'MISS' });
    expect(database.row(KEY)).toMatchObject({
      audioDurationSeconds: 1.5,
      expiresAt: new Date(clock.now.getTime() + 30 * DAY_MS),
    });
  });

  it('keeps a live row another instance stored meanwhile, with its counts', async () => {
    const { database, seed, store } = cacheOnTwins();
    const theirs = await seed();
    database.rows.get(KEY)!.hitCount = 7;
    expect(await store()).toMatchObject({ status: 'MISS' });
    expect(database.row(KEY)).toMatchObject({ id: theirs.id, hitCount: 7, audioDurationSeconds: 2.5 });
  });
});

describe('AudioCache: store under a line’s lease', () => {
  it('stores normally while the lease is still ours', async () => {
    const { database, store, takeLease } = cacheOnTwins();
    expect(await store(await takeLease())).toMatchObject({ status: 'MISS' });
    expect(database.row(KEY)).toBeDefined();
  });

  it('answers BYPASS, uploads nothing and writes no row once another instance took the lease over', async () => {
    const { blobStore, database, store, takeLease, takeOver, warnings } = cacheOnTwins();
    const lease = await takeLease();
    expect(await takeOver()).toBeDefined();

    expect(await store(lease)).toMatchObject({ status: 'BYPASS', audio: AUDIO });
    expect(warnings).toEqual([expect.stringContaining(`lost the lease of ${KEY.slice(0, 12)}… before storing it`)]);
    await expect(blobStore.get(audioBlobPath(TENANT, KEY))).rejects.toBeInstanceOf(BlobNotFoundError);
    expect(database.row(KEY)).toBeUndefined();
  });

  it('writes no row when the lease is taken over during the upload: the row’s write is fenced', async () => {
    const { blobStore, database, store, takeLease, takeOver, warnings } = cacheOnTwins();
    const lease = await takeLease();
    const upload = blobStore.put.bind(blobStore);
    blobStore.put = async (...args) => {
      await upload(...args);
      expect(await takeOver()).toBeDefined();
    };

    expect(await store(lease)).toMatchObject({ status: 'BYPASS' });
    expect(database.row(KEY)).toBeUndefined();
    expect(warnings).toEqual([expect.stringContaining('before storing it')]);
  });

  it('reports a database that cannot prove the lease as the outage it is, not as a lost lease', async () => {
    const { database, store, takeLease, warnings } = cacheOnTwins();
    const lease = await takeLease();
    database.failing = new Error('connection refused');

    expect(await store(lease)).toMatchObject({ status: 'BYPASS', audio: AUDIO });
    database.failing = null;
    expect(database.row(KEY)).toBeUndefined();
    expect(warnings).toEqual([expect.stringMatching(/index write failed, audio not cached: .*connection refused/)]);
  });
});
