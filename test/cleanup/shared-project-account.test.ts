import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BlobServiceClient, StorageSharedKeyCredential, type ContainerClient } from '@azure/storage-blob';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { CacheCleanup, sweepHourOf, type CleanupOptions } from '../../src/cleanup/clean-cache.ts';
import {
  DEVELOPMENT_PROJECT_STORAGE_POLICY,
  projectStorageOf,
  type ProjectStorage,
} from '../../src/domain/project-storage.ts';
import { purgeTenantCache } from '../../src/purge/purge-tenant-cache.ts';
import { createTestAccount, createTestProject, type TestAccount } from '../support/accounts.ts';
import { blobExists, seedEntry, seedProjectEntry, type SeedEntry, type SeededEntry } from '../support/cache-entries.ts';
import { DATABASE_SHAPES } from '../support/khipu-database.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';

// Two tenants whose projects name the same storage account and container (one store id), each with its own key: the
// cleanup and the purge there go per (tenant, store). On Postgres (both shapes) and Azurite's second account.
const account = inject('azuriteProjectAccount');
const NOW = new Date('2026-11-23T16:00:00Z');
const HOUR = 3_600_000;

function settingsFor(containerName: string, accessKey: string, endpoint = account.endpoint) {
  const { accountName } = account;
  return { creds: { storage: { azure: { accountName, accessKey, containerName, endpoint } } } };
}

function storageOf(settings: object): ProjectStorage {
  const storage = projectStorageOf(settings, DEVELOPMENT_PROJECT_STORAGE_POLICY);
  if (!storage || 'invalid' in storage) throw new Error('unusable test settings');
  return storage;
}

function customerContainer(name: string): ContainerClient {
  const credential = new StorageSharedKeyCredential(account.accountName, account.accessKey);
  return new BlobServiceClient(account.endpoint, credential).getContainerClient(name);
}

describe.each(DATABASE_SHAPES)('two tenants sharing a project storage account, database shape: %s', (shape) => {
  let services: TestServices;
  let lines: string[];
  const log = {
    info: (...args: unknown[]) => lines.push(`info: ${args.join(' ')}`),
    warn: (...args: unknown[]) => lines.push(`warn: ${args.join(' ')}`),
    error: (...args: unknown[]) => lines.push(`error: ${args.join(' ')}`),
  };
  /** One container both tenants' projects name; `storage` holds the right key (what the entries were stored with). */
  let container: string;
  let storage: ProjectStorage;
  /** Tenant A, whose project's key is wrong now (rotated in the account, not in the settings), and tenant B. */
  let a: TestAccount & { storeProject: string };
  let b: TestAccount & { storeProject: string };
  const wrongKey = randomBytes(64).toString('base64');

  async function tenantNaming(key: string) {
    const owner = await createTestAccount(services.prisma, services.config.jwt.secretKey);
    const storeProject = await createTestProject(services.prisma, owner, settingsFor(container, key));
    return { ...owner, storeProject };
  }
  const seed = (tenant: typeof a, entry: Omit<SeedEntry, 'writer'>) =>
    seedProjectEntry(services, tenant.tenantId, { storage, projectId: tenant.storeProject }, entry);
  const at = (hoursAgo: number) => new Date(NOW.getTime() - hoursAgo * HOUR);
  const expiredHoursAgo = (hours: number) => ({
    expiresAt: at(hours),
    createdAt: at(30),
    lastAccessedAt: at(hours + 1),
  });
  const blobThere = (path: string) => customerContainer(container).getBlockBlobClient(path).exists();
  const keysOf = async (tenant: TestAccount) =>
    (
      await services.prisma.audioCache.findMany({ where: { tenantId: tenant.tenantId }, select: { cacheKey: true } })
    ).map((row) => row.cacheKey);
  const sortedKeys = (entries: SeededEntry[]) => entries.map((entry) => entry.cacheKey).sort();
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
  const warningsAbout = (projectId: string) =>
    lines.filter((line) => line.startsWith('warn: ') && line.includes(`project ${projectId}'s storage account`));

  beforeEach(async () => {
    services = await createTestServices({}, shape);
    lines = [];
    container = `c-${randomBytes(6).toString('hex')}`;
    await customerContainer(container).create();
    storage = storageOf(settingsFor(container, account.accessKey));
    a = await tenantNaming(wrongKey);
    b = await tenantNaming(account.accessKey);
  });
  afterEach(() => services.dispose());

  it("one tenant's refused key does not hold up another's expiry in the account: B's go in the same pass, A's wait, A alone reported", async () => {
    // A's expire first, so A's come first in the pass's batch.
    const waiting = [await seed(a, expiredHoursAgo(4)), await seed(a, expiredHoursAgo(3))];
    const gone = [await seed(b, expiredHoursAgo(2)), await seed(b, expiredHoursAgo(1))];

    const report = await run();

    expect(report).toMatchObject({ expired: 2, unreachableStores: 1, entriesWaiting: 2, misplacedEntries: 0 });
    expect(await keysOf(b)).toEqual([]);
    for (const entry of gone) expect(await blobThere(entry.path)).toBe(false);
    expect((await keysOf(a)).sort()).toEqual(sortedKeys(waiting));
    for (const entry of waiting) expect(await blobThere(entry.path)).toBe(true);
    expect(warningsAbout(a.storeProject)).toHaveLength(1);
    expect(warningsAbout(a.storeProject)[0]).toMatch(/skipped in this pass: it failed/);
    expect(warningsAbout(b.storeProject)).toEqual([]);
    expect(lines.join('\n')).not.toContain(wrongKey);
    expect(lines.join('\n')).not.toContain(account.accessKey);
  });

  it("another tenant's key never deletes a tenant's blobs: A's expired entries stay, blobs and rows, while A's key is refused", async () => {
    // B's expire first, so B's come first in the pass's batch (and B's key would be the first one at hand).
    const gone = [await seed(b, expiredHoursAgo(4)), await seed(b, expiredHoursAgo(3))];
    const waiting = [await seed(a, expiredHoursAgo(2)), await seed(a, expiredHoursAgo(1))];

    expect(await run()).toMatchObject({ expired: 2, unreachableStores: 1, entriesWaiting: 2 });

    for (const entry of waiting) expect(await blobThere(entry.path)).toBe(true);
    expect((await keysOf(a)).sort()).toEqual(sortedKeys(waiting));
    for (const entry of gone) expect(await blobThere(entry.path)).toBe(false);
    expect(await keysOf(b)).toEqual([]);
    expect(warningsAbout(a.storeProject)).toHaveLength(1);
    expect(warningsAbout(b.storeProject)).toEqual([]);
  });

  it('both keys refused: each tenant reported unreachable in the account, once', async () => {
    await services.prisma.$executeRaw`UPDATE projects SET settings = ${JSON.stringify(settingsFor(container, wrongKey))}
      WHERE id = ${b.storeProject}::uuid`;
    await seed(a, expiredHoursAgo(2));
    await seed(b, expiredHoursAgo(1));

    expect(await run()).toMatchObject({ expired: 0, unreachableStores: 2, entriesWaiting: 2 });
    expect(warningsAbout(a.storeProject)).toHaveLength(1);
    expect(warningsAbout(b.storeProject)).toHaveLength(1);
  });

  it("a row whose blob path is under another tenant's folder is never sent: counted, warned about once, its row kept", async () => {
    const aLive = await seed(a, { expiresAt: at(-240), createdAt: at(30) });
    const aOther = await seed(a, { expiresAt: at(-240), createdAt: at(30) });
    // B's rows (the oldest expired) naming A's blobs: B's key could delete them, the account being the same.
    const misplaced = [
      await seed(b, { ...expiredHoursAgo(6), blob: false }),
      await seed(b, { ...expiredHoursAgo(5), blob: false }),
    ];
    await pointAt(misplaced[0]!, aLive.path);
    await pointAt(misplaced[1]!, aOther.path);
    const gone = [await seed(b, expiredHoursAgo(2)), await seed(b, expiredHoursAgo(1))];

    // One entry per batch: the rows set aside do not come back in the pass, nor hold up those behind them. The pass runs
    // outside A's sweep hour in the account (tenant ids are random), where A's refused key would make A unreachable.
    const hour = sweepHourOf(a.tenantId, storage.storeId) === NOW.getUTCHours() ? at(-1) : NOW;
    const report = await run({ batchSize: 1, now: () => hour });

    expect(report).toMatchObject({ expired: 2, unreachableStores: 0, entriesWaiting: 0, misplacedEntries: 2 });
    expect(await blobThere(aLive.path)).toBe(true);
    expect(await blobThere(aOther.path)).toBe(true);
    expect((await keysOf(b)).sort()).toEqual(sortedKeys(misplaced));
    for (const entry of gone) expect(await blobThere(entry.path)).toBe(false);
    const warnings = lines.filter((line) => line.includes("outside its tenant's folder"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(new RegExp(`^warn: .*tenant ${b.tenantId}.*not deleted, its row kept`));
  });

  it("a purge of B never deletes A's blob through a row of B's naming it", async () => {
    const aLive = await seed(a, { expiresAt: at(-240) });
    const misplaced = await seed(b, { expiresAt: at(-240), blob: false });
    await pointAt(misplaced, aLive.path);
    const purged = await seed(b, { expiresAt: at(-240) });
    const operatorEntry = await seedEntry(services, b.tenantId, { expiresAt: at(-240) });

    const projects = { maintenance: services.maintenance, accounts: services.accounts, stores: services.projectStores };
    const result = await purgeTenantCache(
      { maintenance: services.maintenance, blobStore: services.blobStore, projects },
      { tenantId: b.tenantId },
      log,
    );

    expect(result).toMatchObject({ entriesDeleted: 2, blobsDeleted: 2, entriesKept: 1 });
    expect(await blobThere(aLive.path)).toBe(true);
    expect(await blobThere(purged.path)).toBe(false);
    expect(await keysOf(b)).toEqual([misplaced.cacheKey]);
    expect(await keysOf(a)).toEqual([aLive.cacheKey]);
    expect(await blobExists(services, operatorEntry.path)).toBe(false);
  });

  it("B's orphans in the account are swept at B's hour though A is unreachable there; A's are not B's to sweep", async () => {
    // Past the orphans' grace period (uploads carry the real time): two days on, at B's hour in the account.
    const hour = sweepHourOf(b.tenantId, storage.storeId);
    const day = new Date(Date.now() + 48 * HOUR);
    const now = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour));
    const hoursBefore = (hours: number) => new Date(now.getTime() - hours * HOUR);
    // A's expired entry meets A's refused key first in the pass: A is unreachable in the account from then on.
    const aWaiting = await seed(a, { expiresAt: hoursBefore(1), createdAt: hoursBefore(30) });
    const aOrphan = await seed(a, { expiresAt: hoursBefore(-240) });
    const bOrphan = await seed(b, { expiresAt: hoursBefore(-240) });
    const bLive = await seed(b, { expiresAt: hoursBefore(-240) });
    await forgetRow(aOrphan);
    await forgetRow(bOrphan);

    const report = await run({ now: () => now });

    expect(report).toMatchObject({ expired: 0, orphans: 1, unreachableStores: 1, entriesWaiting: 1 });
    expect(await blobThere(bOrphan.path)).toBe(false);
    expect(await blobThere(bLive.path)).toBe(true);
    expect(await blobThere(aOrphan.path)).toBe(true);
    expect(await blobThere(aWaiting.path)).toBe(true);
    expect(warningsAbout(b.storeProject)).toEqual([]);
  });

  it("the orphan sweep deletes with B's key only names in B's folder, whatever the account's listing answers", async () => {
    // B's project reaches the account through a proxy whose listings name A's folder where the account says B's.
    const proxy = await renamingListings(account.endpoint, { from: b.tenantId, to: a.tenantId });
    try {
      const viaProxy = settingsFor(container, account.accessKey, proxy.endpoint);
      const bProject = await createTestProject(services.prisma, b, viaProxy);
      const bStorage = storageOf(viaProxy);
      // Under the same key in both folders, a blob of ours that no row refers to: B's orphan, and A's (A's to sweep).
      const cacheKey = randomBytes(32).toString('hex');
      const bOrphan = await seedProjectEntry(
        services,
        b.tenantId,
        { storage: bStorage, projectId: bProject },
        { cacheKey },
      );
      await forgetRow(bOrphan);
      const aOrphan = await seed(a, { cacheKey });
      await forgetRow(aOrphan);
      const hour = sweepHourOf(b.tenantId, bStorage.storeId);
      const day = new Date(Date.now() + 48 * HOUR);
      const now = new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), hour));

      await run({ now: () => now });

      expect(proxy.listings()).toBeGreaterThan(0);
      expect(await blobThere(aOrphan.path)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  /** Removes an entry's row and note, leaving its blob: a crash between blob and row, as it looks afterwards. */
  async function forgetRow(entry: SeededEntry): Promise<void> {
    await services.prisma.$executeRaw`DELETE FROM audio_cache WHERE cache_key = ${entry.cacheKey}`;
    await services.prisma.$executeRaw`DELETE FROM audio_cache_auditions WHERE cache_key = ${entry.cacheKey}`;
  }

  /** Makes an entry's row name another blob (a row whose path does not match its tenant, however it came about). */
  async function pointAt(entry: SeededEntry, path: string): Promise<void> {
    await services.prisma
      .$executeRaw`UPDATE audio_cache SET audio_blob_path = ${path} WHERE cache_key = ${entry.cacheKey}`;
  }
});

/**
 * A proxy to the blob service at `target` (Azurite's path-style URL) whose answers to List Blobs say `to` wherever the
 * account said `from` (an account answering beside the point); every other request and answer passes unchanged.
 */
async function renamingListings(target: string, { from, to }: { from: string; to: string }) {
  const upstream = new URL(target);
  let listings = 0;
  const server = createServer((request, response) => {
    const forwarded = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: request.method,
        path: request.url,
        headers: request.headers,
      },
      (answer) => {
        if (new URL(request.url ?? '/', upstream).searchParams.get('comp') !== 'list') {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
          return;
        }
        listings++;
        const chunks: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => chunks.push(chunk));
        answer.on('end', () => {
          const body = Buffer.from(Buffer.concat(chunks).toString('utf8').replaceAll(from, to));
          const { 'transfer-encoding': _chunked, ...headers } = answer.headers;
          response.writeHead(answer.statusCode ?? 502, { ...headers, 'content-length': String(body.length) });
          response.end(body);
        });
      },
    );
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}${upstream.pathname.replace(/\/+$/, '')}`,
    listings: () => listings,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
