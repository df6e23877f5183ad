import type { MissLock, MissLocks } from '../../ports/miss-locks.ts';
import type { PgLockSession } from './pg-lock-session.ts';

/**
 * MissLocks as Postgres session-level advisory locks, all on this instance's one lock
 * connection (PgLockSession). A holder that crashes lets go at once (Postgres releases a
 * session's locks when it ends); one whose instance loses that connection takes its locks
 * back on a new one, or learns from stillHeld() that another instance has the key; one that
 * hangs lets go when its synthesis times out. Waiters hold no connection: they poll the index.
 */
export class PgMissLocks implements MissLocks {
  readonly #held = new Set<MissLock>();

  /** On the instance's lock session (shared with the cleanup's lock; its owner closes it). */
  constructor(private readonly session: PgLockSession) {}

  async tryLock(cacheKey: string): Promise<MissLock | undefined> {
    // The key is what the service makes (sha256 hex); anything else is a caller's bug.
    if (!/^[0-9a-f]{64}$/.test(cacheKey)) throw new Error('A miss lock key must be a sha256 hex digest');
    const lock = await this.session.tryLock(`khipu:audition:${cacheKey}`);
    if (!lock) return undefined;
    this.#held.add(lock);
    return {
      stillHeld: () => lock.stillHeld(),
      release: async () => {
        this.#held.delete(lock);
        await lock.release();
      },
    };
  }

  /** Releases every lock taken through this object. */
  async close(): Promise<void> {
    const held = [...this.#held];
    this.#held.clear();
    await Promise.all(held.map((lock) => lock.release()));
  }
}
