/**
 * The time every expiry, TTL and age decision reads. Production passes the system clock; tests
 * pass their own, so no test depends on today's date or waits on the real clock.
 */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

/**
 * `lru-cache` options that make its TTLs read `clock` instead of `performance.now()`.
 * `ttlResolution: 0`: the LRU would otherwise remember a reading for 1 ms of real time, so a
 * clock moved by a test would not be seen at once. (A reading costs one Date, ~20 ns.)
 */
export function lruClock(clock: Clock): { perf: { now(): number }; ttlResolution: number } {
  return { perf: { now: () => clock().getTime() }, ttlResolution: 0 };
}
