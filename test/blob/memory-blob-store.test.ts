import { MemoryBlobStore } from '../../src/blob/memory-blob-store.ts';
import { describeBlobStoreContract } from './blob-store.contract.ts';

describeBlobStoreContract('MemoryBlobStore', async () => {
  const store = new MemoryBlobStore();
  return { store, putAsAnotherWriter: (path, data) => store.putAsAnotherWriter(path, data, 'audio/mpeg') };
});
