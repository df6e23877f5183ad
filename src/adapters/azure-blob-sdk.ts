import { BlobServiceClient, newPipeline, RestError, type StorageRetryOptions } from '@azure/storage-blob';
import type { BlobInfo } from '../ports/blob-store.ts';
import { createGuardedAgents, guardedAgentPolicy, type GuardedAgents } from './guarded-agents.ts';

// What AzureBlobStore (azure-blob-store.ts) tells the Blob SDK and reads from it.

// Blob metadata (x-ms-meta-writer) on every blob this service uploads. Metadata rather than
// index tags: setting tags needs more than the Storage Blob Data Contributor role.
const WRITER_KEY = 'writer';
export const WRITTEN_HERE = { [WRITER_KEY]: 'khipu-audition-cache' };

// The Blob Batch API takes at most 256 sub-requests per batch.
export const MAX_BATCH = 256;
export const BATCHES_IN_FLIGHT = 4;

export function* toBlobInfos(
  items: {
    name: string;
    properties: { contentLength?: number; lastModified: Date };
    metadata?: Record<string, string>;
  }[],
) {
  for (const item of items) {
    yield {
      path: item.name,
      size: item.properties.contentLength ?? 0,
      lastModified: item.properties.lastModified,
      writtenHere: item.metadata?.[WRITER_KEY] === WRITTEN_HERE[WRITER_KEY],
    } satisfies BlobInfo;
  }
}

export function isNotFound(error: unknown): boolean {
  return (
    error instanceof RestError &&
    error.statusCode === 404 &&
    (error.code === 'BlobNotFound' || error.code === 'ContainerNotFound' || error.code === undefined)
  );
}

export function isContainerMissing(error: unknown): boolean {
  return error instanceof RestError && error.code === 'ContainerNotFound';
}

/**
 * @azure/identity, loaded only where a managed identity is used (no connection string): it
 * takes ~0.2 s to load, which a cold start with a connection string (Azurite, local
 * development) should not pay.
 */
export function loadIdentity(): typeof import('@azure/identity') {
  // A require() the deployment bundle keeps lazy (an import would be evaluated at start).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@azure/identity') as typeof import('@azure/identity');
}

/** Room for a response's status line and headers beside the longest body read. */
const RESPONSE_HEAD_BYTES = 64 * 1024;

/** An account key, a SAS (anonymous), or a token (managed identity). */
type StoreCredential = BlobServiceClient['credential'];

/**
 * A Blob service client whose every request goes through `agents` (createStoreAgents): no response read past the
 * longest blob, and, for a tenant's account, no connection to an address that is not public.
 */
export function guardedServiceClient(
  url: string,
  credential: StoreCredential,
  options: { retry: StorageRetryOptions; agents: GuardedAgents },
): BlobServiceClient {
  const pipeline = newPipeline(credential, { retryOptions: options.retry });
  pipeline.factories.push(guardedAgentPolicy(options.agents));
  return new BlobServiceClient(url, pipeline);
}

/** The connections of stores that read blobs of at most `maxBlobBytes` (each response: that, and its head). */
export function createStoreAgents(maxBlobBytes: number, publicAddressesOnly: boolean): GuardedAgents {
  return createGuardedAgents({ maxResponseBytes: maxBlobBytes + RESPONSE_HEAD_BYTES, publicAddressesOnly });
}

/** The service URL and credential a connection string names (account key, SAS, or UseDevelopmentStorage=true). */
export function fromConnectionString(connectionString: string): [string, StoreCredential] {
  const parsed = BlobServiceClient.fromConnectionString(connectionString);
  return [parsed.url, parsed.credential];
}
