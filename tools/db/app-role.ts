import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';

// The PostgreSQL role the deployed app connects as (DATABASE_URL in Key Vault), and the one place
// its privileges are written down. The deploy hook (azure.yaml, `npm run db:app-role`) applies it
// as the server admin after the migrations; test/tools/db/app-role.test.ts applies it and runs the
// app's adapters as the role. Derived from the SQL in src/adapters/postgres: when a query there
// reads another column or writes another table, this list changes with it (the test fails first).

/** What the role may do with a table: DML only, never TRUNCATE, REFERENCES or TRIGGER. */
export type TablePrivilege = 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';

export interface AppRoleGrants {
  /** The service's tables (and `audio_cache`, shared with the Khipu Cloud API): the statements each needs. */
  tables: Readonly<Record<string, readonly TablePrivilege[]>>;
  /** Tables of the Khipu Cloud API the service only reads: the columns it reads, nothing else. */
  readColumns: Readonly<Record<string, readonly string[]>>;
  /** Tables that exist only in some databases (the Khipu Cloud API's): granted where present. */
  optional: readonly string[];
}

export const APP_ROLE_GRANTS: AppRoleGrants = {
  tables: {
    // Rows of every writer are read (a lookup, a blob's references); only ours are updated or
    // deleted, which the SQL ensures, not the grant (row-level security on a table the Khipu
    // Cloud API owns is not ours to add).
    audio_cache: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    audio_cache_auditions: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    audio_cache_usage: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    // Reserved and released, never deleted.
    audio_cache_default_key_usage: ['SELECT', 'INSERT', 'UPDATE'],
    audio_cache_predictive_runs: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    audio_cache_blob_stores: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
    audio_cache_leases: ['SELECT', 'INSERT', 'UPDATE', 'DELETE'],
  },
  readColumns: {
    // Authorization: an active user of an active tenant, and the project's tenant and settings
    // (its Speech key, its storage account, its opt-outs). Never a password hash, an e-mail, a name.
    tenants: ['id', 'is_active'],
    users: ['id', 'tenant_id', 'role', 'is_active'],
    projects: ['id', 'tenant_id', 'settings'],
    // The orphan sweep keeps a blob a book's segment still points at (the Khipu database only).
    audio_segment_metadata: ['raw_audio_cache_key'],
  },
  optional: ['audio_segment_metadata'],
};

export interface AppRole {
  /** The role's name: lower case letters, digits and `_`, as unquoted SQL identifiers are. */
  login: string;
  password: string;
}

export interface AppliedRole {
  created: boolean;
  /** What the role may do afterwards, as privilegesOf lists it. */
  grants: string[];
}

const LOGIN = /^[a-z_][a-z0-9_]{0,62}$/;
// Printable ASCII, no space: PostgreSQL prepares a SCRAM password with SASLprep, which leaves these
// as they are, so the verifier computed here is the one the server would compute.
const PASSWORD = /^[\x21-\x7e]{16,128}$/;

/** Why this login or password cannot be the app role's; undefined when it can. */
export function appRoleProblem({ login, password }: AppRole): string | undefined {
  if (!LOGIN.test(login))
    return `POSTGRES_APP_LOGIN must be 1-63 lower-case letters, digits or _ (not starting with a digit), got "${login}"`;
  if (!PASSWORD.test(password))
    return 'POSTGRES_APP_PASSWORD must be 16-128 printable ASCII characters without spaces (e.g. openssl rand -base64 32)';
  return undefined;
}

/**
 * Creates the app role, or brings an existing one back to exactly this: LOGIN with this password,
 * no role attribute beyond it, member of no role, CONNECT on this database, USAGE on its schema,
 * `grants` and nothing else on any table, view or sequence of any schema. Run as the server
 * admin (on Azure not a superuser: CREATEROLE, and owner of the tables, or a member of their
 * owner), in one transaction, serialized against another run by an advisory lock; running it again
 * changes nothing, and after a migration added a table it grants what `grants` now names. Refuses
 * (and changes nothing) when the role would still be able to create or alter anything.
 */
export async function applyAppRole(
  adminUrl: string,
  role: AppRole,
  grants: AppRoleGrants = APP_ROLE_GRANTS,
): Promise<AppliedRole> {
  const problem = appRoleProblem(role);
  if (problem) throw new Error(problem);
  const client = new pg.Client({ connectionString: adminUrl, application_name: 'khipu-audition-cache app-role' });
  await client.connect();
  try {
    await client.query('BEGIN');
    const applied = await applyInTransaction(client, role, grants);
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await client.end();
  }
}

async function applyInTransaction(client: pg.Client, role: AppRole, grants: AppRoleGrants): Promise<AppliedRole> {
  await client.query("SELECT pg_advisory_xact_lock(hashtextextended('khipu:app-role', 0))");
  const name = quote(role.login);
  const { rows: me } = await client.query<{ self: boolean }>('SELECT current_user = $1 AS self', [role.login]);
  if (me[0]!.self) throw new Error(`POSTGRES_APP_LOGIN ${role.login} is the admin this runs as: choose another name`);
  // The verifier, not the password: a password in CREATE/ALTER ROLE would reach the server's log
  // (log_statement = ddl, pgaudit) and pg_stat_activity; a SCRAM verifier is what the server stores.
  const password = literal(scramSha256Verifier(role.password));
  const { rows: existing } = await client.query<{ createdb: boolean; createrole: boolean }>(
    'SELECT rolcreatedb AS createdb, rolcreaterole AS createrole FROM pg_roles WHERE rolname = $1',
    [role.login],
  );
  const created = existing.length === 0;
  // ALTER ROLE names only what it changes: PostgreSQL 16+ refuses a non-superuser (Azure's admin) any
  // mention of SUPERUSER, REPLICATION or BYPASSRLS, even NOSUPERUSER, and of CREATEDB without holding
  // it. Those are checked below instead.
  const revoked = created
    ? ''
    : `${existing[0]!.createdb ? ' NOCREATEDB' : ''}${existing[0]!.createrole ? ' NOCREATEROLE' : ''}`;
  await client.query(
    created
      ? `CREATE ROLE ${name} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS PASSWORD ${password}`
      : `ALTER ROLE ${name} WITH LOGIN NOINHERIT${revoked} CONNECTION LIMIT -1 PASSWORD ${password}`,
  );
  await leaveEveryRole(client, role.login);
  await revokeEverything(client, role.login);
  const expected = await grantExactly(client, name, grants);
  await refuseWhatCouldCreate(client, role.login);
  // What no REVOKE of this admin's could take back: a grant to PUBLIC, or one another role made.
  const held = await privilegesOf(client, role.login);
  const extra = held.filter((grant) => !expected.includes(grant));
  if (extra.length > 0)
    throw new Error(
      `The app role ${role.login} would hold more than its grants: ${extra.join(', ')} ` +
        '(granted to PUBLIC, or by another role than this admin: revoke it as its grantor or a superuser). ' +
        'Nothing was changed.',
    );
  return { created, grants: held };
}

/** Memberships give a role the privileges of another: the app role has none. */
async function leaveEveryRole(client: pg.Client, login: string): Promise<void> {
  const { rows } = await client.query<{ granted: string }>(
    `SELECT g.rolname AS granted FROM pg_auth_members AS m
       JOIN pg_roles AS g ON g.oid = m.roleid JOIN pg_roles AS r ON r.oid = m.member
      WHERE r.rolname = $1`,
    [login],
  );
  // One this admin may not revoke (granted by another role) stays, and is reported below.
  for (const { granted } of rows) await tryInSavepoint(client, `REVOKE ${quote(granted)} FROM ${quote(login)}`);
}

/** Runs `statement`; when it fails, the transaction goes on as it was before it. */
async function tryInSavepoint(client: pg.Client, statement: string): Promise<void> {
  await client.query('SAVEPOINT attempt');
  try {
    await client.query(statement);
    await client.query('RELEASE SAVEPOINT attempt');
  } catch {
    await client.query('ROLLBACK TO SAVEPOINT attempt');
  }
}

/**
 * Every privilege the role holds on this database, a schema, a table or view, a column, a sequence
 * or a routine, read from the catalog. Each is revoked on its own object only: a REVOKE over a whole
 * schema fails on the first table this admin has no privilege on (another role's, in a shared
 * database). A grant this admin cannot revoke (another grantor's) stays, and is reported below.
 */
async function revokeEverything(client: pg.Client, login: string): Promise<void> {
  const { rows } = await client.query<{ revoke: string }>(
    `WITH r AS (SELECT oid FROM pg_roles WHERE rolname = $1)
     SELECT DISTINCT 'DATABASE ' || quote_ident(d.datname) AS revoke
       FROM pg_database AS d, aclexplode(d.datacl) AS a, r WHERE d.datname = current_database() AND a.grantee = r.oid
     UNION
     SELECT DISTINCT 'SCHEMA ' || quote_ident(n.nspname) FROM pg_namespace AS n, aclexplode(n.nspacl) AS a, r
      WHERE a.grantee = r.oid
     UNION
     SELECT DISTINCT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE ' ELSE 'TABLE ' END
            || quote_ident(n.nspname) || '.' || quote_ident(c.relname)
       FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace, r
      WHERE EXISTS (SELECT 1 FROM aclexplode(c.relacl) AS a WHERE a.grantee = r.oid)
         OR EXISTS (SELECT 1 FROM pg_attribute AS att, aclexplode(att.attacl) AS a
                     WHERE att.attrelid = c.oid AND a.grantee = r.oid)
     UNION
     SELECT DISTINCT 'ROUTINE ' || p.oid::regprocedure::text FROM pg_proc AS p, aclexplode(p.proacl) AS a, r
      WHERE a.grantee = r.oid`,
    [login],
  );
  // A table-level REVOKE also takes back the column privileges on each of its columns.
  for (const { revoke } of rows) await tryInSavepoint(client, `REVOKE ALL ON ${revoke} FROM ${quote(login)}`);
}

/** Grants `grants` on the tables present (and their sequences); answers them as privilegesOf lists them. */
async function grantExactly(client: pg.Client, name: string, grants: AppRoleGrants): Promise<string[]> {
  const { rows } = await client.query<{ schema: string }>('SELECT current_schema() AS schema');
  const schema = quote(rows[0]!.schema);
  await client.query(`GRANT CONNECT ON DATABASE ${quote(await currentDatabase(client))} TO ${name}`);
  await client.query(`GRANT USAGE ON SCHEMA ${schema} TO ${name}`);
  const present = async (table: string) => {
    const { rows: found } = await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [
      `${schema}.${quote(table)}`,
    ]);
    if (found[0]!.found) return true;
    if (grants.optional.includes(table)) return false;
    throw new Error(`Table ${table} does not exist: apply the migrations first (npm run db:migrate)`);
  };
  const expected: string[] = [];
  for (const [table, privileges] of Object.entries(grants.tables)) {
    if (!(await present(table))) continue;
    await client.query(`GRANT ${privileges.join(', ')} ON TABLE ${schema}.${quote(table)} TO ${name}`);
    expected.push(...privileges.map((privilege) => `${table}: ${privilege}`));
    // A serial or identity column's sequence: an INSERT draws from it (none today: ids are uuids).
    const sequences = await client.query<{ sequence: string }>(
      `SELECT s.relname AS sequence FROM pg_class AS s JOIN pg_depend AS d ON d.objid = s.oid
        WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i') AND d.refobjid = to_regclass($1)`,
      [`${schema}.${quote(table)}`],
    );
    for (const { sequence } of sequences.rows) {
      await client.query(`GRANT USAGE, SELECT ON SEQUENCE ${schema}.${quote(sequence)} TO ${name}`);
      expected.push(`sequence ${sequence}: SELECT`, `sequence ${sequence}: USAGE`);
    }
  }
  for (const [table, columns] of Object.entries(grants.readColumns)) {
    if (!(await present(table))) continue;
    await client.query(`GRANT SELECT (${columns.map(quote).join(', ')}) ON TABLE ${schema}.${quote(table)} TO ${name}`);
    expected.push(...columns.map((column) => `${table}.${column}: SELECT`));
  }
  return expected;
}

/**
 * What no grant of ours gives, but PUBLIC or an owner could: creating in a schema or the database
 * (PostgreSQL before 15 let PUBLIC create in `public`), a role attribute, an object the role owns
 * (an owner may alter or drop it). Any of them: the transaction is rolled back with a message.
 */
async function refuseWhatCouldCreate(client: pg.Client, login: string): Promise<void> {
  const problems: string[] = [];
  const { rows: attributes } = await client.query<Record<string, boolean>>(
    `SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = $1`,
    [login],
  );
  const held = Object.entries(attributes[0]!).filter(([, on]) => on);
  if (held.length > 0)
    problems.push(`it has ${held.map(([a]) => a.slice(3).toUpperCase()).join(', ')} (a superuser must remove it)`);
  const { rows: memberships } = await client.query<{ granted: string }>(
    `SELECT DISTINCT g.rolname AS granted FROM pg_auth_members AS m
       JOIN pg_roles AS g ON g.oid = m.roleid JOIN pg_roles AS r ON r.oid = m.member
      WHERE r.rolname = $1 ORDER BY 1`,
    [login],
  );
  if (memberships.length > 0)
    problems.push(`it is a member of ${memberships.map((m) => m.granted).join(', ')} (granted by another role)`);
  for (const schema of await userSchemas(client)) {
    const { rows } = await client.query<{ create: boolean }>(
      `SELECT has_schema_privilege($1, $2, 'CREATE') AS "create"`,
      [login, schema],
    );
    if (rows[0]!.create)
      problems.push(
        `it may CREATE in schema ${schema}, through PUBLIC or another grant ` +
          `(PostgreSQL 15+ default: REVOKE CREATE ON SCHEMA ${quote(schema)} FROM PUBLIC)`,
      );
  }
  const { rows: database } = await client.query<{ create: boolean }>(
    `SELECT has_database_privilege($1, current_database(), 'CREATE') AS "create"`,
    [login],
  );
  if (database[0]!.create) problems.push('it may CREATE schemas in this database, through PUBLIC or another grant');
  const { rows: owned } = await client.query<{ object: string }>(
    `SELECT n.nspname || '.' || c.relname AS object FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
      WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
     UNION ALL
     SELECT nspname FROM pg_namespace WHERE nspowner = (SELECT oid FROM pg_roles WHERE rolname = $1)
     ORDER BY 1`,
    [login],
  );
  if (owned.length > 0) problems.push(`it owns ${owned.map((o) => o.object).join(', ')} (an owner may alter or drop)`);
  if (problems.length > 0)
    throw new Error(
      `The app role ${login} would not be least-privileged: ${problems.join('; ')}. Nothing was changed.`,
    );
}

/**
 * What the role may do in this database, whatever gives it (a grant to it, to PUBLIC, by any
 * grantor), sorted: `table: PRIVILEGE`; `table.column: PRIVILEGE` where only some columns have it;
 * `sequence name: PRIVILEGE`. Relations of every schema but PostgreSQL's own.
 */
export async function privilegesOf(client: pg.Client, login: string): Promise<string[]> {
  const { rows } = await client.query<{ privilege: string }>(
    `WITH rel AS (
       SELECT c.oid, c.relname, c.relkind FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f', 'S')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%')
     SELECT rel.relname || ': ' || p AS privilege
       FROM rel, unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p
      WHERE rel.relkind <> 'S' AND has_table_privilege($1, rel.oid, p)
     UNION
     SELECT rel.relname || '.' || a.attname || ': ' || p
       FROM rel JOIN pg_attribute AS a ON a.attrelid = rel.oid,
            unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) AS p
      WHERE rel.relkind <> 'S' AND a.attnum > 0 AND NOT a.attisdropped
        AND has_column_privilege($1, rel.oid, a.attnum, p) AND NOT has_table_privilege($1, rel.oid, p)
     UNION
     SELECT 'sequence ' || rel.relname || ': ' || p FROM rel, unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) AS p
      WHERE rel.relkind = 'S' AND has_sequence_privilege($1, rel.oid, p)
     ORDER BY 1`,
    [login],
  );
  return rows.map((row) => row.privilege);
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for this password (RFC 5802/7677, the server's
 * default 4096 iterations): given one, CREATE/ALTER ROLE … PASSWORD stores it as it is.
 */
export function scramSha256Verifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

async function currentDatabase(client: pg.Client): Promise<string> {
  return (await client.query<{ name: string }>('SELECT current_database() AS name')).rows[0]!.name;
}

/** The database's schemas but PostgreSQL's own. */
async function userSchemas(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT nspname AS name FROM pg_namespace
      WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
  );
  return rows.map((row) => row.name);
}

function quote(identifier: string): string {
  return `"${identifier.replaceAll('"', '""')}"`;
}

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
