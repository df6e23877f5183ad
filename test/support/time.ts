export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** The instant the tests' own clocks stand at: a Monday, 16:00 UTC, on the hour. */
export const T0 = new Date('2026-11-23T16:00:00.000Z');

/** The instant `ms` milliseconds after T0 (before it when negative). */
export const at = (ms: number): Date => new Date(T0.getTime() + ms);
