import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SpeechSessions } from '../../src/adapters/speech-sessions.ts';

describe('SpeechSessions: speech connections kept between syntheses, bounded', () => {
  let closed: string[];
  const sessions = (options: { perCredentials?: number; total?: number } = {}) =>
    new SpeechSessions<string>({
      idleMs: 1_000,
      perCredentials: options.perCredentials ?? 2,
      total: options.total ?? 10,
      close: (session) => closed.push(session),
    });
  beforeEach(() => {
    closed = [];
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
