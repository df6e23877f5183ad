import { afterAll, beforeAll, describe } from 'vitest';
import type { Database } from '../../../src/adapters/postgres/prisma-client.ts';
import { testDb } from '../../support/required-deps.ts';
import { PrismaPredictiveRuns } from '../../../src/adapters/postgres/prisma-predictive-runs.ts';
import { describePredictiveRunsContract } from '../../ports/predictive-runs.contract.ts';
import { DATABASE_SHAPES } from '../../support/khipu-database.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';

for (const shape of DATABASE_SHAPES) {
  describe(`PrismaPredictiveRuns on the ${shape} database`, () => {
    let database: TestDatabase;
    const clients: Database[] = [];
    beforeAll(async () => {
      database = await createTestDatabase(shape === 'khipu' ? 'khipu' : 'migrated');
      // Two clients, as two instances, each with a pool of its own.
      clients.push(testDb(database.url, { maxConnections: 4 }), testDb(database.url, { maxConnections: 4 }));
    });
    afterAll(async () => {
      await Promise.all(clients.map((client) => client.close()));
      await database.drop();
    });

    describePredictiveRunsContract(`PrismaPredictiveRuns, ${shape} database`, () =>
      Promise.resolve({ first: new PrismaPredictiveRuns(clients[0]!), second: new PrismaPredictiveRuns(clients[1]!) }),
    );
  });
}
