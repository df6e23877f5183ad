import { describe, expect, it } from 'vitest';
import { MemoryAudioCacheIndex } from './memory-audio-cache-index.ts';
import { MemoryCacheDatabase } from './memory-cache-database.ts';
import { MemoryCacheStatsReader } from './memory-cache-stats.ts';
import { describeCacheStatsReaderContract } from '../ports/cache-stats.contract.ts';
import { keyOf } from '../support/cache-keys.ts';
import { at, HOUR } from '../support/time.ts';

describeCacheStatsReaderContract('MemoryCacheStatsReader', () => {
  const database = new MemoryCacheDatabase();
  return Promise.resolve({
    stats: new MemoryCacheStatsReader(database),
    seed: ({ writer, sizeBytes, hits, store, ...row }) => {
      const stored = { ...row, audioFileSizeBytes: sizeBytes, hitCount: hits };
      if (writer === 'us') database.putOurRow(stored, { store });
      else database.putForeignRow(stored);
      return Promise.resolve();
    },
    addUsage: (tenantId, hour, figures) => Promise.resolve(database.addUsage(tenantId, hour, figures)),
    registerStore: (tenantId, store) => Promise.resolve(database.registerStore(tenantId, store, database.now())),
    dispose: () => Promise.resolve(),
  });
});

describe('MemoryCacheStatsReader beside MemoryAudioCacheIndex', () => {
  it('counts the entries the index stored and the plays and syntheses it recorded over the same database, and fails with its faults', async () => {
    const database = new MemoryCacheDatabase();
    const index = new MemoryAudioCacheIndex(database);
    const stats = new MemoryCacheStatsReader(database);
    const tenantId = '3b0f5a52-6c1e-4d7a-9f4e-2a8c1d9e7b10';
    const cacheKey = keyOf('Hola');
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
      audioFileSizeBytes: 2048,
      createdAt: at(-HOUR),
      expiresAt: at(24 * HOUR),
    });
    await index.recordMisses([{ tenantId, hour: at(-HOUR), misses: 1 }]);
    await index.recordHits([{ cacheKey, hits: 3, lastAccessedAt: at(-1) }]);
    const query = { tenantId, now: at(0), pricePerMillionChars: 16 };

    expect(await stats.read(query)).toMatchObject({
      entries: 1,
      totalHits: 3,
      last24h: { entriesCreated: 1, hits: 3, misses: 1, hitRatio: 0.75, charactersSaved: 12 },
      topEntries: [{ voice: 'es-AR-ElenaNeural', text: 'Hola', hits: 3, sizeBytes: 2048 }],
      savings: { characters: 12 },
    });

    database.failNext(new Error('database down'));
    await expect(stats.read(query)).rejects.toThrow('database down');
    expect((await stats.read(query)).entries).toBe(1);
  });
});
