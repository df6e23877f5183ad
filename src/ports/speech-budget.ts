/**
 * Characters synthesized on the service's default Azure key, as Azure bills them (the SSML's
 * markup inside <voice> included: billableCharacters), per tenant and UTC day, shared by every
 * instance: what DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY is checked against. Days are `YYYY-MM-DD`
 * (UTC). Every method rejects when the count cannot be read (the caller then spends nothing).
 */
export interface SpeechBudget {
  /**
   * Adds `characters` to the tenant's count for `day` if the total stays within `limit`, and
   * answers true; otherwise adds nothing and answers false. Atomic: concurrent reservations
   * (from any instance) never take the total past `limit`.
   */
  reserve(tenantId: string, day: string, characters: number, limit: number): Promise<boolean>;
  /** Gives back characters reserved for a synthesis that did not happen (never below zero). */
  release(tenantId: string, day: string, characters: number): Promise<void>;
  /** The tenant's count for `day` (0 when nothing was reserved). */
  used(tenantId: string, day: string): Promise<number>;
}

/** The budget's day of an instant: its UTC date, `YYYY-MM-DD`. */
export function budgetDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}
