import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AccountDirectory } from '../../src/ports/account-directory.ts';

export interface SeededAccount {
  tenantId: string;
  userId: string;
}

export interface AccountDirectoryUnderTest {
  directory: AccountDirectory;
  /** A tenant with one user, written as the Khipu Cloud API writes them. */
  addAccount(options?: { tenantActive?: boolean; userActive?: boolean; role?: string }): Promise<SeededAccount>;
  /** A project of the account's tenant with these `projects.settings` (JSON). */
  addProject(account: SeededAccount, settings: object): Promise<string>;
  /** What the Khipu Cloud API does when an admin deactivates a user or a tenant. */
  deactivateUser(userId: string): Promise<void>;
  deactivateTenant(tenantId: string): Promise<void>;
}

/**
 * The behaviour access control relies on from any AccountDirectory, run against every adapter:
 * the same suite proves the in-memory twin and PrismaAccountDirectory (on both database shapes)
 * agree. Authorization fails closed: anything but an active user of an active tenant is no one.
 */
export function describeAccountDirectoryContract(name: string, create: () => Promise<AccountDirectoryUnderTest>): void {
  describe(`AccountDirectory contract: ${name}`, () => {
    let under: AccountDirectoryUnderTest;
    let directory: AccountDirectory;
    beforeEach(async () => {
      under = await create();
      ({ directory } = under);
    });

    it('finds an active user of an active tenant, with the tenant and role as stored', async () => {
      const narrator = await under.addAccount({ role: 'narrator' });
      const admin = await under.addAccount({ role: 'admin' });
      expect(await directory.findActiveUser(narrator.userId)).toEqual({
        userId: narrator.userId,
        tenantId: narrator.tenantId,
        role: 'narrator',
      });
      expect(await directory.findActiveUser(admin.userId)).toEqual({
        userId: admin.userId,
        tenantId: admin.tenantId,
        role: 'admin',
      });
    });

    it('finds no inactive user, and no active user of an inactive tenant', async () => {
      const inactiveUser = await under.addAccount({ userActive: false });
      const inactiveTenant = await under.addAccount({ tenantActive: false });
      expect(await directory.findActiveUser(inactiveUser.userId)).toBeNull();
      expect(await directory.findActiveUser(inactiveTenant.userId)).toBeNull();
    });

    it('finds no user and no project that does not exist', async () => {
      await under.addAccount();
      expect(await directory.findActiveUser(randomUUID())).toBeNull();
      expect(await directory.findProject(randomUUID())).toBeNull();
    });

    it('reads live: a user deactivated after a lookup, or whose tenant was, is not found on the next', async () => {
      const one = await under.addAccount();
      const two = await under.addAccount();
      expect(await directory.findActiveUser(one.userId)).not.toBeNull();
      expect(await directory.findActiveUser(two.userId)).not.toBeNull();

      await under.deactivateUser(one.userId);
      await under.deactivateTenant(two.tenantId);
      expect(await directory.findActiveUser(one.userId)).toBeNull();
      expect(await directory.findActiveUser(two.userId)).toBeNull();
    });

    it('finds a project with its tenant, and the key and region where the web UI writes them (settings.creds.tts.azure)', async () => {
      const account = await under.addAccount();
      const other = await under.addAccount();
      const projectId = await under.addProject(account, {
        creds: { tts: { azure: { key: 'ui-key', region: 'brazilsouth' } } },
      });
      const otherId = await under.addProject(other, {
        creds: { tts: { azure: { key: 'other-key', region: 'eastus' } } },
      });
      expect(await directory.findProject(projectId)).toEqual({
        id: projectId,
        tenantId: account.tenantId,
        ttsKey: 'ui-key',
        ttsRegion: 'brazilsouth',
      });
      expect(await directory.findProject(otherId)).toEqual({
        id: otherId,
        tenantId: other.tenantId,
        ttsKey: 'other-key',
        ttsRegion: 'eastus',
      });
    });

    it('falls back to the guide’s flat settings.azure_tts_key and azure_tts_region', async () => {
      const account = await under.addAccount();
      const projectId = await under.addProject(account, {
        azure_tts_key: 'flat-key',
        azure_tts_region: 'westeurope',
        voice: 'es-PE-CamilaNeural',
      });
      expect(await directory.findProject(projectId)).toEqual({
        id: projectId,
        tenantId: account.tenantId,
        ttsKey: 'flat-key',
        ttsRegion: 'westeurope',
      });
    });

    it('prefers the web UI’s key to the flat one, keeping each key with its own region', async () => {
      const account = await under.addAccount();
      const both = await under.addProject(account, {
        creds: { tts: { azure: { key: 'ui-key', region: 'brazilsouth' } } },
        azure_tts_key: 'flat-key',
        azure_tts_region: 'westeurope',
      });
      const uiKeyAlone = await under.addProject(account, {
        creds: { tts: { azure: { key: 'ui-key' } } },
        azure_tts_region: 'westeurope',
      });
      const blankUiKey = await under.addProject(account, {
        creds: { tts: { azure: { key: '  ', region: 'brazilsouth' } } },
        azure_tts_key: ' flat-key ',
      });
      expect(await directory.findProject(both)).toEqual({
        id: both,
        tenantId: account.tenantId,
        ttsKey: 'ui-key',
        ttsRegion: 'brazilsouth',
      });
      const alone = await directory.findProject(uiKeyAlone);
      expect(alone).toEqual({ id: uiKeyAlone, tenantId: account.tenantId, ttsKey: 'ui-key' });
      expect(alone?.ttsRegion).toBeUndefined();
      expect(await directory.findProject(blankUiKey)).toEqual({
        id: blankUiKey,
        tenantId: account.tenantId,
        ttsKey: 'flat-key',
      });
    });

    it('finds a project without a key of its own, with no key and no region', async () => {
      const account = await under.addAccount();
      const empty = await under.addProject(account, {});
      const regionOnly = await under.addProject(account, {
        azure_tts_region: 'eastus',
        creds: { tts: { azure: { region: 'eastus' } } },
      });
      const notAString = await under.addProject(account, {
        azure_tts_key: 42,
        creds: { tts: { azure: { key: { value: 'k' } } } },
      });
      for (const id of [empty, regionOnly, notAString]) {
        const project = await directory.findProject(id);
        expect(project).toEqual({ id, tenantId: account.tenantId });
        expect(project?.ttsKey).toBeUndefined();
        expect(project?.ttsRegion).toBeUndefined();
      }
    });

    const storageSettings = (accountName: string, accessKey: string, extra: object = {}) => ({
      creds: { storage: { azure: { accountName, accessKey, containerName: 'audios', ...extra } } },
    });
    const ACME_STORE = 'https://acmebooks.blob.core.windows.net/audios';

    it('finds a project with its own storage account, or one set but unusable as invalid', async () => {
      const account = await under.addAccount();
      const own = await under.addProject(account, storageSettings('acmebooks', 'key-1'));
      const broken = await under.addProject(account, storageSettings('Not_An_Account', 'key-1'));
      const keyless = await under.addProject(account, storageSettings('acmebooks', ''));

      expect(await directory.findProject(own)).toEqual({
        id: own,
        tenantId: account.tenantId,
        storage: {
          accountName: 'acmebooks',
          accessKey: 'key-1',
          containerName: 'audios',
          serviceUrl: 'https://acmebooks.blob.core.windows.net',
          storeId: ACME_STORE,
        },
      });
      expect((await directory.findProject(broken))?.storage).toEqual({ invalid: expect.any(String) });
      expect(await directory.findProject(keyless)).toEqual({ id: keyless, tenantId: account.tenantId });
    });

    it('findStorage: the account’s credentials as the preferred project has them, else another project of the tenant’s', async () => {
      const account = await under.addAccount();
      await under.addProject(account, {});
      const first = await under.addProject(account, storageSettings('acmebooks', 'key-1'));
      const second = await under.addProject(account, storageSettings('acmebooks', 'key-2'));
      const elsewhere = await under.addProject(account, storageSettings('acmenarration', 'key-3'));

      expect((await directory.findStorage(account.tenantId, ACME_STORE, first))?.accessKey).toBe('key-1');
      expect((await directory.findStorage(account.tenantId, ACME_STORE, second))?.accessKey).toBe('key-2');
      // The preferred project names another account now: a project that still names this one answers.
      expect(['key-1', 'key-2']).toContain(
        (await directory.findStorage(account.tenantId, ACME_STORE, elsewhere))?.accessKey,
      );
      expect(await directory.findStorage(account.tenantId, ACME_STORE)).toMatchObject({
        accountName: 'acmebooks',
        containerName: 'audios',
        storeId: ACME_STORE,
      });
      expect(
        (await directory.findStorage(account.tenantId, 'https://acmenarration.blob.core.windows.net/audios'))
          ?.accessKey,
      ).toBe('key-3');
    });

    it('findStorage: null when no project of the tenant names the account usably; never another tenant’s project', async () => {
      const account = await under.addAccount();
      const other = await under.addAccount();
      const othersProject = await under.addProject(other, storageSettings('acmebooks', 'their-key'));
      await under.addProject(account, storageSettings('acmebooks', 'key-1', { containerName: 'other-container' }));
      await under.addProject(account, storageSettings('acmebooks', ''));
      await under.addProject(account, { creds: { storage: { azure: 'not an object' } } });

      expect(await directory.findStorage(account.tenantId, ACME_STORE)).toBeNull();
      expect(await directory.findStorage(account.tenantId, ACME_STORE, othersProject)).toBeNull();
      expect((await directory.findStorage(other.tenantId, ACME_STORE))?.accessKey).toBe('their-key');
      expect(await directory.findStorage(randomUUID(), ACME_STORE)).toBeNull();
    });
  });
}
