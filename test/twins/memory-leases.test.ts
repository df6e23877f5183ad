import { describeLeasesContract } from '../ports/leases.contract.ts';
import { MemoryAudioCacheIndex } from './memory-audio-cache-index.ts';
import { MemoryCacheDatabase } from './memory-cache-database.ts';
import { MemoryLeases } from './memory-leases.ts';

describeLeasesContract('MemoryLeases', async () => {
  const database = new MemoryCacheDatabase();
  return {
    first: new MemoryLeases(database),
    second: new MemoryLeases(database),
    index: new MemoryAudioCacheIndex(database),
    addTenant: async () => {},
    storedText: async (cacheKey) => database.rows.get(cacheKey)?.text ?? null,
    dispose: async () => {},
  };
});
