import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedEntry } from '../support/cache-entries.ts';
import { createTestServices, type TestServices } from '../support/test-services.ts';
import { root } from '../support/repo.ts';

describe('npm run cleanup', () => {
  let services: TestServices;
  beforeAll(async () => {
    services = await createTestServices();
  });
  afterAll(() => services.dispose());

  it('runs one pass with the app’s settings, logs the guide’s lines and exits 0', async () => {
    await seedEntry(services, randomUUID(), { size: 2048, expiresAt: new Date(Date.now() - 60_000), blob: false });
    const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'cleanup'], {
      cwd: root,
      env: {
        ...process.env,
        DATABASE_URL: services.database.url,
        AZURE_STORAGE_CONNECTION_STRING:
          services.config.blobStorage.kind === 'connection-string' ? services.config.blobStorage.connectionString : '',
        AZURE_STORAGE_CONTAINER_NAME: services.config.blobStorage.containerName,
        JWT_SECRET_KEY: services.config.jwt.secretKey,
      },
    }); // rejects on a non-zero exit
    const messages = stdout
      .trim()
      .split('\n')
      .map((line) => line.replace(/^\[[^\]]+\] /, ''));
    expect(messages).toEqual([
      'info: Running audio cache cleanup...',
      'info: Deleted 1 expired cache entries',
      'info: Deleted 0 old cache entries via LRU',
      'info: Deleted 0 orphaned cache blobs',
      'info: Cache stats: 0 entries, 0.00 MB, 0 total hits, 0.00 avg hits/entry',
      expect.stringMatching(
        /^info: Cache usage \(all tenants\): last 24 h: 0 entries created, 0 hits, 0 syntheses, .* most played: none$/,
      ),
    ]);
    expect(await services.prisma.audioCache.count()).toBe(0);
  });
});
