import { Readable } from 'node:stream';
import { systemClock, type Clock } from '../../src/clock.ts';
import {
  BlobNotFoundError,
  BlobTooLargeError,
  type BlobInfo,
  type BlobStore,
  type DeleteManyResult,
  type StoredBlob,
} from '../../src/ports/blob-store.ts';

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
  /** Set to make each read stall after its first chunk (a connection that goes quiet). */
  stallingMidway = false;
  /** Added to the length each read reports (a store whose length and body disagree). */
  misreportingSizeBy = 0;
  /** Reads whose body is still open (not ended or destroyed). */
  openReads = 0;
  /** The longest blob `get` reads (MAX_AUDITION_MB), as AzureBlobStore's `maxBlobBytes`. */
  maxBlobBytes = 16 * 1024 * 1024;

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
    if (entry.data.length > this.maxBlobBytes) throw new BlobTooLargeError(path, entry.data.length, this.maxBlobBytes);
    const chunks: Buffer[] = [];
    for (let offset = 0; offset < entry.data.length; offset += this.chunkBytes)
      chunks.push(entry.data.subarray(offset, offset + this.chunkBytes));
    const breaking = this.breakingMidway;
    const stalling = this.stallingMidway;
    let next = 0;
    const stream = new Readable({
      read() {
        if (next >= chunks.length) {
          this.push(null);
          return;
        }
        const chunk = chunks[next++]!;
        if (next === 1) {
          this.push(chunk);
          return;
        }
        // Later pieces arrive apart, as from a socket; a broken or quiet one never does.
        setImmediate(() => {
          if (this.destroyed) return;
          if (breaking) this.destroy(breaking);
          else if (!stalling) this.push(chunk);
        });
      },
    });
    this.openReads++;
    stream.once('close', () => this.openReads--);
    return { stream, contentType: entry.contentType, size: entry.data.length + this.misreportingSizeBy };
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
      if (entry)
        yield { path, size: entry.data.length, lastModified: entry.lastModified, writtenHere: entry.writtenHere };
    }
  }
}
