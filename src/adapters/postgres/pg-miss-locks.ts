import type { MissLocks } from '../../ports/miss-locks.ts';
import { PgLockSession, type Unlock } from './pg-lock-session.ts';

/**
 * MissLocks as Postgres session-level advisory locks, all on this instance's one lock
 * connection (PgLockSession). A holder that crashes, or whose instance loses that connection,
 * lets go at once (Postgres releases a session's locks when it ends); one that hangs lets go
 * when its synthesis times out. Waiters hold no connection: they poll the index.
 */
export class PgMissLocks implements MissLocks {
  readonly #session: PgLockSession;
  /** Whether close() ends the session (it was made here, not shared with the cleanup's lock). */
  readonly #ownsSession: boolean;
  readonly #held = new Set<Unlock>();

  /** On a session shared with the rest of the instance, or (a URL) on a session of its own. */
  constructor(session: PgLockSession | string) {
    this.#ownsSession = typeof session === 'string';
    this.#session = typeof session === 'string' ? new PgLockSession(session) : session;
  }

  async tryLock(cacheKey: string): Promise<(() => Promise<void>) | undefined> {
    // The key is what the service makes (sha256 hex); anything else is a caller's bug.
    if (!/^[0-9a-f]{64}$/.test(cacheKey)) throw new Error('A miss lock key must be a sha256 hex digest');
    const unlock = await this.#session.tryLock(`khipu:audition:${cacheKey}`);
    if (!unlock) return undefined;
    this.#held.add(unlock);
    return async () => {
      this.#held.delete(unlock);
      await unlock();
    };
  }

  /** Releases every lock taken through this object (and ends its own session, if it has one). */
  async close(): Promise<void> {
    const held = [...this.#held];
    this.#held.clear();
    await Promise.all(held.map((unlock) => unlock()));
    if (this.#ownsSession) await this.#session.close();
  }
}
