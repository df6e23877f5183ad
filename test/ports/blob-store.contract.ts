import { randomBytes } from 'node:crypto';
import { buffer, text } from 'node:stream/consumers';
import { beforeEach, describe, expect, it } from 'vitest';
import { BlobNotFoundError, BlobTooLargeError, type BlobStore } from '../../src/ports/blob-store.ts';

/** The limit (MAX_AUDITION_MB) every store under this suite is built with. */
export const CONTRACT_MAX_BLOB_BYTES = 1024 * 1024;

export interface BlobStoreUnderTest {
  store: BlobStore;
  /** Stores a blob the way another writer of the shared container (the Khipu Cloud API) does. */
  putAsAnotherWriter(path: string, data: Uint8Array): Promise<void>;
}

/**
 * The behaviour the service relies on from any BlobStore, run against every adapter: the same
 * suite proves the in-memory twin and the real Azure adapter (on Azurite) agree.
 */
export function describeBlobStoreContract(name: string, createStore: () => Promise<BlobStoreUnderTest>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let store: BlobStore;
    let putAsAnotherWriter: BlobStoreUnderTest['putAsAnotherWriter'];
    beforeEach(async () => {
      ({ store, putAsAnotherWriter } = await createStore());
    });

    it('returns exactly the bytes and content type that were stored', async () => {
      const audio = randomBytes(48_000); // every byte value, as MP3 data has
      await store.put('audio-cache/t1/key.mp3', audio, 'audio/mpeg');

      const blob = await store.get('audio-cache/t1/key.mp3');
      expect(blob.contentType).toBe('audio/mpeg');
      expect(blob.size).toBe(audio.length);
      expect((await buffer(blob.stream)).equals(audio)).toBe(true);
    });

    it('refuses a blob longer than its limit before reading any of it, and reads one of exactly the limit', async () => {
      await putAsAnotherWriter('audio-cache/t1/huge.mp3', randomBytes(CONTRACT_MAX_BLOB_BYTES + 1));
      const refused = await store.get('audio-cache/t1/huge.mp3').catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(BlobTooLargeError);
      expect(refused).toMatchObject({ size: CONTRACT_MAX_BLOB_BYTES + 1, maxBytes: CONTRACT_MAX_BLOB_BYTES });
      const fits = randomBytes(CONTRACT_MAX_BLOB_BYTES);
      await putAsAnotherWriter('audio-cache/t1/fits.mp3', fits);
      expect((await buffer((await store.get('audio-cache/t1/fits.mp3')).stream)).equals(fits)).toBe(true);
    });

    it('keeps its own copy: changing the caller buffer afterwards changes nothing stored', async () => {
      const data = Buffer.from('original');
      await store.put('a/copy.txt', data, 'text/plain');
      data.write('mutated!');
      expect(await text((await store.get('a/copy.txt')).stream)).toBe('original');
    });

    it('replaces a blob written twice at the same path', async () => {
      await store.put('a/b.mp3', Buffer.from('first'), 'audio/mpeg');
      await store.put('a/b.mp3', Buffer.from('second version'), 'audio/ogg');
      const blob = await store.get('a/b.mp3');
      expect(blob.contentType).toBe('audio/ogg');
      expect(await text(blob.stream)).toBe('second version');
    });

    it('reports a missing blob as a typed BlobNotFoundError naming the path', async () => {
      const error = await store.get('audio-cache/none/missing.mp3').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BlobNotFoundError);
      expect((error as BlobNotFoundError).path).toBe('audio-cache/none/missing.mp3');
    });

    it('deletes a blob, and says whether there was one', async () => {
      await store.put('a/gone.mp3', Buffer.from('x'), 'audio/mpeg');
      expect(await store.delete('a/gone.mp3')).toBe(true);
      await expect(store.get('a/gone.mp3')).rejects.toBeInstanceOf(BlobNotFoundError);
      expect(await store.delete('a/gone.mp3')).toBe(false);
      expect(await store.delete('never/was.mp3')).toBe(false);
    });

    it('lists the blobs under a prefix, in path order, with sizes and modification times', async () => {
      const before = Date.now() - 60_000;
      await store.put('audio-cache/t2/b.mp3', Buffer.alloc(20), 'audio/mpeg');
      await store.put('audio-cache/t2/a.mp3', Buffer.alloc(10), 'audio/mpeg');
      await store.put('audio-cache/t3/c.mp3', Buffer.alloc(30), 'audio/mpeg');
      await store.put('other/t2/d.mp3', Buffer.alloc(40), 'audio/mpeg');

      const listed = [];
      for await (const info of store.list('audio-cache/t2/')) listed.push(info);

      expect(listed.map(({ path, size }) => ({ path, size }))).toEqual([
        { path: 'audio-cache/t2/a.mp3', size: 10 },
        { path: 'audio-cache/t2/b.mp3', size: 20 },
      ]);
      for (const info of listed) {
        expect(info.lastModified).toBeInstanceOf(Date);
        expect(info.lastModified.getTime()).toBeGreaterThan(before);
      }
    });

    it('tells the blobs it stored from those another writer stored in the same container', async () => {
      await store.put('audio-cache/t4/ours.mp3', Buffer.from('a'), 'audio/mpeg');
      await putAsAnotherWriter('audio-cache/t4/theirs.mp3', Buffer.from('b'));
      await putAsAnotherWriter('audio-cache/t4/taken-over.mp3', Buffer.from('c'));
      await store.put('audio-cache/t4/taken-over.mp3', Buffer.from('d'), 'audio/mpeg'); // rewritten here
      const listed = [];
      for await (const info of store.list('audio-cache/t4/'))
        listed.push({ path: info.path, writtenHere: info.writtenHere });
      expect(listed).toEqual([
        { path: 'audio-cache/t4/ours.mp3', writtenHere: true },
        { path: 'audio-cache/t4/taken-over.mp3', writtenHere: true },
        { path: 'audio-cache/t4/theirs.mp3', writtenHere: false },
      ]);
    });

    it('deletes many blobs at once, counting the deleted and the already missing', async () => {
      const paths = Array.from({ length: 300 }, (_, i) => `audio-cache/t9/${String(i).padStart(3, '0')}.mp3`);
      for (const path of paths.slice(0, 290)) await store.put(path, Buffer.from(path), 'audio/mpeg');
      expect(await store.deleteMany(paths)).toEqual({ deleted: 290, missing: 10, failed: 0 });
      const left = [];
      for await (const info of store.list('audio-cache/t9/')) left.push(info);
      expect(left).toEqual([]);
      expect(await store.deleteMany([])).toEqual({ deleted: 0, missing: 0, failed: 0 });
    });

    it('names a blob by a URL that ends with its path and carries no credential', () => {
      const url = new URL(store.urlOf('audio-cache/t1/abc.mp3'));
      expect(url.pathname.endsWith('/audio-cache/t1/abc.mp3')).toBe(true);
      expect(url.search).toBe('');
    });

    it('lists nothing under a prefix that holds no blob', async () => {
      const listed = [];
      for await (const info of store.list('audio-cache/nobody/')) listed.push(info);
      expect(listed).toEqual([]);
    });
  });
}
