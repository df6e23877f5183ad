import type { LeaseGrant, Leases } from '../../ports/leases.ts';
import { runSql, type Database } from './prisma-client.ts';
import { sql, type Sql } from './sql.ts';

/**
 * Leases as rows of `audio_cache_leases`, each method one statement through the Database's pool (no
 * session state: no advisory lock, no SET, no LISTEN, no named statement; safe through PgBouncer
 * in transaction mode). `take`, `renew` and `release`, on every miss's path (a miss proves its
 * lease before storing), go to that pool straight (Database.pool, as the index's lookup), without
 * Prisma's client runtime. Expiry is on the database's
 * clock (`clock_timestamp()`), the one clock every instance shares, so a skewed instance clock
 * can neither shorten nor stretch a lease.
 */
export class PrismaLeases implements Leases {
  constructor(private readonly db: Database) {}

  async take(name: string, ttlMs: number): Promise<LeaseGrant | undefined> {
    // A free name is inserted; a released one, or a held one that expired (a takeover: a new
    // token, one more generation), is updated. Two instances taking at once serialize on the row:
    // one gets it. `held_before` tells the taker whether the row was there (somebody held it).
    const { rows } = await runSql<{ token: string; generation: string; held_before: boolean }>(
      this.db.pool,
      sql`
      INSERT INTO audio_cache_leases AS l (name, token, generation, taken_at, expires_at)
      VALUES (${name}, gen_random_uuid(), 1, clock_timestamp(), ${expiryIn(ttlMs)})
      ON CONFLICT (name) DO UPDATE
         SET token = excluded.token, generation = CASE WHEN l.released THEN 1 ELSE l.generation + 1 END,
             taken_at = excluded.taken_at, expires_at = excluded.expires_at, released = false, held_before = true
       WHERE l.released OR l.expires_at <= clock_timestamp()
      RETURNING token::text, generation::text, held_before`,
    );
    const row = rows[0];
    return row
      ? { name, token: row.token, generation: Number(row.generation), heldBefore: row.held_before }
      : undefined;
  }

  async renew(grant: LeaseGrant, ttlMs: number): Promise<boolean> {
    // Ours while nobody took it over, even past its expiry: until then nobody else holds it.
    const { rowCount } = await runSql(
      this.db.pool,
      sql`UPDATE audio_cache_leases SET expires_at = ${expiryIn(ttlMs)}
       WHERE name = ${grant.name} AND token = ${grant.token}::uuid AND NOT released`,
    );
    return rowCount === 1;
  }

  async release(grant: LeaseGrant): Promise<void> {
    await runSql(
      this.db.pool,
      sql`UPDATE audio_cache_leases SET released = true, expires_at = clock_timestamp()
       WHERE name = ${grant.name} AND token = ${grant.token}::uuid AND NOT released`,
    );
  }

  /** Released leases too (a release expires a lease), at LEASE_ROW_KEPT_MS: how far back `held_before` looks. */
  async deleteExpired(graceMs: number): Promise<number> {
    return this.db.$executeRaw`
      DELETE FROM audio_cache_leases WHERE expires_at < clock_timestamp() - ${expiryMs(graceMs)}`;
  }
}

/** SQL: an interval of `ms` milliseconds. */
function expiryMs(ms: number): Sql {
  return sql`${Math.max(1, Math.round(ms))}::integer * interval '1 millisecond'`;
}

/** SQL: `ttlMs` from now on the database's clock. */
function expiryIn(ttlMs: number): Sql {
  return sql`clock_timestamp() + ${expiryMs(ttlMs)}`;
}

/**
 * SQL: a CTE body that locks the lease row of `fence` if the writer still holds it. Joined by a
 * write so that it happens only then; the row lock keeps a takeover waiting until the write
 * commits, and the taker then finds what was written.
 */
export function fenceOf(fence: LeaseGrant): Sql {
  return sql`SELECT 1 AS held FROM audio_cache_leases
     WHERE name = ${fence.name} AND token = ${fence.token}::uuid AND NOT released FOR UPDATE`;
}
