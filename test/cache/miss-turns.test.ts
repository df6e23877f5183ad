import { describe, expect, it } from 'vitest';
import type { CacheSlot, Lookup } from '../../src/cache/audio-cache.ts';
import { lineLeaseName, MissTurns } from '../../src/cache/miss-turns.ts';
import { Timings } from '../../src/timing.ts';
import { databaseOutage } from '../support/required-deps.ts';
import { MemoryCacheDatabase } from '../twins/memory-cache-database.ts';
import { MemoryLeases } from '../twins/memory-leases.ts';

const KEY = 'a'.repeat(64);
const silent = { info: () => {}, warn: () => {}, error: () => {} };
const slot = (): CacheSlot => ({ tenantId: 't', cacheKey: KEY, log: silent, timings: new Timings() });

/** MissTurns over a lease table another instance shares, with a cache whose answers the test gives. */
function waiting(answer: () => Lookup) {
  const database = new MemoryCacheDatabase();
  const lookups: number[] = [];
  const cache = {
    lookUp: async () => {
      lookups.push(performance.now());
      return answer();
    },
  };
  const leases = new MemoryLeases(database);
  const turns = new MissTurns({
    cache,
    leases,
    leaseTtlMs: 60_000,
    maxWaitMs: 60_000,
    databaseOutage: databaseOutage(),
  });
  return { turns, lookups, other: new MemoryLeases(database), leases };
}

describe('MissTurns', () => {
  it('gives the turn to the instance that takes the line’s lease, and keeps the lease for it', async () => {
    const { turns, other } = waiting(() => ({ kind: 'miss' }));
    const turn = await turns.awaitTurn(slot());
    expect(turn).toMatchObject({ kind: 'synthesize', lease: expect.objectContaining({ lost: false }) });
    expect(await other.take(lineLeaseName(KEY), 1_000)).toBeUndefined();
    if (turn.kind === 'synthesize') await turn.lease!.release();
    expect(await other.take(lineLeaseName(KEY), 1_000)).toBeDefined();
  });

  it('waits while another instance holds the line, looking again less and less often, and takes its entry', async () => {
    let stored = false;
    const audio = { status: 'HIT-L2' as const, audio: Buffer.from('mp3'), cacheKey: KEY, durationSeconds: 1 };
    const { turns, other, lookups } = waiting(() => (stored ? { kind: 'hit', audio } : { kind: 'miss' }));
    await other.take(lineLeaseName(KEY), 60_000);
    const turn = turns.awaitTurn(slot());
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    stored = true;
    expect(await turn).toEqual({ kind: 'stored', audio });
    // 50, 100, 200, 400, 800 ms (± a quarter): at most 6 lookups in 1.6 s where polling every 100 ms made 16.
    expect(lookups.length).toBeLessThanOrEqual(7);
    expect(lookups.length).toBeGreaterThanOrEqual(3);
  });

  it('finds the entry the previous holder stored just before it took the lease, and lets the lease go', async () => {
    const audio = { status: 'HIT-L2' as const, audio: Buffer.from('mp3'), cacheKey: KEY, durationSeconds: 1 };
    const { turns, other } = waiting(() => ({ kind: 'hit', audio }));
    expect(await turns.awaitTurn(slot())).toEqual({ kind: 'stored', audio });
    expect(await other.take(lineLeaseName(KEY), 1_000)).toBeDefined();
  });

  it('goes alone when the leases cannot be reached', async () => {
    const { turns, leases } = waiting(() => ({ kind: 'miss' }));
    leases.failing = new Error('connection refused');
    expect(await turns.awaitTurn(slot())).toEqual({ kind: 'synthesize', lease: undefined });
  });
});
