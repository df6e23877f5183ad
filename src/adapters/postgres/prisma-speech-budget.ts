import type { SpeechBudget } from '../../ports/speech-budget.ts';
import { runSql, type Database } from './prisma-client.ts';
import { sql } from './sql.ts';

/**
 * SpeechBudget over `audio_cache_default_key_usage`: one row per tenant and UTC day. Each method is one statement,
 * straight through the pool (Database.pool): `reserve` is on the path of every miss on the service's key, which then
 * loads no Prisma client runtime.
 */
export class PrismaSpeechBudget implements SpeechBudget {
  constructor(private readonly db: Database) {}

  async reserve(tenantId: string, day: string, characters: number, limit: number): Promise<boolean> {
    if (characters > limit) return false;
    // One statement: the row is created with the reservation, or its count raised only while
    // the total stays within the limit (the row lock serializes concurrent reservations).
    const { rowCount } = await runSql(
      this.db.pool,
      sql`
      INSERT INTO audio_cache_default_key_usage AS u (tenant_id, day, characters)
      VALUES (${tenantId}::uuid, ${day}::date, ${characters})
      ON CONFLICT (tenant_id, day) DO UPDATE SET characters = u.characters + excluded.characters
       WHERE u.characters + excluded.characters <= ${limit}`,
    );
    return rowCount === 1;
  }

  async release(tenantId: string, day: string, characters: number): Promise<void> {
    await runSql(
      this.db.pool,
      sql`
      UPDATE audio_cache_default_key_usage
         SET characters = GREATEST(characters - ${characters}, 0)
       WHERE tenant_id = ${tenantId}::uuid AND day = ${day}::date`,
    );
  }

  async used(tenantId: string, day: string): Promise<number> {
    // bigint: node-postgres gives it as text.
    const { rows } = await runSql<{ characters: string }>(
      this.db.pool,
      sql`SELECT characters FROM audio_cache_default_key_usage
           WHERE tenant_id = ${tenantId}::uuid AND day = ${day}::date`,
    );
    return Number(rows[0]?.characters ?? 0);
  }
}
