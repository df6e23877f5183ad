import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/test-database.ts';
import { root } from '../support/repo.ts';

const run = promisify(execFile);

/** `npm run db:migrate` exactly as a developer or a deployment step types it. */
function dbMigrate(databaseUrl: string) {
  return run('npm', ['run', '--silent', 'db:migrate'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl },
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

describe('npm run db:migrate', () => {
  const databases: TestDatabase[] = [];
  afterAll(() => Promise.all(databases.map((db) => db.drop())));

  it('migrates an empty database, then reports it up to date', async () => {
    const db = await createTestDatabase('empty');
    databases.push(db);

    const first = await dbMigrate(db.url);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      'Applied 9 migration(s): 20261123000000_init, 20261124000000_usage, 20261201000000_audition_entries, ' +
        '20261202000000_default_key_budget, 20261205000000_predictive_prewarm, 20261206000000_project_storage, ' +
        '20261207000000_leases, 20261208000000_leases_unlogged, 20261209000000_lease_released',
    );

    const second = await dbMigrate(db.url);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('Database schema is up to date: no migration to apply.');
  });

  it('fails with a message naming DATABASE_URL when it is malformed', async () => {
    const result = await dbMigrate('mysql://root:hunter2@localhost/khipu');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('DATABASE_URL must be a postgresql:// connection URL');
    expect(result.stderr).not.toContain('hunter2');
  });
});
