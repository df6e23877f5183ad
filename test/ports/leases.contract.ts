import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AudioCacheIndex, NewCacheEntry } from '../../src/ports/audio-cache-index.ts';
import { LeaseLostError, type Leases } from '../../src/ports/leases.ts';
import { at, DAY, T0 } from '../support/time.ts';

export interface LeasesUnderTest {
  /** Two app instances (two workers, two hosts) coordinating through one backend. */
  first: Leases;
  second: Leases;
  /** The index on the same backend: what a holder writes under its lease. */
  index: AudioCacheIndex;
  /** Makes the tenant known (the Khipu database's audio_cache has a foreign key to tenants). */
  addTenant(tenantId: string): Promise<void>;
  /** The row stored under the key, as far as these tests read it. */
  storedText(cacheKey: string): Promise<string | null>;
  dispose(): Promise<void>;
}

/** A line's lease name as the service makes them. */
const newName = () => `audition:${randomBytes(32).toString('hex')}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Long enough not to expire during a test on a loaded machine. */
const LONG = 60_000;
/** Short enough to expire within a test: real time, as the database's clock runs. */
const SHORT = 300;

/**
 * The behaviour miss coordination and the cleanup rely on from any Leases, run against the in-memory twin, Postgres
 * directly and Postgres through PgBouncer in transaction mode, so that all three agree.
 */
export function describeLeasesContract(name: string, create: () => Promise<LeasesUnderTest>): void {
  describe(`Leases contract: ${name}`, () => {
    let db: LeasesUnderTest;
    let first: Leases;
    let second: Leases;
    beforeEach(async () => {
      db = await create();
      ({ first, second } = db);
    });
    afterEach(() => db.dispose());

    it('grants a free name, and refuses it to every instance (its holder included) while the lease lives', async () => {
      const name = newName();
      const grant = await first.take(name, LONG);
      // Nobody held it before: whatever its holder will do under it, nobody did meanwhile.
      expect(grant).toEqual({
        name,
        token: expect.stringMatching(/^[0-9a-f-]{36}$/),
        generation: 1,
        heldBefore: false,
      });
      expect(await second.take(name, LONG)).toBeUndefined();
      expect(await first.take(name, LONG)).toBeUndefined();
    });

    it('gives exactly one grant to many takes at once across instances', async () => {
      const name = newName();
      const grants = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first : second).take(name, LONG)),
      );
      expect(grants.filter(Boolean)).toHaveLength(1);
    });

    it('frees a released name for the other instance, as new (generation 1, another token), held before', async () => {
      const name = newName();
      const mine = (await first.take(name, LONG))!;
      await first.release(mine);
      expect(await first.renew(mine, LONG)).toBe(false); // released: no longer its holder's
      const theirs = await second.take(name, LONG);
      // Taken from a holder who let go: what that holder did under it (a line stored) may be there.
      expect(theirs).toMatchObject({ name, generation: 1, heldBefore: true });
      expect(theirs!.token).not.toBe(mine.token);
    });

    it('releases once: a stale grant frees nothing taken since, and cannot renew it', async () => {
      const name = newName();
      const mine = (await first.take(name, LONG))!;
      await first.release(mine);
      const theirs = (await second.take(name, LONG))!;
      await first.release(mine);
      expect(await first.renew(mine, LONG)).toBe(false);
      expect(await first.take(name, LONG)).toBeUndefined();
      expect(await second.renew(theirs, LONG)).toBe(true);
    });

    it('lets another instance take over a lease its holder stopped renewing, and tells the old holder it is lost', async () => {
      const name = newName();
      const stopped = (await first.take(name, SHORT))!;
      expect(await second.take(name, LONG)).toBeUndefined();
      await sleep(SHORT + 150);
      const takeover = await second.take(name, LONG);
      expect(takeover).toMatchObject({ name, generation: 2, heldBefore: true });
      expect(takeover!.token).not.toBe(stopped.token);
      expect(await first.renew(stopped, LONG)).toBe(false);
      await first.release(stopped); // frees nothing
      expect(await first.take(name, LONG)).toBeUndefined();
    });

    it('keeps a renewed lease alive past its first expiry', async () => {
      const name = newName();
      const grant = (await first.take(name, SHORT))!;
      for (let i = 0; i < 4; i++) {
        await sleep(SHORT / 3);
        expect(await first.renew(grant, SHORT)).toBe(true);
      }
      expect(await second.take(name, LONG)).toBeUndefined(); // 400 ms after a 300 ms lease was taken
    });

    it('deletes only leases that expired more than the grace ago', async () => {
      const [gone, live] = [newName(), newName()];
      await first.take(gone, 1);
      const kept = (await first.take(live, LONG))!;
      await sleep(200);
      expect(await second.deleteExpired(LONG)).toBe(0);
      expect(await second.deleteExpired(100)).toBeGreaterThanOrEqual(1);
      expect(await second.take(gone, LONG)).toMatchObject({ generation: 1, heldBefore: false }); // its row was gone
      expect(await first.renew(kept, LONG)).toBe(true);
    });

    describe('fenced writes (AudioCacheIndex.insert / replace under a lease)', () => {
      it('stores under a lease still held, expired or not, as long as nobody took it over', async () => {
        const entry = await newEntry(db);
        const grant = (await first.take(`audition:${entry.cacheKey}`, 1))!;
        await sleep(50); // expired, not taken over: still nobody else's
        expect(await db.index.insert(entry, grant)).toBe(true);
        expect(await db.storedText(entry.cacheKey)).toBe(entry.text);
      });

      it('refuses the write of a holder whose lease was taken over, and stores the new holder’s', async () => {
        const entry = await newEntry(db);
        const name = `audition:${entry.cacheKey}`;
        const stale = (await first.take(name, 1))!;
        await sleep(50);
        const fresh = (await second.take(name, LONG))!;
        await expect(db.index.insert({ ...entry, text: 'the stale holder' }, stale)).rejects.toBeInstanceOf(
          LeaseLostError,
        );
        expect(await db.storedText(entry.cacheKey)).toBeNull();
        expect(await db.index.insert({ ...entry, text: 'the new holder' }, fresh)).toBe(true);
        await expect(db.index.replace({ ...entry, text: 'the stale holder, again' }, stale)).rejects.toBeInstanceOf(
          LeaseLostError,
        );
        expect(await db.storedText(entry.cacheKey)).toBe('the new holder');
      });

      it('replaces under a lease still held (the row the holder heals is written)', async () => {
        const entry = await newEntry(db);
        const grant = (await first.take(`audition:${entry.cacheKey}`, LONG))!;
        expect(await db.index.insert(entry, grant)).toBe(true);
        await db.index.replace({ ...entry, text: 'healed' }, grant);
        expect(await db.storedText(entry.cacheKey)).toBe('healed');
      });

      it('refuses a write under a released lease', async () => {
        const entry = await newEntry(db);
        const grant = (await first.take(`audition:${entry.cacheKey}`, LONG))!;
        await first.release(grant);
        await expect(db.index.insert(entry, grant)).rejects.toBeInstanceOf(LeaseLostError);
        expect(await db.storedText(entry.cacheKey)).toBeNull();
      });
    });
  });
}

/** A new entry of a known tenant under a key of its own. */
async function newEntry(db: LeasesUnderTest): Promise<NewCacheEntry> {
  const tenantId = randomUUID();
  await db.addTenant(tenantId);
  const cacheKey = randomBytes(32).toString('hex');
  return {
    tenantId,
    cacheKey,
    text: 'Érase una vez',
    ssml: '<speak version="1.0" xml:lang="es-AR"><voice name="es-AR-ElenaNeural">Érase una vez</voice></speak>',
    voiceId: 'es-AR-ElenaNeural',
    voiceSettings: { style: 'none', provider: 'azure', output_format: 'audio-24khz-48kbitrate-mono-mp3' },
    audioBlobPath: `audio-cache/${tenantId}/${cacheKey}.mp3`,
    audioUrl: `https://storage.test/khipu/audio-cache/${tenantId}/${cacheKey}.mp3`,
    audioDurationSeconds: 1.5,
    audioFileSizeBytes: 20_000,
    createdAt: T0,
    expiresAt: at(30 * DAY),
  };
}
