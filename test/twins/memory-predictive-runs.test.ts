import { describe, expect, it } from 'vitest';
import { describePredictiveRunsContract } from '../ports/predictive-runs.contract.ts';
import { MemoryCacheDatabase } from './memory-cache-database.ts';
import { MemoryPredictiveRuns } from './memory-predictive-runs.ts';

describePredictiveRunsContract('MemoryPredictiveRuns', () => {
  const database = new MemoryCacheDatabase();
  // Two instances over one database.
  return Promise.resolve({ first: new MemoryPredictiveRuns(database), second: new MemoryPredictiveRuns(database) });
});

describe('MemoryPredictiveRuns faults (for use-case tests)', () => {
  const run = { tenantId: '3b0f5a52-6c1e-4d7a-9f4e-2a8c1d9e7b10', language: 'es', lineVersion: 'v1' };
  const now = new Date('2026-11-23T16:00:00Z');

  it('fails the next call only after failNext, claiming nothing', async () => {
    const database = new MemoryCacheDatabase();
    const runs = new MemoryPredictiveRuns(database);
    const fault = new Error('connection reset');
    database.failNext(fault);

    await expect(runs.claim(run, now, 1_000, 100)).rejects.toBe(fault);
    expect(database.predictiveRuns.size).toBe(0);
    expect(await runs.claim(run, now, 1_000, 100)).toBe(true);
  });

  it('fails every call while `failing` is set, finishing nothing, and recovers when it is cleared', async () => {
    const database = new MemoryCacheDatabase();
    const runs = new MemoryPredictiveRuns(database);
    await runs.claim(run, now, 1_000, 100);
    database.failing = new Error('database down');

    await expect(runs.finish(run, now)).rejects.toThrow('database down');
    await expect(runs.claim(run, now, 1_000, 100)).rejects.toThrow('database down');
    database.failing = null;
    // Still unfinished: taken over once stale.
    expect(await runs.claim(run, new Date(now.getTime() + 100), 1_000, 100)).toBe(true);
  });
});
