import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { quoteIdentifier, withPgClient } from '../../tools/local-services/postgres-server.ts';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database of this test run's own. `migrated` (the default) clones the template the
 * global setup migrated; `khipu` the Khipu Cloud API's database at its head, migrated by us
 * (json columns, a shared audio_cache); `empty` gives a database with no tables, for
 * migration tests.
 */
export async function createTestDatabase(kind: 'migrated' | 'khipu' | 'empty' = 'migrated'): Promise<TestDatabase> {
  const adminUrl = inject('postgresAdminUrl');
  const name = `${inject('databasePrefix')}_${randomBytes(4).toString('hex')}`;
  const source = { migrated: inject('templateDatabase'), khipu: inject('khipuTemplateDatabase'), empty: 'template0' }[
    kind
  ];
  await withPgClient(adminUrl, async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${quoteIdentifier(name)} TEMPLATE ${quoteIdentifier(source)}`);
        return;
      } catch (error) {
        // Two workers cloning the same template at the same instant: one waits its turn.
        const busy = (error as { code?: string }).code === '55006';
        if (!busy || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  });
  return {
    name,
    url: inject('postgresUrlTemplate').replace('__database__', name),
    drop: () =>
      withPgClient(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`),
      ).then(() => undefined),
  };
}
