import { randomBytes } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';
import { describe, expect, inject, it } from 'vitest';
import { AzureProjectBlobStores } from '../../src/adapters/azure-project-blob-stores.ts';
import {
  DEVELOPMENT_PROJECT_STORAGE_POLICY,
  projectStorageOf,
  type ProjectStorage,
} from '../../src/domain/project-storage.ts';
import { BlobNotFoundError } from '../../src/ports/blob-store.ts';
import { CONTRACT_MAX_BLOB_BYTES, describeBlobStoreContract } from '../ports/blob-store.contract.ts';

// Azurite runs two accounts (AZURITE_ACCOUNTS): the operator's development account, and `projectstore`, standing for a
// project's own storage account as Khipu's settings page records it (settings.creds.storage.azure).
const operatorConnectionString = inject('azuriteConnectionString');
const account = inject('azuriteProjectAccount');
const uniqueContainer = () => `proj-${randomBytes(6).toString('hex')}`;

/** The project's settings naming the test account, as the Khipu web client saves them. */
function storageOf(azure: Record<string, string>): ProjectStorage {
  const storage = projectStorageOf({ creds: { storage: { azure } } }, DEVELOPMENT_PROJECT_STORAGE_POLICY);
  if (!storage || 'invalid' in storage) throw new Error(`unusable storage settings: ${JSON.stringify(storage)}`);
  return storage;
}

function projectAccount(containerName: string, accessKey = account.accessKey): ProjectStorage {
  return storageOf({ accountName: account.accountName, accessKey, containerName, endpoint: account.endpoint });
}

/** A client of the project account itself (the customer's view of it). */
function customerContainer(containerName: string) {
  const credential = new StorageSharedKeyCredential(account.accountName, account.accessKey);
  return new BlobServiceClient(account.endpoint, credential).getContainerClient(containerName);
}

describeBlobStoreContract('AzureProjectBlobStores on Azurite, a project account', async () => {
  const containerName = uniqueContainer();
  const container = customerContainer(containerName);
  await container.create(); // the customer's container: the service never creates one in a project's account
  return {
    store: new AzureProjectBlobStores({
      allowPrivateAddresses: true,
      maxBlobBytes: CONTRACT_MAX_BLOB_BYTES,
    }).storeFor(projectAccount(containerName)),
    putAsAnotherWriter: async (path, data) => {
      await container.getBlockBlobClient(path).uploadData(data, { blobHTTPHeaders: { blobContentType: 'audio/mpeg' } });
    },
  };
});

describe('AzureProjectBlobStores', () => {
  it("writes to the project's account at the settings' endpoint, not to the operator's", async () => {
    const containerName = uniqueContainer();
    await customerContainer(containerName).create();
    const store = new AzureProjectBlobStores({ allowPrivateAddresses: true }).storeFor(projectAccount(containerName));

    await store.put('audio-cache/t1/k.mp3', Buffer.from('project audio'), 'audio/mpeg');

    const blob = await customerContainer(containerName).getBlobClient('audio-cache/t1/k.mp3').downloadToBuffer();
    expect(blob.toString()).toBe('project audio');
    const operator = BlobServiceClient.fromConnectionString(operatorConnectionString).getContainerClient(containerName);
    expect(await operator.exists()).toBe(false);
    expect(store.urlOf('audio-cache/t1/k.mp3')).toBe(`${account.endpoint}/${containerName}/audio-cache/t1/k.mp3`);
  });

  it('never creates a missing container: writes and reads fail, and the container is still not there', async () => {
    const containerName = uniqueContainer();
    const store = new AzureProjectBlobStores({ allowPrivateAddresses: true }).storeFor(projectAccount(containerName));

    await expect(store.put('audio-cache/t1/k.mp3', Buffer.from('x'), 'audio/mpeg')).rejects.toThrow();
    // A missing container is a broken account, not a missing entry: the caller must not read it as BlobNotFound.
    const read = store.get('audio-cache/t1/k.mp3');
    await expect(read).rejects.toThrow();
    await expect(read).rejects.not.toBeInstanceOf(BlobNotFoundError);
    expect(await customerContainer(containerName).exists()).toBe(false);
  });

  it('fails every call with a wrong key, and the error carries no key', async () => {
    const containerName = uniqueContainer();
    await customerContainer(containerName).create();
    const wrongKey = randomBytes(64).toString('base64');
    const store = new AzureProjectBlobStores({ allowPrivateAddresses: true }).storeFor(
      projectAccount(containerName, wrongKey),
    );

    const error = await store.put('audio-cache/t1/k.mp3', Buffer.from('x'), 'audio/mpeg').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const seen = `${String(error)} ${(error as Error).stack ?? ''} ${JSON.stringify(error)}`;
    expect(seen).not.toContain(wrongKey);
    expect(seen).not.toContain(account.accessKey);
    await expect(store.get('audio-cache/t1/k.mp3')).rejects.not.toBeInstanceOf(BlobNotFoundError);
  });

  it('reuses one store per account, container and key; a changed key gets a new one', async () => {
    const stores = new AzureProjectBlobStores({ allowPrivateAddresses: true });
    const containerName = uniqueContainer();
    const first = stores.storeFor(projectAccount(containerName));
    expect(stores.storeFor(projectAccount(containerName))).toBe(first);
    expect(stores.storeFor(projectAccount(uniqueContainer()))).not.toBe(first);
    expect(stores.storeFor(projectAccount(containerName, randomBytes(64).toString('base64')))).not.toBe(first);
    expect(stores.size).toBe(3);
  });

  it('keeps a bounded number of stores and drops one left unused past the idle time (injected clock)', async () => {
    let now = Date.UTC(2030, 0, 1);
    const stores = new AzureProjectBlobStores({
      allowPrivateAddresses: true,
      max: 2,
      idleMs: 60_000,
      now: () => new Date(now),
    });
    const a = stores.storeFor(projectAccount('container-a'));
    stores.storeFor(projectAccount('container-b'));
    stores.storeFor(projectAccount('container-c'));
    expect(stores.size).toBe(2);
    expect(stores.storeFor(projectAccount('container-a'))).not.toBe(a); // evicted, built again

    now += 30_000;
    const c = stores.storeFor(projectAccount('container-c'));
    now += 31_000; // a idle 61 s, c 31 s
    stores.storeFor(projectAccount('container-d'));
    expect(stores.size).toBe(2); // c and d: a went with its key
    expect(stores.storeFor(projectAccount('container-c'))).toBe(c);
  });

  it('reads back what it wrote, through a store built again from the same settings', async () => {
    const containerName = uniqueContainer();
    await customerContainer(containerName).create();
    await new AzureProjectBlobStores({ allowPrivateAddresses: true })
      .storeFor(projectAccount(containerName))
      .put('audio-cache/t1/k.mp3', Buffer.from('again'), 'audio/mpeg');

    const blob = await new AzureProjectBlobStores({ allowPrivateAddresses: true })
      .storeFor(projectAccount(containerName))
      .get('audio-cache/t1/k.mp3');
    expect(await text(blob.stream)).toBe('again');
  });
});
