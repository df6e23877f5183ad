import type { Readable } from 'node:stream';
import type { CacheEntry } from '../ports/audio-cache-index.ts';
import type { BlobStore } from '../ports/blob-store.ts';

// A stored entry's blob as the cache reads it: whole, or streamed on from its first chunk.

export interface OpenedEntry {
  kind: 'open';
  entry: CacheEntry;
  /** The blob's body, to destroy when the caller goes away. */
  stream: Readable;
  /** The blob's chunks after the first. */
  blob: AsyncIterator<Buffer, unknown>;
  first: IteratorResult<Buffer, unknown>;
  /** The blob's length, as Blob Storage reported it. */
  size: number;
}

/** The entry's blob, opened up to its first chunk. Throws what the store throws (BlobNotFoundError: no blob). */
export async function openBlob(blobStore: BlobStore, entry: CacheEntry): Promise<OpenedEntry> {
  const stored = await blobStore.get(entry.audioBlobPath);
  const blob = stored.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer, unknown>;
  return { kind: 'open', entry, stream: stored.stream, blob, first: await blob.next(), size: stored.size };
}

/** The first chunk and all that follow it, as one buffer. */
export async function readRest(
  first: IteratorResult<Buffer, unknown>,
  rest: AsyncIterator<Buffer, unknown>,
): Promise<Buffer> {
  if (first.done) return Buffer.alloc(0);
  const chunks = [first.value];
  for (let next = await rest.next(); !next.done; next = await rest.next()) chunks.push(next.value);
  return Buffer.concat(chunks);
}

/**
 * The blob's audio from its first chunk on, as a web stream pulled by the response. `keep`
 * (when given) gets all of it once it has passed, exactly `size` bytes; `broken` hears of a
 * read that fails, ends short or runs past `size` (the response is then cut off before any
 * byte beyond its Content-Length, never passed off as complete). A caller that goes away
 * destroys the blob's body at once (its connection is not held until the next chunk).
 */
export function continueStream(
  first: Buffer,
  { stream, blob, size }: Pick<OpenedEntry, 'stream' | 'blob' | 'size'>,
  keep: ((audio: Buffer) => void) | undefined,
  broken: (error: unknown) => void,
): ReadableStream<Uint8Array> {
  const chunks: Buffer[] | undefined = keep ? [first] : undefined;
  let received = first.length;
  let sentFirst = false;
  let cancelled = false;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (!sentFirst) {
          sentFirst = true;
          controller.enqueue(first);
          return;
        }
        try {
          const next = await blob.next();
          if (cancelled) return;
          if (next.done) {
            if (received !== size) throw new Error(`the blob ended after ${received} of its ${size} bytes`);
            controller.close();
            keep?.(Buffer.concat(chunks!, received));
            return;
          }
          received += next.value.length;
          if (received > size) throw new Error(`the blob is longer than its ${size} bytes`);
          chunks?.push(next.value);
          controller.enqueue(next.value);
        } catch (error) {
          if (cancelled) return; // the read ended because the caller went away: nothing broke
          broken(error);
          controller.error(error);
        }
      },
      cancel() {
        // The caller went away: stop reading now (nothing is kept in memory).
        cancelled = true;
        stream.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}
