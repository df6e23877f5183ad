import type pg from 'pg';
import { Prisma } from '../../generated/prisma/client.ts';
import type { LeaseGrant, Leases } from '../../ports/leases.ts';
import { poolOf, runSql, type PrismaClient } from './prisma-client.ts';

/**
 * Leases as rows of `audio_cache_leases`, each method one statement through Prisma's pool (no
 * session state: no advisory lock, no SET, no LISTEN, no named statement; safe through PgBouncer
 * in transaction mode). `take`, `renew` and `release`, on every miss's path (a miss proves its
 * lease before storing), go to that pool straight (poolOf, as the index's lookup), without
 * Prisma's client runtime. Expiry is on the database's
 * clock (`clock_timestamp()`), the one clock every instance shares, so a skewed instance clock
 * can neither shorten nor stretch a lease.
 */
export class PrismaLeases implements Leases {
  readonly #pool: pg.Pool;

  constructor(private readonly prisma: PrismaClient) {
    this.#pool = poolOf(prisma);
  }

  async take(name: string, ttlMs: number): Promise<LeaseGrant | undefined> {
    // A free name is inserted; a held one is updated only if it expired (a takeover: a new token,
    // one more generation). Two instances taking at once serialize on the row: one gets it.
    const { rows } = await runSql<{ token: string; generation: string }>(
      this.#pool,
      Prisma.sql`
      INSERT INTO audio_cache_leases AS l (name, token, generation, taken_at, expires_at)
      VALUES (${name}, gen_random_uuid(), 1, clock_timestamp(), ${expiryIn(ttlMs)})
      ON CONFLICT (name) DO UPDATE
         SET token = excluded.token, generation = l.generation + 1,
             taken_at = excluded.taken_at, expires_at = excluded.expires_at
       WHERE l.expires_at <= clock_timestamp()
      RETURNING token::text, generation::text`,
    );
    const row = rows[0];
    return row ? { name, token: row.token, generation: Number(row.generation) } : undefined;
  }

  async renew(grant: LeaseGrant, ttlMs: number): Promise<boolean> {
    // Ours while nobody took it over, even past its expiry: until then nobody else holds it.
    const { rowCount } = await runSql(
      this.#pool,
      Prisma.sql`UPDATE audio_cache_leases SET expires_at = ${expiryIn(ttlMs)}
       WHERE name = ${grant.name} AND token = ${grant.token}::uuid`,
    );
    return rowCount === 1;
  }

  async release(grant: LeaseGrant): Promise<void> {
    await runSql(
      this.#pool,
      Prisma.sql`DELETE FROM audio_cache_leases WHERE name = ${grant.name} AND token = ${grant.token}::uuid`,
    );
  }

  async deleteExpired(graceMs: number): Promise<number> {
    return this.prisma.$executeRaw`
      DELETE FROM audio_cache_leases WHERE expires_at < clock_timestamp() - ${expiryMs(graceMs)}`;
  }
}

/** SQL: an interval of `ms` milliseconds. */
function expiryMs(ms: number): Prisma.Sql {
  return Prisma.sql`${Math.max(1, Math.round(ms))}::integer * interval '1 millisecond'`;
}

/** SQL: `ttlMs` from now on the database's clock. */
function expiryIn(ttlMs: number): Prisma.Sql {
  return Prisma.sql`clock_timestamp() + ${expiryMs(ttlMs)}`;
}

/**
 * SQL: a CTE body that locks the lease row of `fence` if the writer still holds it. Joined by a
 * write so that it happens only then; the row lock keeps a takeover waiting until the write
 * commits, and the taker then finds what was written.
 */
export function fenceOf(fence: LeaseGrant): Prisma.Sql {
  return Prisma.sql`SELECT 1 AS held FROM audio_cache_leases
     WHERE name = ${fence.name} AND token = ${fence.token}::uuid FOR UPDATE`;
}
