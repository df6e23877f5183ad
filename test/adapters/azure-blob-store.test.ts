import { randomBytes } from 'node:crypto';
import { BlobServiceClient } from '@azure/storage-blob';
import { text } from 'node:stream/consumers';
import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { DependencyStalledError } from '../../src/deadline.ts';
import { BlobNotFoundError } from '../../src/ports/blob-store.ts';
import { testBlobStore } from '../support/required-deps.ts';
import { startAzurite } from '../../tools/local-services/azurite.ts';
import { findFreePort } from '../../tools/local-services/free-port.ts';
import { startTcpProxy, type TcpProxy } from '../../tools/local-services/tcp-proxy.ts';
import { CONTRACT_MAX_BLOB_BYTES, describeBlobStoreContract } from '../ports/blob-store.contract.ts';

const connectionString = inject('azuriteConnectionString');
const uniqueContainer = () => `test-${randomBytes(6).toString('hex')}`;

/** A store on a container of its own (which it has to create itself), and a plain SDK client beside it. */
function storeUnderTest(options?: { listPageSize: number }) {
  const containerName = uniqueContainer();
  const store = testBlobStore(
    { kind: 'connection-string', connectionString, containerName },
    { ...options, maxBlobBytes: CONTRACT_MAX_BLOB_BYTES },
  );
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

    const store = testBlobStore({ kind: 'connection-string', connectionString, containerName });
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
    const stores = Array.from({ length: 4 }, () =>
      testBlobStore({ kind: 'connection-string', connectionString, containerName }),
    );
    await Promise.all(stores.map((store, i) => store.put(`p/${i}.mp3`, Buffer.from([i]), 'audio/mpeg')));
    const listed = [];
    for await (const info of stores[0]!.list('p/')) listed.push(info.path);
    expect(listed).toEqual(['p/0.mp3', 'p/1.mp3', 'p/2.mp3', 'p/3.mp3']);
  });

  it('creates its container again when it was deleted while the store was in use', async () => {
    const containerName = uniqueContainer();
    const store = testBlobStore({ kind: 'connection-string', connectionString, containerName });
    await store.put('a/1.mp3', Buffer.from('one'), 'audio/mpeg');
    await BlobServiceClient.fromConnectionString(connectionString).getContainerClient(containerName).delete();

    await expect(store.get('a/1.mp3')).rejects.toBeInstanceOf(BlobNotFoundError);
    await store.put('a/2.mp3', Buffer.from('two'), 'audio/mpeg');
    expect(await text((await store.get('a/2.mp3')).stream)).toBe('two');
  });

  it('tries again to create its container after storage was unreachable at first use', async () => {
    const port = await findFreePort();
    const store = testBlobStore(
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

describe('AzureBlobStore deadlines (Azurite behind a proxy that stops forwarding)', () => {
  const proxies: TcpProxy[] = [];
  afterEach(async () => {
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  /** A store whose every request goes through a proxy that can hang, and a store beside it that goes direct. */
  async function storeBehindProxy(options: { readTimeoutMs: number; writeTimeoutMs: number; maxBlobBytes?: number }) {
    const proxy = await startTcpProxy({
      host: '127.0.0.1',
      port: Number(/BlobEndpoint=http:\/\/127\.0\.0\.1:(\d+)/.exec(connectionString)![1]),
    });
    proxies.push(proxy);
    const containerName = uniqueContainer();
    const proxied = connectionString.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${proxy.port}`);
    return {
      proxy,
      store: testBlobStore({ kind: 'connection-string', connectionString: proxied, containerName }, options),
      direct: testBlobStore({ kind: 'connection-string', connectionString, containerName }),
    };
  }
  const failureOf = (work: Promise<unknown>) =>
    work.then(
      () => undefined,
      (error: unknown) => error,
    );

  it('fails a read that gets no answer with a DeadlineExceededError, fails the next at once, and answers again after a probe', async () => {
    const { proxy, store } = await storeBehindProxy({ readTimeoutMs: 300, writeTimeoutMs: 1_000 });
    await store.put('a/x.mp3', Buffer.from('audio'), 'audio/mpeg');
    proxy.pause();
    expect(await failureOf(store.get('a/x.mp3'))).toMatchObject({
      name: 'DeadlineExceededError',
      message: 'Blob Storage did not send the first bytes of a blob within 300 ms',
    });
    expect(await failureOf(store.get('a/x.mp3'))).toBeInstanceOf(DependencyStalledError);
    expect(await failureOf(store.put('a/y.mp3', Buffer.from('y'), 'audio/mpeg'))).toBeInstanceOf(
      DependencyStalledError,
    );
    proxy.resume();
    // One probe a second goes through; the first that is answered ends the stall.
    await vi.waitFor(async () => expect(await text((await store.get('a/x.mp3')).stream)).toBe('audio'), {
      timeout: 10_000,
      interval: 100,
    });
  });

  it('fails an upload that gets no answer within the write deadline', async () => {
    const { proxy, store } = await storeBehindProxy({ readTimeoutMs: 300, writeTimeoutMs: 500 });
    await store.put('a/first.mp3', Buffer.from('container made'), 'audio/mpeg');
    proxy.pause();
    expect(await failureOf(store.put('a/x.mp3', randomBytes(64_000), 'audio/mpeg'))).toMatchObject({
      name: 'DeadlineExceededError',
      message: 'Blob Storage did not finish an upload within 500 ms',
    });
    // (What was sent may still land once storage wakes up, as on a real network: a blob no row
    // refers to, which the cleanup's orphan pass removes.)
  });

  it('breaks off a read that stops midway, within the deadline of the chunk it waits for', async () => {
    const { proxy, store } = await storeBehindProxy({
      readTimeoutMs: 300,
      writeTimeoutMs: 10_000,
      maxBlobBytes: 64 * 1024 * 1024,
    });
    // Larger than every buffer between Azurite and the reader, so that some of it is still to
    // come when the proxy stops forwarding.
    const big = randomBytes(32 * 1024 * 1024);
    await store.put('a/big.mp3', big, 'audio/mpeg');
    const blob = await store.get('a/big.mp3');
    const chunks = blob.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let received = (await chunks.next()).value!.length;
    proxy.pause();
    const error = await (async () => {
      for (;;) {
        const next = await chunks.next();
        if (next.done) return undefined;
        received += next.value.length;
      }
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'DeadlineExceededError',
      message: 'Blob Storage did not send the next chunk of a blob within 300 ms',
    });
    expect(received).toBeLessThan(big.length);
  });

  it('does not count a reader that pauses as a store that hangs', async () => {
    const { store } = await storeBehindProxy({ readTimeoutMs: 200, writeTimeoutMs: 10_000 });
    const audio = randomBytes(4 * 1024 * 1024);
    await store.put('a/slow-reader.mp3', audio, 'audio/mpeg');
    const blob = await store.get('a/slow-reader.mp3');
    const chunks = blob.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const first = (await chunks.next()).value!;
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // five deadlines, with nothing asked for
    const rest: Buffer[] = [first];
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) rest.push(next.value);
    expect(Buffer.concat(rest).equals(audio)).toBe(true);
  });
});
