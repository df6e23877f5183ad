import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SpeechSessions } from '../../src/adapters/speech-sessions.ts';

describe('SpeechSessions: speech connections kept between syntheses, bounded', () => {
  let closed: string[];
  /** The sessions' clock, and when each was opened on it (0 unless a test says). */
  let clock: { ms: number };
  let openedAt: Map<string, number>;
  /** Sessions whose connection the service ended. */
  let dropped: Set<string>;
  const sessions = (options: { perCredentials?: number; total?: number } = {}) =>
    new SpeechSessions<string>({
      idleMs: 1_000,
      perCredentials: options.perCredentials ?? 2,
      total: options.total ?? 10,
      maxAgeMs: 60_000,
      openedAt: (session) => openedAt.get(session) ?? 0,
      usable: (session) => !dropped.has(session),
      now: () => clock.ms,
      close: (session) => closed.push(session),
    });
  beforeEach(() => {
    closed = [];
    clock = { ms: 0 };
    openedAt = new Map();
    dropped = new Set();
    vi.useFakeTimers();
  });
  afterEach(() => vi.useRealTimers());

  it('hands a kept session only to the same credentials', () => {
    const pool = sessions();
    pool.park('a', 'a1');
    expect(pool.take('b')).toBeUndefined();
    expect(pool.take('a')).toBe('a1');
    expect(pool.take('a')).toBeUndefined();
  });

  it('reserve claims a free kept session once; a second reserve finds none (its caller opens one)', () => {
    const pool = sessions();
    pool.park('a', 'a1');
    expect(pool.reserve('a')).toBe(true);
    expect(pool.reserve('a')).toBe(false);
    pool.add('a', 'a2'); // opened for the second
    // A reserved one goes first: each prepared synthesis finds its own.
    expect([pool.take('a'), pool.take('a')].sort()).toEqual(['a1', 'a2']);
  });

  it('keeps at most perCredentials idle for one key and total across keys; the rest are closed', () => {
    const pool = sessions({ perCredentials: 2, total: 3 });
    for (const session of ['a1', 'a2', 'a3']) pool.park('a', session);
    expect(closed).toEqual(['a3']);
    pool.park('b', 'b1');
    pool.park('c', 'c1'); // the fourth in all
    expect(closed).toEqual(['a3', 'c1']);
    expect(pool.size).toBe(3);
  });

  it('closes a session left idle for idleMs, reserved or not; one taken in time is not closed', () => {
    const pool = sessions();
    pool.park('a', 'a1');
    pool.add('b', 'b1');
    pool.park('c', 'c1');
    vi.advanceTimersByTime(500);
    expect(pool.take('c')).toBe('c1');
    vi.advanceTimersByTime(600);
    expect(closed.sort()).toEqual(['a1', 'b1']);
    expect(pool.size).toBe(0);
  });

  it('hands over and keeps no session maxAgeMs old, however often it was used: it is closed instead', () => {
    const pool = sessions();
    openedAt.set('a2', 30_000);
    pool.park('a', 'a1'); // opened at 0
    pool.park('a', 'a2'); // opened at 30 s
    clock.ms = 59_999;
    expect(pool.take('a')).toBe('a1'); // used within its idle time all along: still under a minute old
    pool.park('a', 'a1');
    clock.ms = 60_000;
    expect(pool.take('a')).toBe('a2'); // a1 reached the age: closed, not handed over
    expect(closed).toEqual(['a1']);
    pool.park('a', 'a2');
    expect(pool.reserve('a')).toBe(true); // a2 is 30 s old
    clock.ms = 90_000;
    expect(pool.reserve('a')).toBe(false); // a2 reached it too
    openedAt.set('a3', 25_000);
    pool.park('a', 'a3'); // back from a synthesis past that age: closed, not kept
    expect(closed).toEqual(['a1', 'a2', 'a3']);
    expect(pool.size).toBe(0);
  });

  it('hands over a session reserved for a synthesis even if it came of age since (its connection is ready)', () => {
    const pool = sessions();
    pool.park('a', 'a1');
    clock.ms = 59_999;
    expect(pool.reserve('a')).toBe(true);
    clock.ms = 60_001;
    expect(pool.take('a')).toBe('a1');
    pool.park('a', 'a1'); // back from that synthesis: of age, closed
    expect(closed).toEqual(['a1']);
  });

  it('closes a kept session whose connection the service ended, instead of reserving or handing it over', () => {
    const pool = sessions();
    pool.park('a', 'a1');
    pool.park('a', 'a2');
    dropped.add('a1');
    expect(pool.reserve('a')).toBe(true); // a2
    expect(closed).toEqual(['a1']);
    dropped.add('a2');
    expect(pool.take('a')).toBeUndefined();
    expect(closed).toEqual(['a1', 'a2']);
    expect(pool.size).toBe(0);
  });

  it('closeAll closes every idle session', () => {
    const pool = sessions();
    pool.park('a', 'a1');
    pool.add('a', 'a2');
    pool.closeAll();
    expect(closed).toEqual(['a1', 'a2']);
    expect(pool.take('a')).toBeUndefined();
    vi.advanceTimersByTime(2_000);
    expect(closed).toEqual(['a1', 'a2']);
  });
});
