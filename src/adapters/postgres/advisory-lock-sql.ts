import pg from 'pg';

// The statements PgLockSession sends on its one connection, and how that connection is opened.
// Names are hashed to the 64-bit key Postgres advisory locks take (hashtextextended, seed 0),
// so every instance maps a name to the same lock.

/** Takes the lock named `name` on this session if nobody holds it; answers whether it did. */
export async function tryAdvisoryLock(client: pg.Client, name: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>(
    'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked',
    [name],
  );
  return rows[0]?.locked === true;
}

export async function advisoryUnlock(client: pg.Client, name: string): Promise<void> {
  await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]);
}

/** tryAdvisoryLock for many names in one statement; answers the names granted. */
export async function tryAdvisoryLocks(client: pg.Client, names: readonly string[]): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string; locked: boolean }>(
    'SELECT name, pg_try_advisory_lock(hashtextextended(name, 0)) AS locked FROM unnest($1::text[]) AS name',
    [names],
  );
  return new Set(rows.filter((row) => row.locked).map((row) => row.name));
}

/** advisoryUnlock for many names in one statement. */
export async function advisoryUnlocks(client: pg.Client, names: readonly string[]): Promise<void> {
  await client.query('SELECT pg_advisory_unlock(hashtextextended(name, 0)) FROM unnest($1::text[]) AS name', [names]);
}

/**
 * A connection for the session's locks, every statement and the connecting itself bounded by
 * `timeoutMs`. `lost` is called when it errors or ends: a dropped connection must not crash
 * the process, and its locks are released by the server.
 */
export async function openLockConnection(databaseUrl: string, timeoutMs: number, lost: () => void): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    connectionTimeoutMillis: timeoutMs,
    query_timeout: timeoutMs,
    application_name: 'khipu-audition-cache locks',
  });
  client.on('error', lost);
  client.on('end', lost);
  try {
    await client.connect();
  } catch (error) {
    client.removeListener('end', lost);
    throw error;
  }
  return client;
}
