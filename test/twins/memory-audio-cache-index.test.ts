import { describe, expect, it } from 'vitest';
import { MemoryAudioCacheIndex } from './memory-audio-cache-index.ts';
import { MemoryCacheDatabase } from './memory-cache-database.ts';
import { describeAudioCacheIndexContract } from '../ports/audio-cache-index.contract.ts';

describeAudioCacheIndexContract('MemoryAudioCacheIndex', () => {
  const database = new MemoryCacheDatabase();
  return Promise.resolve({
    index: new MemoryAudioCacheIndex(database),
    addTenant: () => Promise.resolve(),
    putForeignRow: ({ text, ...row }) => {
      database.putForeignRow({ ...row, ...(text === undefined ? {} : { text }) });
      return Promise.resolve();
    },
    deleteRowAsAnotherWriter: (cacheKey) => Promise.resolve(database.deleteRowAsAnotherWriter(cacheKey)),
    row: (cacheKey) => {
      const row = database.row(cacheKey);
      if (!row) return Promise.resolve(null);
      const { tenantId, text, audioBlobPath, hitCount, lastAccessedAt, createdAt, expiresAt } = row;
      return Promise.resolve({
        tenantId,
        text,
        audioBlobPath,
        hitCount,
        lastAccessedAt,
        createdAt,
        expiresAt,
        ours: database.isOurs(cacheKey),
      });
    },
    usage: (tenantId) => Promise.resolve(database.usage(tenantId)),
    note: (cacheKey) => {
      const note = database.notes.get(cacheKey);
      return Promise.resolve(note ? { storeId: note.storeId, projectId: note.projectId } : null);
    },
    registry: () =>
      Promise.resolve(
        [...database.registry.values()]
          .map((row) => structuredClone(row))
          .sort((a, b) => (a.tenantId + a.storeId < b.tenantId + b.storeId ? -1 : 1)),
      ),
    dispose: () => Promise.resolve(),
  });
});

describe('MemoryAudioCacheIndex faults (for use-case tests)', () => {
  const key = 'a'.repeat(64);
  const entry = {
    tenantId: '3b0f5a52-6c1e-4d7a-9f4e-2a8c1d9e7b10',
    cacheKey: key,
    text: 'Hola',
    ssml: '<speak/>',
    voiceId: 'es-AR-ElenaNeural',
    voiceSettings: {},
    audioBlobPath: `audio-cache/t/${key}.mp3`,
    audioUrl: 'memory:///x',
    audioDurationSeconds: null,
    audioFileSizeBytes: 1,
    createdAt: new Date('2026-11-23T16:00:00Z'),
    expiresAt: new Date('2026-12-23T16:00:00Z'),
  };

  it('fails the next call only after failNext, changing nothing', async () => {
    const database = new MemoryCacheDatabase();
    const index = new MemoryAudioCacheIndex(database);
    const fault = new Error('connection reset');
    database.failNext(fault);

    await expect(index.insert(entry)).rejects.toBe(fault);
    expect(database.row(key)).toBeUndefined();
    expect(await index.insert(entry)).toBe(true);
  });

  it('fails every call while `failing` is set, and recovers when it is cleared', async () => {
    const database = new MemoryCacheDatabase();
    const index = new MemoryAudioCacheIndex(database);
    await index.insert(entry);
    database.failing = new Error('database down');

    await expect(index.find(key)).rejects.toThrow('database down');
    await expect(index.recordHits([{ cacheKey: key, hits: 1, lastAccessedAt: entry.createdAt }])).rejects.toThrow(
      'database down',
    );
    expect(database.row(key)?.hitCount).toBe(0);

    database.failing = null;
    expect((await index.find(key))?.cacheKey).toBe(key);
  });
});
