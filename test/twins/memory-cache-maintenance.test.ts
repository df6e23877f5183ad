import { describe, expect, it } from 'vitest';
import { MemoryAudioCacheIndex } from './memory-audio-cache-index.ts';
import { MemoryCacheDatabase } from './memory-cache-database.ts';
import { MemoryCacheMaintenance } from './memory-cache-maintenance.ts';
import { MemoryPredictiveRuns } from './memory-predictive-runs.ts';
import {
  describeCacheMaintenanceContract,
  type CacheMaintenanceUnderTest,
} from '../ports/cache-maintenance.contract.ts';
import { describeProjectStoreMaintenanceContract } from '../ports/project-store-maintenance.contract.ts';

function createMemoryMaintenance(): Promise<CacheMaintenanceUnderTest> {
  const database = new MemoryCacheDatabase();
  return Promise.resolve({
    maintenance: new MemoryCacheMaintenance(database),
    seed: ({ writer, path, store, ...row }) => {
      const stored = { ...row, ...(path === undefined ? {} : { audioBlobPath: path }) };
      const { id, audioBlobPath } =
        writer === 'us' ? database.putOurRow(stored, { store }) : database.putForeignRow(stored);
      return Promise.resolve({ id, path: audioBlobPath });
    },
    deleteRowAsAnotherWriter: (cacheKey) => Promise.resolve(database.deleteRowAsAnotherWriter(cacheKey)),
    addSegmentReference: (cacheKey) => Promise.resolve(database.addSegmentReference(cacheKey)),
    keys: () => Promise.resolve([...database.rows.keys()].sort()),
    notedKeys: () => Promise.resolve([...database.notes.keys()].sort()),
    addUsage: (tenantId, hour) => Promise.resolve(database.addUsage(tenantId, hour, { hits: 1 })),
    usageHours: () => Promise.resolve(database.allUsage().map(({ tenantId, hour }) => ({ tenantId, hour }))),
    predictiveRuns: new MemoryPredictiveRuns(database),
    dispose: () => Promise.resolve(),
  });
}

describeCacheMaintenanceContract('MemoryCacheMaintenance', createMemoryMaintenance);
describeProjectStoreMaintenanceContract('MemoryCacheMaintenance', createMemoryMaintenance);

describe('MemoryCacheMaintenance beside MemoryAudioCacheIndex', () => {
  it('acts on the entries the index stored over the same database, and fails with its faults', async () => {
    const database = new MemoryCacheDatabase();
    const index = new MemoryAudioCacheIndex(database);
    const maintenance = new MemoryCacheMaintenance(database);
    const tenantId = '3b0f5a52-6c1e-4d7a-9f4e-2a8c1d9e7b10';
    const cacheKey = 'b'.repeat(64);
    const createdAt = new Date('2026-10-01T00:00:00Z');
    await index.insert({
      tenantId,
      cacheKey,
      text: 'Hola',
      ssml: '<speak/>',
      voiceId: 'es-AR-ElenaNeural',
      voiceSettings: {},
      audioBlobPath: `audio-cache/${tenantId}/${cacheKey}.mp3`,
      audioUrl: 'memory:///x',
      audioDurationSeconds: null,
      audioFileSizeBytes: 1,
      createdAt,
      expiresAt: new Date('2026-10-31T00:00:00Z'),
    });

    database.failNext(new Error('database down'));
    await expect(maintenance.deleteExpired(new Date('2026-11-23T16:00:00Z'), 10)).rejects.toThrow('database down');
    expect(await maintenance.deleteExpired(new Date('2026-11-23T16:00:00Z'), 10)).toEqual([
      `audio-cache/${tenantId}/${cacheKey}.mp3`,
    ]);
    expect(await index.find(cacheKey)).toBeNull();
  });
});
