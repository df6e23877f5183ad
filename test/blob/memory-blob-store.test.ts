import { MemoryBlobStore } from '../../src/blob/memory-blob-store.ts';
import { describeBlobStoreContract } from './blob-store.contract.ts';

describeBlobStoreContract('MemoryBlobStore', async () => new MemoryBlobStore());
