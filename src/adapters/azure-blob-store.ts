import { Readable } from 'node:stream';
import { RestError, type ContainerClient, type StorageRetryOptions } from '@azure/storage-blob';
import type { BlobStorageConfig } from '../config.ts';
import { DeadlineExceededError, withDeadline } from '../deadline.ts';
import {
  BlobNotFoundError,
  BlobTooLargeError,
  type BlobInfo,
  type BlobStore,
  type DeleteManyResult,
  type StoredBlob,
} from '../ports/blob-store.ts';
import { describeError, loggable } from '../errors.ts';
import {
  BATCHES_IN_FLIGHT,
  createStoreAgents,
  fromConnectionString,
  guardedServiceClient,
  isContainerMissing,
  isNotFound,
  loadIdentity,
  MAX_BATCH,
  toBlobInfos,
  WRITTEN_HERE,
} from './azure-blob-sdk.ts';
import { withChunkDeadlines } from './chunk-deadlines.ts';
import type { StallGuard } from './stall-guard.ts';

export interface AzureBlobStoreOptions {
  /** Blobs asked for per list request (the service's maximum is 5,000). */
  listPageSize?: number;
  retry?: StorageRetryOptions;
  /**
   * A read's deadline (BLOB_READ_TIMEOUT_SECONDS): for its first chunk of audio, counted from
   * the call, and then for each next chunk, counted from when the reader asks for it.
   */
  readTimeoutMs?: number;
  /** Every other request's deadline (BLOB_WRITE_TIMEOUT_SECONDS): an upload, a delete, a page of a listing. */
  writeTimeoutMs?: number;
  /** Told of deadlines passed and answers received; fails calls at once while the store hangs. */
  stallGuard: StallGuard;
  /**
   * Create the container when it is missing (default true: the operator's own container). false for a project's
   * account: a missing container is then a failure, never created behind its owner's back, nor read as "no blob".
   */
  createContainer?: boolean;
  /** The longest blob `get` reads (MAX_AUDITION_MB; default 16 MB): a longer one is refused before it is read. */
  maxBlobBytes?: number;
}

const DEPENDENCY = 'Blob Storage';
const DEFAULT_READ_TIMEOUT_MS = 3_000;
const DEFAULT_WRITE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_BLOB_BYTES = 16 * 1024 * 1024;

// The SDK's default retries back off for up to a minute. The cache sits on a user's request
// path and fails open, so a storage fault should surface within seconds, not after a minute.
export const DEFAULT_RETRY: StorageRetryOptions = {
  maxTries: 3,
  retryDelayInMs: 200,
  maxRetryDelayInMs: 2_000,
  tryTimeoutInMs: 30_000,
};

/**
 * The BlobStore over Azure Blob Storage (and Azurite, which speaks the same REST API).
 *
 * Every request has a deadline (the SDK's own timeout covers only the wait for response headers,
 * and its retries multiply it): past it the request is aborted, which closes its connection, and
 * the call fails with a DeadlineExceededError, as a refused connection fails. After one deadline
 * the StallGuard fails the next calls at once until a probe gets an answer.
 */
export class AzureBlobStore implements BlobStore {
  #ready: Promise<void> | undefined;
  readonly #listPageSize: number;
  readonly #readTimeoutMs: number;
  readonly #writeTimeoutMs: number;
  readonly #guard: StallGuard;
  readonly #createContainer: boolean;
  readonly #maxBlobBytes: number;

  constructor(
    private readonly container: ContainerClient,
    options: AzureBlobStoreOptions,
  ) {
    this.#listPageSize = options.listPageSize ?? 5_000;
    this.#readTimeoutMs = options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
    this.#writeTimeoutMs = options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
    this.#guard = options.stallGuard;
    this.#createContainer = options.createContainer ?? true;
    this.#maxBlobBytes = options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES;
  }

  /** The operator's store: its connections carry no response longer than the longest blob read. */
  static fromConfig(config: BlobStorageConfig, options: AzureBlobStoreOptions): AzureBlobStore {
    const [url, credential] =
      config.kind === 'connection-string'
        ? fromConnectionString(config.connectionString)
        : [config.accountUrl, new (loadIdentity().DefaultAzureCredential)()];
    const service = guardedServiceClient(url, credential, {
      retry: options.retry ?? DEFAULT_RETRY,
      // The operator's own account may well be behind a private endpoint: any address.
      agents: createStoreAgents(options.maxBlobBytes ?? DEFAULT_MAX_BLOB_BYTES, false),
    });
    return new AzureBlobStore(service.getContainerClient(config.containerName), options);
  }

  /** The storage account's name (the operator's: no project may name it). */
  get accountName(): string {
    return this.container.accountName;
  }

  put(path: string, data: Uint8Array, contentType: string): Promise<void> {
    return this.#call('finish an upload', this.#writeTimeoutMs, async (abortSignal) => {
      await this.#ensureContainer();
      const upload = () =>
        this.container
          .getBlockBlobClient(path)
          .uploadData(data, { blobHTTPHeaders: { blobContentType: contentType }, metadata: WRITTEN_HERE, abortSignal });
      try {
        await upload();
      } catch (error) {
        // The container was deleted after this store created it (by hand, or a fresh emulator):
        // create it again rather than fail every write until the process restarts.
        if (!isContainerMissing(error) || !this.#createContainer) throw error;
        this.#ready = undefined;
        await this.#ensureContainer();
        await upload();
      }
    });
  }

  /**
   * Resolves once the blob's first chunk is here (all of a short one), within the read
   * deadline; each later chunk has the same deadline from when the reader asks for it (a reader
   * that pauses, a slow client, is not a stalled store).
   */
  async get(path: string): Promise<StoredBlob> {
    const download = new AbortController();
    const opened = await this.#call(
      'send the first bytes of a blob',
      this.#readTimeoutMs,
      async (abortSignal) => {
        await this.#ensureContainer();
        try {
          // download() + its stream is one request; downloadToBuffer() adds a properties call.
          const response = await this.container.getBlobClient(path).download(0, undefined, { abortSignal });
          if (!response.readableStreamBody) throw new Error('Blob download returned no body stream');
          const body = response.readableStreamBody as Readable;
          if ((response.contentLength ?? 0) > this.#maxBlobBytes) {
            body.destroy();
            throw new BlobTooLargeError(path, response.contentLength!, this.#maxBlobBytes);
          }
          const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Buffer, unknown>;
          return { response, body, chunks, first: await chunks.next() };
        } catch (error) {
          if (isNotFound(error) && (this.#createContainer || !isContainerMissing(error))) {
            throw new BlobNotFoundError(path);
          }
          throw error;
        }
      },
      download,
    );
    const { response, body, chunks, first } = opened;
    return {
      stream: withChunkDeadlines(first, chunks, {
        ms: this.#readTimeoutMs,
        guard: this.#guard,
        dependency: DEPENDENCY,
        stop: () => {
          download.abort(); // closes the connection
          body.destroy();
        },
      }),
      contentType: response.contentType ?? 'application/octet-stream',
      size: response.contentLength ?? 0,
    };
  }

  delete(path: string): Promise<boolean> {
    return this.#call('answer a delete', this.#writeTimeoutMs, async (abortSignal) => {
      await this.#ensureContainer();
      const response = await this.container
        .getBlobClient(path)
        .deleteIfExists({ deleteSnapshots: 'include', abortSignal });
      return response.succeeded;
    });
  }

  async deleteMany(paths: readonly string[]): Promise<DeleteManyResult> {
    const result: DeleteManyResult = { deleted: 0, missing: 0, failed: 0 };
    if (paths.length === 0) return result;
    try {
      await this.#call('answer a container check', this.#writeTimeoutMs, () => this.#ensureContainer());
    } catch (error) {
      return { ...result, failed: paths.length, firstError: describeError(error) };
    }
    const batchClient = this.container.getBlobBatchClient();
    const batches: string[][] = [];
    for (let i = 0; i < paths.length; i += MAX_BATCH) batches.push(paths.slice(i, i + MAX_BATCH));
    // A few batch requests in flight at once: each carries up to 256 deletions.
    for (let i = 0; i < batches.length; i += BATCHES_IN_FLIGHT) {
      await Promise.all(
        batches.slice(i, i + BATCHES_IN_FLIGHT).map(async (batch) => {
          try {
            // URLs and the container's credential rather than a BlobClient per path: a client
            // carries its own pipeline, and a cleanup deletes blobs by the hundred thousand.
            const response = await this.#call('answer a batch of deletes', this.#writeTimeoutMs, (abortSignal) =>
              batchClient.deleteBlobs(
                batch.map((path) => this.#blobUrl(path)),
                this.container.credential,
                { deleteSnapshots: 'include', abortSignal },
              ),
            );
            for (const sub of response.subResponses) {
              if (sub.status >= 200 && sub.status < 300) result.deleted++;
              else if (sub.status === 404) result.missing++;
              else {
                result.failed++;
                // the server's words
                result.firstError ??= `${sub.status} ${loggable(sub.errorCode ?? sub.statusMessage)}`;
              }
            }
          } catch (error) {
            result.failed += batch.length;
            result.firstError ??= describeError(error);
          }
        }),
      );
    }
    return result;
  }

  async *list(prefix: string): AsyncIterable<BlobInfo> {
    const listing = new AbortController();
    try {
      await this.#call('answer a container check', this.#writeTimeoutMs, () => this.#ensureContainer());
      const pages = this.container
        .listBlobsFlat({ prefix, includeMetadata: true, abortSignal: listing.signal })
        .byPage({ maxPageSize: this.#listPageSize })
        [Symbol.asyncIterator]();
      for (;;) {
        const next = await this.#call('send a page of a listing', this.#writeTimeoutMs, () => pages.next(), listing);
        if (next.done) return;
        yield* toBlobInfos(next.value.segment.blobItems);
      }
    } finally {
      listing.abort(); // a caller that stops early: no request left open
    }
  }

  #blobUrl(path: string): string {
    const container = new URL(this.container.url);
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    container.pathname = `${container.pathname.replace(/\/$/, '')}/${encoded}`;
    return container.toString();
  }

  urlOf(path: string): string {
    const url = new URL(this.#blobUrl(path));
    url.search = ''; // a connection string with a SAS token would put it here
    return url.toString();
  }

  /** BlobStore.warmUp: the container check of the first read or write, done ahead. */
  async warmUp(): Promise<void> {
    await this.#ensureContainer().catch(() => undefined);
  }

  /**
   * One call to the store within `ms`: refused at once while the store is known to hang (unless
   * it is the probe), aborted (`abort`, its connection closed) when the deadline passes.
   */
  async #call<T>(
    what: string,
    ms: number,
    work: (signal: AbortSignal) => Promise<T>,
    abort = new AbortController(),
  ): Promise<T> {
    this.#guard.admit();
    try {
      const result = await withDeadline(work(abort.signal), ms, () => {
        abort.abort();
        return new DeadlineExceededError(DEPENDENCY, what, ms);
      });
      this.#guard.answered();
      return result;
    } catch (error) {
      if (error instanceof DeadlineExceededError) this.#guard.timedOut();
      else if (
        error instanceof BlobNotFoundError ||
        error instanceof BlobTooLargeError ||
        (error instanceof RestError && error.statusCode !== undefined)
      )
        this.#guard.answered();
      throw error;
    }
  }

  /**
   * Creates the container (private: no public access level) the first time it is needed.
   * A failed attempt is forgotten so that the next call tries again.
   */
  #ensureContainer(): Promise<void> {
    if (!this.#createContainer) return Promise.resolve();
    // Its own deadline: callers share this one request, each with its own deadline on top.
    this.#ready ??= this.container.createIfNotExists({ abortSignal: AbortSignal.timeout(this.#writeTimeoutMs) }).then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }
}
