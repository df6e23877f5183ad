import { describe, expect, it } from 'vitest';
import { MemoryAccountDirectory } from './memory-account-directory.ts';
import { describeAccountDirectoryContract } from '../ports/account-directory.contract.ts';

describeAccountDirectoryContract('MemoryAccountDirectory', async () => {
  const directory = new MemoryAccountDirectory();
  return {
    directory,
    async addAccount({ tenantActive, userActive, role } = {}) {
      const tenantId = directory.addTenant({ active: tenantActive });
      return { tenantId, userId: directory.addUser({ tenantId, role, active: userActive }) };
    },
    addProject: async ({ tenantId }, settings) => directory.addProject({ tenantId, settings }),
    deactivateUser: async (userId) => directory.setUserActive(userId, false),
    deactivateTenant: async (tenantId) => directory.setTenantActive(tenantId, false),
  };
});

describe('MemoryAccountDirectory seeding and faults', () => {
  it('seeds an account whose project has its own key, and counts lookups', async () => {
    const directory = new MemoryAccountDirectory();
    const account = directory.addAccount({ ttsKey: 'k', ttsRegion: 'eastus', role: 'admin' });
    expect(await directory.findActiveUser(account.userId)).toEqual({
      userId: account.userId,
      tenantId: account.tenantId,
      role: 'admin',
    });
    expect(await directory.findProject(account.projectId)).toEqual({
      id: account.projectId,
      tenantId: account.tenantId,
      ttsKey: 'k',
      ttsRegion: 'eastus',
    });
    expect(directory.lookups).toEqual({ users: 1, projects: 1, storages: 0 });
  });

  it('refuses a user or project of a tenant it does not have, as the foreign keys do', () => {
    const directory = new MemoryAccountDirectory();
    expect(() => directory.addUser({ tenantId: 'missing' })).toThrow(/No tenant/);
    expect(() => directory.addProject({ tenantId: 'missing' })).toThrow(/No tenant/);
  });

  it('throws the set error from every lookup while failing, then answers again', async () => {
    const directory = new MemoryAccountDirectory();
    const { userId, projectId } = directory.addAccount();
    const outage = new Error('database unreachable');
    directory.failing = outage;
    await expect(directory.findActiveUser(userId)).rejects.toBe(outage);
    await expect(directory.findProject(projectId)).rejects.toBe(outage);
    directory.failing = undefined;
    expect(await directory.findActiveUser(userId)).not.toBeNull();
  });
});
