import type { Readable } from 'node:stream';
import type { ProjectStorage } from '../domain/project-storage.ts';

/**
 * Where cached audio lives. The service owns this small interface; adapters implement it over
 * Azure Blob Storage (production, Azurite locally) and over memory (a twin for fast tests).
 * Paths are blob names inside the store's container, such as `audio-cache/{tenant}/{key}.mp3`.
 */
export interface BlobStore {
  /**
   * Stores `data` at `path`, replacing whatever was there, marked as written by this service
   * (`writtenHere` in `list`): other writers share the container, and only blobs this service
   * wrote are ever swept as orphans.
   */
  put(path: string, data: Uint8Array, contentType: string): Promise<void>;
  /**
   * Opens the blob for reading. Throws BlobNotFoundError when there is none, BlobTooLargeError (before reading any of
   * it) when its length is over the store's limit; a body that runs past the limit breaks off.
   */
  get(path: string): Promise<StoredBlob>;
  /** Deletes the blob; true if it existed, false if there was nothing to delete. */
  delete(path: string): Promise<boolean>;
  /**
   * Deletes many blobs (in as few requests as the service allows) and counts the outcome;
   * a failure is counted, not thrown, so that one bad blob does not stop a cleanup.
   */
  deleteMany(paths: readonly string[]): Promise<DeleteManyResult>;
  /** Every blob whose path starts with `prefix`, in path order, fetched page by page. */
  list(prefix: string): AsyncIterable<BlobInfo>;
  /** Where the blob lives, without any credential (no SAS): for the record, not for reading. */
  urlOf(path: string): string;
  /**
   * Does now what the first read or write would do first (open a connection, make sure the
   * container exists), so that a new instance's first request does not wait for it. Never
   * throws: what fails here fails again, and is reported, on the request that needs it.
   */
  warmUp?(): Promise<void>;
}

export interface StoredBlob {
  stream: Readable;
  contentType: string;
  size: number;
}

export interface DeleteManyResult {
  deleted: number;
  /** Already gone: nothing to do. */
  missing: number;
  failed: number;
  /** The first failure's reason, for the log. */
  firstError?: string;
}

export interface BlobInfo {
  path: string;
  size: number;
  lastModified: Date;
  /** Written by this service's `put` (not by the Khipu Cloud API or a person). */
  writtenHere: boolean;
}

/** The typed "nothing there" every adapter reports instead of its SDK's own error. */
export class BlobNotFoundError extends Error {
  constructor(readonly path: string) {
    super(`No blob at ${path}`);
    this.name = 'BlobNotFoundError';
  }
}

/** A blob longer than the store reads (MAX_AUDITION_MB): refused before any of it was read. */
export class BlobTooLargeError extends Error {
  constructor(
    readonly path: string,
    readonly size: number,
    readonly maxBytes: number,
  ) {
    super(`The blob at ${path} has ${size} bytes, more than the ${maxBytes} read`);
    this.name = 'BlobTooLargeError';
  }
}

/**
 * The blob stores of projects' own storage accounts (ProjectStorage): one per account, container and key, built on
 * first use and reused by every request after it, a bounded number of them (the least recently used go, and any unused
 * for a while, taking their key with them). A changed key is another store. Such a store never creates its
 * container: an account's owner decides what it holds, so a missing container is a failure, reported, not repaired.
 */
export interface ProjectBlobStores {
  storeFor(storage: ProjectStorage): BlobStore;
}
