import type { MissLock, MissLocks } from '../../src/ports/miss-locks.ts';

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

  /** Whether `token` is the key's holder. */
  holds(cacheKey: string, token: object): boolean {
    return this.#holders.get(cacheKey) === token;
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

/** A lock of this instance: its token in the table, unless lost. */
interface Held {
  token: object;
  lost: boolean;
  released: boolean;
}

/** An in-memory MissLocks: the twin of PgMissLocks, one per simulated app instance. */
export class MemoryMissLocks implements MissLocks {
  /** Set to make every tryLock throw it (the database is unreachable). */
  failing: Error | undefined;
  /** How many times tryLock was called (including refused and failed calls). */
  attempts = 0;
  /** Set to make every stillHeld wait for it: a holder stopped at its proof. */
  proofGate: Promise<void> | undefined;
  /** How many times stillHeld was called. */
  proofs = 0;
  readonly #mine = new Map<string, Held>();
  /** The session ended and this instance has not heard of it yet. */
  #sessionEnded = false;

  constructor(readonly table: MemoryLockTable = new MemoryLockTable()) {}

  async tryLock(cacheKey: string): Promise<MissLock | undefined> {
    this.attempts++;
    if (this.failing) throw this.failing;
    // As PgMissLocks: the key is what the service makes, anything else is a caller's bug.
    if (!/^[0-9a-f]{64}$/.test(cacheKey)) throw new Error('A miss lock key must be a sha256 hex digest');
    this.#hearOfSessionEnd(); // as PgLockSession's statement finds the ended connection first
    if (this.#mine.has(cacheKey)) return undefined; // a lost lock is refused here until released, as there
    const token = this.table.take(cacheKey);
    if (!token) return undefined;
    const held: Held = { token, lost: false, released: false };
    this.#mine.set(cacheKey, held);
    return {
      stillHeld: async () => {
        this.proofs++;
        await this.proofGate;
        this.#hearOfSessionEnd();
        return !held.lost && !held.released && this.table.holds(cacheKey, held.token);
      },
      release: async () => this.#release(cacheKey, held),
    };
  }

  /**
   * The database ends this instance's lock session: every lock it holds is free for other
   * instances at once. This instance hears of it at its next tryLock or stillHeld, or when the
   * returned function is called, and then takes back each lock still free and loses the
   * others, as PgLockSession does on its new connection.
   */
  endSession(): () => void {
    for (const [cacheKey, held] of this.#mine) if (!held.lost) this.table.give(cacheKey, held.token);
    this.#sessionEnded = true;
    return () => this.#hearOfSessionEnd();
  }

  /** Lets go of every lock this instance holds, as a closed pool's connections do. */
  async close(): Promise<void> {
    for (const [cacheKey, held] of [...this.#mine]) this.#release(cacheKey, held);
  }

  #hearOfSessionEnd(): void {
    if (!this.#sessionEnded) return;
    this.#sessionEnded = false;
    for (const [cacheKey, held] of this.#mine) {
      if (held.lost) continue;
      const token = this.table.take(cacheKey);
      if (token) held.token = token;
      else held.lost = true;
    }
  }

  #release(cacheKey: string, held: Held): void {
    if (held.released) return;
    held.released = true;
    if (this.#mine.get(cacheKey) === held) this.#mine.delete(cacheKey);
    if (!held.lost) this.table.give(cacheKey, held.token);
  }
}
