import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureProjectBlobStores } from '../../src/adapters/azure-project-blob-stores.ts';
import { isPublicAddress } from '../../src/adapters/guarded-agents.ts';
import type { ProjectStorage } from '../../src/domain/project-storage.ts';
import { BlobNotFoundError, BlobTooLargeError, type BlobStore } from '../../src/ports/blob-store.ts';
import {
  blobOf,
  BLOB_NOT_FOUND,
  startHostileStore,
  type HostileStore,
} from '../../tools/local-services/hostile-store.ts';

const GB = 1024 ** 3;
const MAX = 1024 * 1024; // the stores' MAX_AUDITION_MB here: 1 MB
/** What RSS may grow by while a store is offered a gigabyte (the limit, its buffers, and the test's own noise). */
const RSS_BOUND = 64 * 1024 * 1024;

/** A project's account at `serviceUrl`, as projectStorageOf would give it. */
function storageAt(serviceUrl: string, containerName = 'audios'): ProjectStorage {
  return {
    accountName: 'hostile',
    accessKey: Buffer.from('k'.repeat(64)).toString('base64'),
    containerName,
    serviceUrl,
    storeId: `${serviceUrl}/${containerName}`,
  };
}

async function drain(store: BlobStore, path: string): Promise<number> {
  const blob = await store.get(path);
  let read = 0;
  for await (const chunk of blob.stream) read += (chunk as Buffer).length;
  return read;
}

describe('isPublicAddress', () => {
  it.each([
    ['8.8.8.8', true],
    ['20.60.40.4', true], // an Azure Storage front end
    ['2001:4860:4860::8888', true],
    ['::ffff:8.8.8.8', true],
    ['127.0.0.1', false],
    ['10.1.2.3', false],
    ['172.16.0.1', false],
    ['192.168.1.1', false],
    ['169.254.169.254', false], // the instance metadata service
    ['100.64.0.1', false], // carrier-grade NAT
    ['0.0.0.0', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    ['::1', false],
    ['::', false],
    ['fe80::1', false],
    ['fd00::1', false],
    ['::ffff:127.0.0.1', false], // IPv4-mapped loopback
    ['::ffff:169.254.169.254', false],
    ['64:ff9b::7f00:1', false], // NAT64 of 127.0.0.1
    ['2002:7f00:1::', false], // 6to4 of 127.0.0.1
    ['localhost', false],
  ])('%s → %s', (address, expected) => {
    expect(isPublicAddress(address)).toBe(expected);
  });
});

describe("A project's storage account at an address that is not public (the deployed rule)", () => {
  let hostile: HostileStore;
  beforeAll(async () => {
    hostile = await startHostileStore();
  });
  afterAll(() => hostile.close());

  it.each([
    ['a literal loopback address', () => `http://127.0.0.1:${hostile.port}/acct`],
    ['a name that resolves to loopback', () => `http://localhost:${hostile.port}/acct`],
  ])('is never connected to: %s, by any call', async (_, url) => {
    const store = new AzureProjectBlobStores({ maxBlobBytes: MAX }).storeFor(storageAt(url()));
    const path = 'audio-cache/t/k.mp3';
    await expect(store.get(path)).rejects.toMatchObject({ code: 'ERR_ADDRESS_NOT_ALLOWED' });
    await expect(store.put(path, Buffer.from('x'), 'audio/mpeg')).rejects.toMatchObject({
      code: 'ERR_ADDRESS_NOT_ALLOWED',
    });
    await expect(store.delete(path)).rejects.toMatchObject({ code: 'ERR_ADDRESS_NOT_ALLOWED' });
    expect(await store.deleteMany([path])).toMatchObject({ deleted: 0, failed: 1 });
    const listing = async () => {
      for await (const _blob of store.list('audio-cache/')) return;
    };
    await expect(listing()).rejects.toMatchObject({ code: 'ERR_ADDRESS_NOT_ALLOWED' });
    expect(hostile.connections).toBe(0);
    expect(hostile.requests).toEqual([]);
  });
});

describe("Every byte a project's account sends is bounded (a store the tenant runs)", () => {
  let hostile: HostileStore;
  let store: BlobStore;
  beforeAll(async () => {
    hostile = await startHostileStore();
    // Development's rule (any address), so that the loopback stand-in is reached at all.
    store = new AzureProjectBlobStores({ maxBlobBytes: MAX, allowPrivateAddresses: true }).storeFor(
      storageAt(hostile.endpointFor('acct')),
    );
  });
  afterAll(() => hostile.close());

  it('refuses a blob whose length passes the limit before reading it', async () => {
    hostile.answer(() => blobOf(GB));
    const before = process.memoryUsage().rss;
    const refused = await store.get('audio-cache/t/big.mp3').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(BlobTooLargeError);
    expect(refused).toMatchObject({ size: GB, maxBytes: MAX });
    expect(process.memoryUsage().rss - before).toBeLessThan(RSS_BOUND);
  });

  it('reads a blob within the limit whole; one without a length is refused (the SDK needs it)', async () => {
    hostile.answer(() => blobOf(MAX - 1024));
    expect(await drain(store, 'audio-cache/t/fits.mp3')).toBe(MAX - 1024);
    hostile.answer(() => blobOf(GB, true));
    await expect(store.get('audio-cache/t/endless.mp3')).rejects.toThrow(/content length/);
    hostile.answer(() => BLOB_NOT_FOUND);
    await expect(store.get('audio-cache/t/none.mp3')).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it.each([
    ['a 500 to an upload', () => store.put('audio-cache/t/k.mp3', Buffer.from('audio'), 'audio/mpeg')],
    ['a 403 to a read', () => store.get('audio-cache/t/k.mp3')],
    [
      'a 200 to a listing',
      () => (async () => void (await store.list('audio-cache/')[Symbol.asyncIterator]().next()))(),
    ],
    [
      'a 202 to a batch of deletes',
      async () => {
        const result = await store.deleteMany(['audio-cache/t/k.mp3']);
        if (result.failed > 0) throw new Error(result.firstError);
      },
    ],
  ])('does not read a gigabyte answered as %s', async (what, call) => {
    const status = what.includes('500') ? 500 : what.includes('403') ? 403 : what.includes('202') ? 202 : 200;
    hostile.answer(() => ({
      status,
      headers: { 'content-type': 'application/xml', 'x-ms-error-code': 'InternalError' },
      bodyBytes: GB,
      chunked: true,
    }));
    const before = process.memoryUsage().rss;
    const sentBefore = hostile.bytesSent;
    const error = await call().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(String(error)).toMatch(/larger than/);
    expect(process.memoryUsage().rss - before).toBeLessThan(RSS_BOUND);
    // Written by the stand-in before the connection was closed, on each of the SDK's tries: the limit, and what the
    // sockets' buffers held.
    expect(hostile.bytesSent - sentBefore).toBeLessThan(3 * (MAX + 16 * 1024 * 1024));
  });
});
