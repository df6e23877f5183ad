import type pg from 'pg';

export interface TableSnapshot {
  columns: { name: string; type: string; nullable: boolean; default: string | null }[];
  indexes: string[];
  constraints: string[];
}

/**
 * What `\d` shows for every table of the public schema, read from the catalog: the shape
 * two databases must share to be the same schema.
 */
export async function snapshotSchema(
  client: pg.Client,
  { exclude = [] as string[] } = {},
): Promise<Record<string, TableSnapshot>> {
  const { rows: columns } = await client.query<{
    table: string;
    name: string;
    type: string;
    nullable: boolean;
    default: string | null;
  }>(`
    SELECT c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
           NOT a.attnotnull AS nullable, pg_get_expr(d.adbin, d.adrelid) AS default
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attnum > 0 AND NOT a.attisdropped
     ORDER BY c.relname, a.attnum`);
  const { rows: indexes } = await client.query<{ table: string; def: string }>(`
    SELECT tablename AS table, indexdef AS def FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname`);
  const { rows: constraints } = await client.query<{ table: string; def: string }>(`
    SELECT c.relname AS table, con.conname || ' ' || pg_get_constraintdef(con.oid) AS def
      FROM pg_constraint con
      JOIN pg_class c ON c.oid = con.conrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
     WHERE con.contype <> 'n' -- PostgreSQL 18 catalogs NOT NULL as constraints too; columns carry it
     ORDER BY con.conname`);

  const tables: Record<string, TableSnapshot> = {};
  const table = (name: string) => (tables[name] ??= { columns: [], indexes: [], constraints: [] });
  for (const { table: name, ...column } of columns) if (!exclude.includes(name)) table(name).columns.push(column);
  for (const { table: name, def } of indexes) if (!exclude.includes(name)) table(name).indexes.push(def);
  for (const { table: name, def } of constraints) if (!exclude.includes(name)) table(name).constraints.push(def);
  return tables;
}
