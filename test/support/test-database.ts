import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { quoteIdentifier, withPgClient } from '../../tools/local-services/postgres-server.ts';

export interface TestDatabase {
  name: string;
  url: string;
  /** Its URL through the run's PgBouncer (transaction pooling); throws where there is none (hasPgBouncer). */
  pooledUrl(): string;
  drop(): Promise<void>;
}

/** Whether this run has a PgBouncer in front of its Postgres: always under CI=true, elsewhere where it could be had. */
export function hasPgBouncer(): boolean {
  return inject('pgbouncerUrlTemplate') !== '';
}

/** The URL of database `name` through the run's PgBouncer (transaction pooling, 10 server connections per database). */
export function pooledUrlFor(name: string): string {
  const template = inject('pgbouncerUrlTemplate');
  if (!template) throw new Error('this run has no PgBouncer (the global setup said why): skip with hasPgBouncer()');
  return template.replace('__database__', name);
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
    pooledUrl: () => pooledUrlFor(name),
    drop: () =>
      withPgClient(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)} WITH (FORCE)`),
      ).then(() => undefined),
  };
}
