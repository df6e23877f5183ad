import { afterAll, beforeAll, describe } from 'vitest';
import { ConnectRetry } from '../../../src/adapters/postgres/connect-retry.ts';
import type { Database } from '../../../src/adapters/postgres/prisma-client.ts';
import { testDb } from '../../support/required-deps.ts';
import { PrismaSpeechBudget } from '../../../src/adapters/postgres/prisma-speech-budget.ts';
import { describeSpeechBudgetContract } from '../../ports/speech-budget.contract.ts';
import { DATABASE_SHAPES } from '../../support/khipu-database.ts';
import { createTestDatabase, type TestDatabase } from '../../support/test-database.ts';
import { startTcpProxy, type TcpProxy } from '../../../tools/local-services/tcp-proxy.ts';

for (const shape of DATABASE_SHAPES) {
  describe(`PrismaSpeechBudget on the ${shape} database`, () => {
    let database: TestDatabase;
    let silent: TcpProxy;
    const clients: Database[] = [];
    beforeAll(async () => {
      database = await createTestDatabase(shape === 'khipu' ? 'khipu' : 'migrated');
      // A third client reaches the same database through a proxy that never passes anything on: a database
      // that does not answer (connections accepted, then silence), found out by its 300 ms deadline.
      const url = new URL(database.url);
      silent = await startTcpProxy({ host: url.hostname, port: Number(url.port) });
      silent.pause();
      url.hostname = silent.host;
      url.port = String(silent.port);
      // Two clients, as two instances, each with a pool of its own.
      clients.push(
        testDb(database.url, { maxConnections: 4 }),
        testDb(database.url, { maxConnections: 4 }),
        testDb(url.toString(), {
          maxConnections: 1,
          timeoutMs: 300,
          connectRetry: new ConnectRetry({ windowMs: 0 }),
        }),
      );
    });
    afterAll(async () => {
      await silent.close();
      await Promise.all(clients.map((client) => client.close()));
      await database.drop();
    });

    describeSpeechBudgetContract(`PrismaSpeechBudget, ${shape} database`, async () => ({
      first: new PrismaSpeechBudget(clients[0]!),
      second: new PrismaSpeechBudget(clients[1]!),
      unreachable: new PrismaSpeechBudget(clients[2]!),
    }));
  });
}
