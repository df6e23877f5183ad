import type { MissLocks } from '../../src/ports/miss-locks.ts';

/**
 * The locks every instance sees: what Postgres is to PgMissLocks. Give one table to several
 * MemoryMissLocks to stand for several app instances on one database.
 */
export class MemoryLockTable {
  /** Each held key, with the token of its holder. */
  readonly #holders = new Map<string, object>();

  isHeld(cacheKey: string): boolean {
    return this.#holders.has(cacheKey);
  }

  get heldCount(): number {
    return this.#holders.size;
  }

  /** A token for the new holder, or undefined when the key is held. */
  take(cacheKey: string): object | undefined {
    if (this.#holders.has(cacheKey)) return undefined;
    const token = {};
    this.#holders.set(cacheKey, token);
    return token;
  }

  /** Lets go of the key if `token` still holds it (a stale holder frees nothing taken since). */
  give(cacheKey: string, token: object): void {
    if (this.#holders.get(cacheKey) === token) this.#holders.delete(cacheKey);
  }
}

/** An in-memory MissLocks: the twin of PgMissLocks, one per simulated app instance. */
export class MemoryMissLocks implements MissLocks {
  /** Set to make every tryLock throw it (the database is unreachable). */
  failing: Error | undefined;
  /** How many times tryLock was called (including refused and failed calls). */
  attempts = 0;
  readonly #mine = new Map<string, object>();

  constructor(readonly table: MemoryLockTable = new MemoryLockTable()) {}

  async tryLock(cacheKey: string): Promise<(() => Promise<void>) | undefined> {
    this.attempts++;
    if (this.failing) throw this.failing;
    // As PgMissLocks: the key is what the service makes, anything else is a caller's bug.
    if (!/^[0-9a-f]{64}$/.test(cacheKey)) throw new Error('A miss lock key must be a sha256 hex digest');
    const token = this.table.take(cacheKey);
    if (!token) return undefined;
    this.#mine.set(cacheKey, token);
    return async () => this.#give(cacheKey, token);
  }

  /** Lets go of every lock this instance holds, as a closed pool's connections do. */
  async close(): Promise<void> {
    for (const [cacheKey, token] of [...this.#mine]) this.#give(cacheKey, token);
  }

  #give(cacheKey: string, token: object): void {
    if (this.#mine.get(cacheKey) === token) this.#mine.delete(cacheKey);
    this.table.give(cacheKey, token);
  }
}
