/**
 * Cross-instance coordination of misses: the instance holding a key's lock is the only one
 * synthesizing it; the others look for its result. Owned here, implemented over Postgres.
 */
export interface MissLocks {
  /** The lock for `cacheKey` if nobody holds it: call the returned function to let it go. */
  tryLock(cacheKey: string): Promise<(() => Promise<void>) | undefined>;
  close(): Promise<void>;
}
