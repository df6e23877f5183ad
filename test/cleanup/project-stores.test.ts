import { randomBytes } from 'node:crypto';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { CacheCleanup, sweepHourOf, type CleanupOptions } from '../../src/cleanup/clean-cache.ts';
import {
  DEVELOPMENT_PROJECT_STORAGE_POLICY,
  projectStorageOf,
  type ProjectStorage,
} from '../../src/domain/project-storage.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { blobExists, seedEntry, seedProjectEntry } from '../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// The cleanup pass over projects' own storage accounts, on Postgres (both shapes) and Azurite's second account.
const account = inject('azuriteProjectAccount');
const NOW = new Date('2026-11-23T16:00:00Z');
const HOUR = 3_600_000;

function settingsFor(containerName: string, accessKey = account.accessKey) {
  const { accountName, endpoint } = account;
  return { creds: { storage: { azure: { accountName, accessKey, containerName, endpoint } } } };
}

function storageOf(containerName: string): ProjectStorage {
  const storage = projectStorageOf(settingsFor(containerName), DEVELOPMENT_PROJECT_STORAGE_POLICY);
  if (!storage || 'invalid' in storage) throw new Error('unusable test settings');
  return storage;
}

function customerContainer(name: string): ContainerClient {
  const credential = new StorageSharedKeyCredential(account.accountName, account.accessKey);
  return new BlobServiceClient(account.endpoint, credential).getContainerClient(name);
}

describe.each(DATABASE_SHAPES)("the cleanup pass in projects' own storage accounts, database shape: %s", (shape) => {
  let services: TestServices;
  let owner: TestAccount;
  let lines: string[];
  const log = {
    info: (...args: unknown[]) => lines.push(`info: ${args.join(' ')}`),
    warn: (...args: unknown[]) => lines.push(`warn: ${args.join(' ')}`),
    error: (...args: unknown[]) => lines.push(`error: ${args.join(' ')}`),
  };
  /** A project of the owner's tenant with its own account, container of its own (created, as the customer would). */
  async function projectWithAccount(settingsKey = account.accessKey) {
    const container = `c-${randomBytes(6).toString('hex')}`;
    await customerContainer(container).create();
    const projectId = await createTestProject(services.prisma, owner, settingsFor(container, settingsKey));
    return { projectId, storage: storageOf(container), container };
  }
  const inStore = (storage: ProjectStorage, path: string) =>
    services.projectStores
      .storeFor(storage)
      .get(path)
      .then(
        (blob) => (blob.stream.destroy(), true),
        () => false,
      );
  const keys = async () =>
    (await services.prisma.audioCache.findMany({ where: { tenantId: owner.tenantId }, select: { cacheKey: true } }))
      .map((row) => row.cacheKey)
      .sort();
  const run = (options: Partial<CleanupOptions> = {}) =>
    new CacheCleanup(
      {
        maintenance: services.maintenance,
        leases: services.leases,
        blobStore: services.blobStore,
        stats: services.statsReader,
        projects: { maintenance: services.maintenance, accounts: services.accounts, stores: services.projectStores },
      },
      { maxEntriesPerTenant: 10_000, pricePerMillionChars: 16, now: () => NOW, ...options },
    ).run(log);
  const at = (hoursAgo: number) => new Date(NOW.getTime() - hoursAgo * HOUR);

  beforeEach(async () => {
    services = await createTestServices({}, shape);
    owner = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    lines = [];
  });
  afterEach(() => services.dispose());

  it('deletes expired entries from a reachable account; one that refuses its key keeps its entries for a later pass', async () => {
    const good = await projectWithAccount();
    const wrongKey = randomBytes(64).toString('base64');
    const refused = await projectWithAccount(wrongKey); // its blobs were stored while the key was right
    const expired = { expiresAt: at(1), createdAt: at(30), lastAccessedAt: at(2) };
    const operatorEntry = await seedEntry(services, owner.tenantId, expired);
    const goneHere = await Promise.all([1, 2].map(() => seedProjectEntry(services, owner.tenantId, good, expired)));
    const waiting = await Promise.all([1, 2].map(() => seedProjectEntry(services, owner.tenantId, refused, expired)));
    const live = await seedProjectEntry(services, owner.tenantId, good, { expiresAt: at(-24), createdAt: at(3) });

    const report = await run();

    expect(report).toMatchObject({ ran: true, expired: 3, unreachableStores: 1, entriesWaiting: 2 });
    expect(await keys()).toEqual([...waiting, live].map((e) => e.cacheKey).sort());
    expect(await blobExists(services, operatorEntry.path)).toBe(false);
    for (const entry of goneHere) expect(await inStore(good.storage, entry.path)).toBe(false);
    for (const entry of waiting) expect(await inStore(refused.storage, entry.path)).toBe(true);
    expect(await inStore(good.storage, live.path)).toBe(true);
    const warning = lines.find((line) => line.includes(`project ${refused.projectId}'s storage account`));
    expect(warning).toMatch(/^warn: .*skipped in this pass.*its entries wait for a later pass/);
    expect(lines.join('\n')).not.toContain(wrongKey);
    expect(lines.join('\n')).not.toContain(account.accessKey);

    // The key is fixed in the project's settings: the next pass reaches the account.
    await services.prisma.$executeRaw`UPDATE projects SET settings = ${JSON.stringify(settingsFor(refused.container))}
      WHERE id = ${refused.projectId}::uuid`;
    expect(await run()).toMatchObject({ expired: 2, unreachableStores: 0, entriesWaiting: 0 });
    for (const entry of waiting) expect(await inStore(refused.storage, entry.path)).toBe(false);
    expect(await keys()).toEqual([live.cacheKey]);
  });

  it('keeps the entries of an account no project of the tenant names any more', async () => {
    const gone = await projectWithAccount();
    const entry = await seedProjectEntry(services, owner.tenantId, gone, { expiresAt: at(1), createdAt: at(30) });
    await services.prisma.$executeRaw`UPDATE projects SET settings = '{}' WHERE id = ${gone.projectId}::uuid`;

    expect(await run()).toMatchObject({ expired: 0, unreachableStores: 1, entriesWaiting: 1 });
    expect(await keys()).toEqual([entry.cacheKey]);
    expect(await inStore(gone.storage, entry.path)).toBe(true);
    expect(lines.join('\n')).toMatch(/no project of the tenant has its credentials any more/);
  });

  it("trims a tenant over the cap by its least recently played entries across the operator's and project accounts", async () => {
    const project = await projectWithAccount();
    const seedAt = (hoursAgo: number, inProject: boolean) => {
      const entry = { lastAccessedAt: at(hoursAgo), createdAt: at(hoursAgo + 1), expiresAt: at(-240) };
      return inProject
        ? seedProjectEntry(services, owner.tenantId, project, entry)
        : seedEntry(services, owner.tenantId, entry);
    };
    const oldestOperator = await seedAt(5, false);
    const oldestProject = await seedAt(4, true);
    const newerOperator = await seedAt(3, false);
    const newerProject = await seedAt(2, true);

    expect(await run({ maxEntriesPerTenant: 2 })).toMatchObject({ evicted: 2 });
    expect(await keys()).toEqual([newerOperator.cacheKey, newerProject.cacheKey].sort());
    expect(await blobExists(services, oldestOperator.path)).toBe(false);
    expect(await inStore(project.storage, oldestProject.path)).toBe(false);
    expect(await inStore(project.storage, newerProject.path)).toBe(true);
  });

  it("sweeps an account's orphans of ours once a day at its own hour, never a foreign blob, then forgets the empty store", async () => {
    const project = await projectWithAccount();
    const entry = await seedProjectEntry(services, owner.tenantId, project, { expiresAt: at(-240) });
    // A crash between blob and row, as it looks afterwards: the blob of ours, no row.
    await services.prisma.$executeRaw`DELETE FROM audio_cache WHERE cache_key = ${entry.cacheKey}`;
    await services.prisma.$executeRaw`DELETE FROM audio_cache_auditions WHERE cache_key = ${entry.cacheKey}`;
    const foreign = `audio-cache/${owner.tenantId}/narration.mp3`;
    await customerContainer(project.container).getBlockBlobClient(foreign).uploadData(Buffer.from('narration'));
    // Past the orphans' grace period (uploads carry the real time): two days on, at the account's hour and the next.
    const hour = sweepHourOf(owner.tenantId, project.storage.storeId);
    const day = new Date(Date.now() + 48 * HOUR);
    const atHour = (h: number) => new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), h));
    const registered = () =>
      services.prisma.$queryRaw<{ n: bigint }[]>`
        SELECT count(*) AS n FROM audio_cache_blob_stores WHERE tenant_id = ${owner.tenantId}::uuid`;

    expect(await run({ now: () => atHour((hour + 1) % 24) })).toMatchObject({ orphans: 0 });
    expect(await inStore(project.storage, entry.path)).toBe(true);

    expect(await run({ now: () => atHour(hour) })).toMatchObject({ orphans: 1 });
    expect(await inStore(project.storage, entry.path)).toBe(false);
    expect(await inStore(project.storage, foreign)).toBe(true);
    expect(Number((await registered())[0]!.n)).toBe(0);
  });
});
