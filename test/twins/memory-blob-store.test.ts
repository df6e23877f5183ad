import { MemoryBlobStore } from './memory-blob-store.ts';
import { describeBlobStoreContract } from '../ports/blob-store.contract.ts';

describeBlobStoreContract('MemoryBlobStore', async () => {
  const store = new MemoryBlobStore();
  return { store, putAsAnotherWriter: (path, data) => store.putAsAnotherWriter(path, data, 'audio/mpeg') };
});
