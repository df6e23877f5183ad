import { BlobServiceClient, RestError, type ContainerClient, type StoragePipelineOptions, type StorageRetryOptions } from '@azure/storage-blob';
import type { BlobStorageConfig } from '../config.ts';
import { BlobNotFoundError, type BlobInfo, type BlobStore, type DeleteManyResult, type StoredBlob } from '../ports/blob-store.ts';
import { describeError } from '../errors.ts';

export interface AzureBlobStoreOptions {
  /** Blobs asked for per list request (the service's maximum is 5,000). */
  listPageSize?: number;
  retry?: StorageRetryOptions;
}

// The SDK's default retries back off for up to a minute. The cache sits on a user's request
// path and fails open, so a storage fault should surface within seconds, not after a minute.
const DEFAULT_RETRY: StorageRetryOptions = {
  maxTries: 3,
  retryDelayInMs: 200,
  maxRetryDelayInMs: 2_000,
  tryTimeoutInMs: 30_000,
};

/** The BlobStore over Azure Blob Storage (and Azurite, which speaks the same REST API). */
export class AzureBlobStore implements BlobStore {
  #ready: Promise<void> | undefined;
  readonly #listPageSize: number;

  constructor(
    private readonly container: ContainerClient,
    options: AzureBlobStoreOptions = {},
  ) {
    this.#listPageSize = options.listPageSize ?? 5_000;
  }

  static fromConfig(config: BlobStorageConfig, options: AzureBlobStoreOptions = {}): AzureBlobStore {
    const pipeline: StoragePipelineOptions = { retryOptions: options.retry ?? DEFAULT_RETRY };
    const service =
      config.kind === 'connection-string'
        ? BlobServiceClient.fromConnectionString(config.connectionString, pipeline)
        : new BlobServiceClient(config.accountUrl, new (loadIdentity().DefaultAzureCredential)(), pipeline);
    return new AzureBlobStore(service.getContainerClient(config.containerName), options);
  }

  async put(path: string, data: Uint8Array, contentType: string): Promise<void> {
    await this.#ensureContainer();
    const upload = () =>
      this.container.getBlockBlobClient(path).uploadData(data, { blobHTTPHeaders: { blobContentType: contentType }, metadata: WRITTEN_HERE });
    try {
      await upload();
    } catch (error) {
      // The container was deleted after this store created it (by hand, or a fresh emulator):
      // create it again rather than fail every write until the process restarts.
      if (!(error instanceof RestError && error.code === 'ContainerNotFound')) throw error;
      this.#ready = undefined;
      await this.#ensureContainer();
      await upload();
    }
  }

  async get(path: string): Promise<StoredBlob> {
    await this.#ensureContainer();
    try {
      // download() + its stream is one request; downloadToBuffer() adds a properties call.
      const response = await this.container.getBlobClient(path).download();
      if (!response.readableStreamBody) throw new Error('Blob download returned no body stream');
      return {
        stream: response.readableStreamBody as StoredBlob['stream'],
        contentType: response.contentType ?? 'application/octet-stream',
        size: response.contentLength ?? 0,
      };
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(path);
      throw error;
    }
  }

  async delete(path: string): Promise<boolean> {
    await this.#ensureContainer();
    const response = await this.container.getBlobClient(path).deleteIfExists({ deleteSnapshots: 'include' });
    return response.succeeded;
  }

  async deleteMany(paths: readonly string[]): Promise<DeleteManyResult> {
    const result: DeleteManyResult = { deleted: 0, missing: 0, failed: 0 };
    if (paths.length === 0) return result;
    try {
      await this.#ensureContainer();
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
            const response = await batchClient.deleteBlobs(
              batch.map((path) => this.#blobUrl(path)),
              this.container.credential,
              { deleteSnapshots: 'include' },
            );
            for (const sub of response.subResponses) {
              if (sub.status >= 200 && sub.status < 300) result.deleted++;
              else if (sub.status === 404) result.missing++;
              else {
                result.failed++;
                result.firstError ??= `${sub.status} ${sub.errorCode ?? sub.statusMessage}`;
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
    await this.#ensureContainer();
    const pages = this.container.listBlobsFlat({ prefix, includeMetadata: true }).byPage({ maxPageSize: this.#listPageSize });
    for await (const page of pages) {
      for (const item of page.segment.blobItems) {
        yield {
          path: item.name,
          size: item.properties.contentLength ?? 0,
          lastModified: item.properties.lastModified,
          writtenHere: item.metadata?.[WRITER_KEY] === WRITTEN_HERE[WRITER_KEY],
        };
      }
    }
  }

  #blobUrl(path: string): string {
    const container = new URL(this.container.url);
    container.pathname = `${container.pathname.replace(/\/$/, '')}/${path.split('/').map(encodeURIComponent).join('/')}`;
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
   * Creates the container (private: no public access level) the first time it is needed.
   * A failed attempt is forgotten so that the next call tries again.
   */
  #ensureContainer(): Promise<void> {
    this.#ready ??= this.container.createIfNotExists().then(
      () => undefined,
      (error: unknown) => {
        this.#ready = undefined;
        throw error;
      },
    );
    return this.#ready;
  }
}

// Blob metadata (x-ms-meta-writer) on every blob this service uploads. Metadata rather than
// index tags: setting tags needs more than the Storage Blob Data Contributor role.
const WRITER_KEY = 'writer';
const WRITTEN_HERE = { [WRITER_KEY]: 'khipu-audition-cache' };

// The Blob Batch API takes at most 256 sub-requests per batch.
const MAX_BATCH = 256;
const BATCHES_IN_FLIGHT = 4;

function isNotFound(error: unknown): boolean {
  return (
    error instanceof RestError && error.statusCode === 404 && (error.code === 'BlobNotFound' || error.code === 'ContainerNotFound' || error.code === undefined)
  );
}

/**
 * @azure/identity, loaded only where a managed identity is used (no connection string): it
 * takes ~0.2 s to load, which a cold start with a connection string (Azurite, local
 * development) should not pay.
 */
function loadIdentity(): typeof import('@azure/identity') {
  // A require() the deployment bundle keeps lazy (an import would be evaluated at start).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@azure/identity') as typeof import('@azure/identity');
}
