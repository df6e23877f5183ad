import { AzureBlobStore } from '../blob/azure-blob-store.ts';
import type { BlobStore } from '../blob/blob-store.ts';
import { parseConfig, type Config } from '../config.ts';
import { createPrismaClient, type PrismaClient } from '../db/prisma-client.ts';

/** The clients a function invocation works with, built from one parsed Config. */
export interface Services {
  config: Config;
  prisma: PrismaClient;
  blobStore: BlobStore;
}

export function createServices(config: Config): Services {
  return {
    config,
    prisma: createPrismaClient(config.databaseUrl),
    blobStore: AzureBlobStore.fromConfig(config.blobStorage),
  };
}

let workerServices: Services | undefined;

/**
 * This worker's services, built on first use and shared by every invocation after it
 * (connection pools and credentials are expensive; settings do not change while a worker
 * lives). A configuration error is thrown on every call until the settings are fixed.
 */
export function getWorkerServices(): Services {
  workerServices ??= createServices(parseConfig());
  return workerServices;
}
