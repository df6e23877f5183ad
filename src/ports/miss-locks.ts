/**
 * Cross-instance coordination of misses: the instance holding a key's lock is the only one
 * synthesizing it; the others look for its result. Owned here, implemented over Postgres.
 */
export interface MissLocks {
  /** The lock for `cacheKey` if nobody holds it. */
  tryLock(cacheKey: string): Promise<MissLock | undefined>;
  close(): Promise<void>;
}

/** A key's lock as its holder sees it. */
export interface MissLock {
  /**
   * Whether this instance still holds the lock, proven when asked: a lock can be lost after it
   * was granted (the database ended the session holding it, and another instance took the key
   * before it could be taken back). False once lost or released, or when it cannot be proven;
   * never throws.
   */
  stillHeld(): Promise<boolean>;
  /** Lets go of the lock; safe to call more than once, and frees nothing another holder took since. */
  release(): Promise<void>;
}
