import { RestError } from '@azure/storage-blob';
import type { BlobInfo } from '../ports/blob-store.ts';

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
