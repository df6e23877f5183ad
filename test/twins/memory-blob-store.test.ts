import { MemoryBlobStore } from './memory-blob-store.ts';
import { CONTRACT_MAX_BLOB_BYTES, describeBlobStoreContract } from '../ports/blob-store.contract.ts';

describeBlobStoreContract('MemoryBlobStore', async () => {
  const store = new MemoryBlobStore();
  store.maxBlobBytes = CONTRACT_MAX_BLOB_BYTES;
  return { store, putAsAnotherWriter: (path, data) => store.putAsAnotherWriter(path, data, 'audio/mpeg') };
});
