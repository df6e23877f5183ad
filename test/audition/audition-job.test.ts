import { describe, expect, it } from 'vitest';
import { cacheKeyOf } from '../../src/audition/audition-job.ts';
import { computeCacheKey } from '../../src/domain/cache-key.ts';
import { DEVELOPMENT_PROJECT_STORAGE_POLICY, projectStorageOf } from '../../src/domain/project-storage.ts';
import { parseAuditionBody } from '../../src/handlers/audition-request.ts';
import type { ProjectAccess } from '../../src/ports/account-directory.ts';
import type { ProjectBlobStores } from '../../src/ports/blob-store.ts';
import { GUIDE_BODY } from '../support/auditions.ts';

const TENANTS = ['5b0f4c1e-8d6a-4a55-9b39-7f1d0f6b2a10', '0d6f1a22-3c4b-4e5f-8a9b-0c1d2e3f4a5b'];
const ENGINES = [
  { provider: 'azure', outputFormat: 'audio-24khz-48kbitrate-mono-mp3' },
  { provider: 'azure', outputFormat: 'audio-16khz-32kbitrate-mono-mp3' },
];
const storageNamed = (accountName: string) => {
  const azure = { accountName, accessKey: 'a2V5', containerName: 'audio' };
  const storage = projectStorageOf({ creds: { storage: { azure } } }, DEVELOPMENT_PROJECT_STORAGE_POLICY);
  if (!storage || 'invalid' in storage) throw new Error('unusable test settings');
  return storage;
};
const STORAGES = [undefined, storageNamed('firstaccount'), storageNamed('secondaccount')];

describe('cacheKeyOf', () => {
  // The handler shares one frozen audition between the requests that send the same body, whatever their tenant; the
  // keys kept with it must never hand one tenant's key (or one account's, or one engine's) to another.
  it('gives a shared (frozen) audition the key of each tenant, account and engine asked, every time', () => {
    const shared = Object.freeze(parseAuditionBody(GUIDE_BODY));
    const projectStores = {} as ProjectBlobStores;
    for (let round = 0; round < 2; round++) {
      for (const tenantId of TENANTS) {
        for (const engine of ENGINES) {
          for (const storage of STORAGES) {
            const project: ProjectAccess = { id: 'p', tenantId, ...(storage && { storage }) };
            const expected = computeCacheKey({ tenantId, ...engine, audition: shared, storeId: storage?.storeId });
            expect(cacheKeyOf({ engine, projectStores }, tenantId, shared, project)).toBe(expected);
          }
        }
      }
    }
    const keys = TENANTS.flatMap((tenantId) =>
      STORAGES.map((storage) =>
        cacheKeyOf({ engine: ENGINES[0]!, projectStores }, tenantId, shared, {
          id: 'p',
          tenantId,
          ...(storage && { storage }),
        }),
      ),
    );
    expect(new Set(keys).size).toBe(TENANTS.length * STORAGES.length);
  });
});
