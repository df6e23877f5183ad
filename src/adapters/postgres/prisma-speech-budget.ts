import type { SpeechBudget } from '../../ports/speech-budget.ts';
import type { PrismaClient } from './prisma-client.ts';

/** SpeechBudget over `audio_cache_default_key_usage`: one row per tenant and UTC day. */
export class PrismaSpeechBudget implements SpeechBudget {
  constructor(private readonly prisma: PrismaClient) {}

  async reserve(tenantId: string, day: string, characters: number, limit: number): Promise<boolean> {
    if (characters > limit) return false;
    // One statement: the row is created with the reservation, or its count raised only while
    // the total stays within the limit (the row lock serializes concurrent reservations).
    const rows = await this.prisma.$queryRaw<{ characters: bigint }[]>`
      INSERT INTO audio_cache_default_key_usage AS u (tenant_id, day, characters)
      VALUES (${tenantId}::uuid, ${day}::date, ${characters})
      ON CONFLICT (tenant_id, day) DO UPDATE SET characters = u.characters + excluded.characters
       WHERE u.characters + excluded.characters <= ${limit}
      RETURNING u.characters`;
    return rows.length === 1;
  }

  async release(tenantId: string, day: string, characters: number): Promise<void> {
    await this.prisma.$executeRaw`
      UPDATE audio_cache_default_key_usage
         SET characters = GREATEST(characters - ${characters}, 0)
       WHERE tenant_id = ${tenantId}::uuid AND day = ${day}::date`;
  }

  async used(tenantId: string, day: string): Promise<number> {
    const rows = await this.prisma.$queryRaw<{ characters: bigint }[]>`
      SELECT characters FROM audio_cache_default_key_usage WHERE tenant_id = ${tenantId}::uuid AND day = ${day}::date`;
    return Number(rows[0]?.characters ?? 0);
  }
}
