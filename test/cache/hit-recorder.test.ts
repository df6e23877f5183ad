import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HitRecorder } from '../../src/cache/hit-recorder.ts';
import { PrismaAudioCacheIndex } from '../../src/adapters/postgres/prisma-audio-cache-index.ts';
import { createTestAccount, type TestAccount } from '../support/accounts.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';
// Plays are stamped with the tests' clock (`at`), never the machine's: the counts are what is checked.
import { at } from '../support/time.ts';

const quiet = { info() {}, warn() {}, error() {} };
/** One turn of the event loop: a flush started before it is now waiting on Postgres. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('HitRecorder over the real index: batched hit accounting with exact counts', () => {
  let services: TestServices;
  let account: TestAccount;
  let index: PrismaAudioCacheIndex;
  beforeAll(async () => {
    services = await createTestServices();
    account = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    index = new PrismaAudioCacheIndex(services.db);
  });
  afterAll(() => services.dispose());

  async function entries(count: number) {
    const keys = Array.from({ length: count }, () => randomBytes(32).toString('hex'));
    const createdAt = at(-60_000);
    for (const cacheKey of keys) {
      await index.insert({
        tenantId: account.tenantId,
        cacheKey,
        text: cacheKey,
        ssml: '<speak/>',
        voiceId: 'v',
        voiceSettings: {},
        audioBlobPath: `audio-cache/${account.tenantId}/${cacheKey}.mp3`,
        audioUrl: 'u',
        audioDurationSeconds: 1,
        audioFileSizeBytes: 1,
        createdAt,
        expiresAt: at(86_400_000),
      });
    }
    return keys;
  }
  const rows = (keys: string[]) =>
    services.prisma.audioCache.findMany({
      where: { cacheKey: { in: keys } },
      select: { cacheKey: true, hitCount: true, lastAccessedAt: true },
    });

  it('loses and double-counts nothing across periodic flushes, a failing flush, and the shutdown flush', async () => {
    const keys = await entries(5);
    // The timer never fires here: the test starts the flushes itself, as a busy instance's
    // timer would, and keeps playing while each one is still writing.
    const recorder = new HitRecorder(index, quiet, 3_600_000);
    const expected = new Map(keys.map((key) => [key, 0]));
    let latest = new Date(0);
    let played = 0;
    const play = async (rounds: number) => {
      for (let round = 0; round < rounds; round++) {
        for (let i = 0; i < 40; i++) {
          const key = keys[(round * 7 + i * 3) % keys.length]!;
          latest = at(++played); // strictly later each play
          recorder.record(key, latest);
          expected.set(key, expected.get(key)! + 1);
        }
        if (round % 4 === 0) void recorder.flush();
        await nextTurn();
      }
    };
    await play(20);

    // The database refuses hit updates for a while: those flushes fail, nothing is lost.
    await services.prisma.$executeRawUnsafe(`
      CREATE FUNCTION refuse_hits() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'simulated outage'; END $$`);
    await services.prisma.$executeRawUnsafe(
      'CREATE TRIGGER refuse_hits BEFORE UPDATE ON audio_cache FOR EACH ROW EXECUTE FUNCTION refuse_hits()',
    );
    try {
      await play(20);
      await recorder.flush(); // after every flush started so far, and refused too
      expect(recorder.pendingHits).toBeGreaterThan(0);
    } finally {
      // Also when the check fails: the other tests of this file share the table.
      await services.prisma.$executeRawUnsafe('DROP TRIGGER refuse_hits ON audio_cache');
    }

    await play(20);
    await recorder.close(); // the shutdown flush
    expect(recorder.pendingHits).toBe(0);

    const stored = await rows(keys);
    expect(Object.fromEntries(stored.map((r) => [r.cacheKey, r.hitCount]))).toEqual(Object.fromEntries(expected));
    const total = [...expected.values()].reduce((a, b) => a + b, 0);
    expect(total).toBe(60 * 40);
    // last_accessed_at is the latest play of each key, never moved back by an older batch.
    for (const row of stored) expect(row.lastAccessedAt.getTime()).toBeLessThanOrEqual(latest.getTime());
    expect(Math.max(...stored.map((r) => r.lastAccessedAt.getTime()))).toBe(latest.getTime());
  });

  it('never moves last_accessed_at back', async () => {
    const [key] = await entries(1);
    const recorder = new HitRecorder(index, quiet, 60_000);
    const later = at(3_600_000);
    recorder.record(key!, later);
    await recorder.flush();
    recorder.record(key!, at(-3_600_000));
    await recorder.close();
    const [row] = await rows([key!]);
    expect(row).toMatchObject({ hitCount: 2, lastAccessedAt: later });
  });

  it('keeps the hits of a key without a row for one more flush (a miss still being stored), then drops them', async () => {
    const recorder = new HitRecorder(index, quiet, 60_000);
    const late = randomBytes(32).toString('hex');
    const gone = randomBytes(32).toString('hex');
    recorder.record(late, at(0));
    recorder.record(gone, at(0));
    await recorder.flush(); // neither has a row yet
    expect(recorder.pendingHits).toBe(2);
    await index.insert({
      tenantId: account.tenantId,
      cacheKey: late,
      text: late,
      ssml: '<speak/>',
      voiceId: 'v',
      voiceSettings: {},
      audioBlobPath: 'p',
      audioUrl: 'u',
      audioDurationSeconds: 1,
      audioFileSizeBytes: 1,
      createdAt: at(0),
      expiresAt: at(86_400_000),
    });
    await recorder.flush(); // `late` is stored now; `gone` never will be
    expect(recorder.pendingHits).toBe(0);
    await recorder.close();
    expect((await rows([late]))[0]!.hitCount).toBe(1);
  });
});
