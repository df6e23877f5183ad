import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../../src/clock.ts';
import { BlobNotFoundError, type BlobInfo, type BlobStore, type DeleteManyResult, type StoredBlob } from '../../src/ports/blob-store.ts';

interface Entry {
  data: Buffer;
  contentType: string;
  lastModified: Date;
  writtenHere: boolean;
}

/** An in-memory BlobStore: the twin of AzureBlobStore for tests that need no Azurite. */
export class MemoryBlobStore implements BlobStore {
  readonly #blobs = new Map<string, Entry>();
  /** Set to make every call fail with it (storage unreachable), until set back to null. */
  failing: Error | null = null;
  /** Set to make each read break off with it after its first chunk (a connection lost midway). */
  breakingMidway: Error | null = null;

  /** `chunkBytes`: a read's pieces, as a socket hands them over. */
  constructor(
    private readonly now: Clock = systemClock,
    private readonly chunkBytes = 16_384,
  ) {}

  async put(path: string, data: Uint8Array, contentType: string): Promise<void> {
    if (this.failing) throw this.failing;
    // Copy: the caller may reuse its buffer, and a real store keeps its own bytes.
    this.#blobs.set(path, { data: Buffer.from(data), contentType, lastModified: this.now(), writtenHere: true });
  }

  /** A blob another writer (the Khipu Cloud API) stored in the shared container. */
  async putAsAnotherWriter(path: string, data: Uint8Array, contentType: string): Promise<void> {
    this.#blobs.set(path, { data: Buffer.from(data), contentType, lastModified: this.now(), writtenHere: false });
  }

  async get(path: string): Promise<StoredBlob> {
    if (this.failing) throw this.failing;
    const entry = this.#blobs.get(path);
    if (!entry) throw new BlobNotFoundError(path);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < entry.data.length; offset += this.chunkBytes) chunks.push(entry.data.subarray(offset, offset + this.chunkBytes));
    const breaking = this.breakingMidway;
    async function* pieces() {
      for (const [i, chunk] of chunks.entries()) {
        if (i > 0) {
          await new Promise((resolve) => setImmediate(resolve)); // pieces arrive apart
          if (breaking) throw breaking;
        }
        yield chunk;
      }
    }
    return { stream: Readable.from(pieces()), contentType: entry.contentType, size: entry.data.length };
  }

  async delete(path: string): Promise<boolean> {
    return this.#blobs.delete(path);
  }

  async deleteMany(paths: readonly string[]): Promise<DeleteManyResult> {
    let deleted = 0;
    for (const path of paths) if (this.#blobs.delete(path)) deleted++;
    return { deleted, missing: paths.length - deleted, failed: 0 };
  }

  urlOf(path: string): string {
    return `memory:///${path.split('/').map(encodeURIComponent).join('/')}`;
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const paths = [...this.#blobs.keys()].filter((path) => path.startsWith(prefix)).sort();
    for (const path of paths) {
      const entry = this.#blobs.get(path);
      if (entry) yield { path, size: entry.data.length, lastModified: entry.lastModified, writtenHere: entry.writtenHere };
    }
  }
}
