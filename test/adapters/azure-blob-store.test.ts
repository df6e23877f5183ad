import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { text } from 'node:stream/consumers';
import { describe, expect, inject, it } from 'vitest';
import { AzureBlobStore } from '../../src/adapters/azure-blob-store.ts';
import { BlobNotFoundError } from '../../src/ports/blob-store.ts';
import { startAzurite } from '../../tools/local-services/azurite.ts';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { describeBlobStoreContract } from '../ports/blob-store.contract.ts';

const connectionString = inject('azuriteConnectionString');
const uniqueContainer = () => `test-${randomBytes(6).toString('hex')}`;

/** A store on a container of its own (which it has to create itself), and a plain SDK client beside it. */
function storeUnderTest(options?: { listPageSize: number }) {
  const containerName = uniqueContainer();
  const store = AzureBlobStore.fromConfig({ kind: 'connection-string', connectionString, containerName }, options);
  const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
  return {
    store,
    // As the Khipu Cloud API uploads: the SDK's plain upload, no metadata of ours.
    putAsAnotherWriter: async (path: string, data: Uint8Array) => {
      await container.createIfNotExists();
      await container.getBlockBlobClient(path).uploadData(data, { blobHTTPHeaders: { blobContentType: 'audio/mpeg' } });
    },
  };
}

describeBlobStoreContract('AzureBlobStore on Azurite', async () => storeUnderTest());

// The same contract again with one-blob pages, so that listing has to follow continuation tokens.
describeBlobStoreContract('AzureBlobStore on Azurite, paged listing', async () => storeUnderTest({ listPageSize: 1 }));

describe('AzureBlobStore container', () => {
  it('creates its container on first use, private (no anonymous read access)', async () => {
    const containerName = uniqueContainer();
    const container = BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName);
    expect(await container.exists()).toBe(false);

    const store = AzureBlobStore.fromConfig({ kind: 'connection-string', connectionString, containerName });
    await store.put('audio-cache/t/k.mp3', Buffer.from('audio'), 'audio/mpeg');

    expect(await container.exists()).toBe(true);
    const policy = await container.getAccessPolicy();
    expect(policy.blobPublicAccess).toBeUndefined();
    // And an anonymous GET of the blob is refused.
    const anonymous = await fetch(container.getBlobClient('audio-cache/t/k.mp3').url);
    // Azure answers 404 to anonymous reads of a private blob, Azurite 403: refused either way.
    expect([403, 404]).toContain(anonymous.status);
  });

  it('lets several instances start on a missing container at once', async () => {
    const containerName = uniqueContainer();
    const stores = Array.from({ length: 4 }, () => AzureBlobStore.fromConfig({ kind: 'connection-string', connectionString, containerName }));
    await Promise.all(stores.map((store, i) => store.put(`p/${i}.mp3`, Buffer.from([i]), 'audio/mpeg')));
    const listed = [];
    for await (const info of stores[0]!.list('p/')) listed.push(info.path);
    expect(listed).toEqual(['p/0.mp3', 'p/1.mp3', 'p/2.mp3', 'p/3.mp3']);
  });

  it('creates its container again when it was deleted while the store was in use', async () => {
    const containerName = uniqueContainer();
    const store = AzureBlobStore.fromConfig({ kind: 'connection-string', connectionString, containerName });
    await store.put('a/1.mp3', Buffer.from('one'), 'audio/mpeg');
    await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName).delete();

    await expect(store.get('a/1.mp3')).rejects.toBeInstanceOf(BlobNotFoundError);
    await store.put('a/2.mp3', Buffer.from('two'), 'audio/mpeg');
    expect(await text((await store.get('a/2.mp3')).stream)).toBe('two');
  });

  it('tries again to create its container after storage was unreachable at first use', async () => {
    const port = await findFreePort();
    const store = AzureBlobStore.fromConfig(
      {
        kind: 'connection-string',
        connectionString: connectionString.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${port}`),
        containerName: uniqueContainer(),
      },
      { retry: { maxTries: 1 } },
    );
    await expect(store.get('a/x.mp3')).rejects.toThrow(/ECONNREFUSED/);

    const azurite = await startAzurite({ port });
    try {
      await store.put('a/x.mp3', Buffer.from('late'), 'audio/mpeg');
      expect(await text((await store.get('a/x.mp3')).stream)).toBe('late');
    } finally {
      await azurite.stop();
    }
  });
});
