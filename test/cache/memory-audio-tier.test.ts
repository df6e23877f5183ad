import { describe, expect, it } from 'vitest';
import { MemoryAudioTier } from '../../src/cache/memory-audio-tier.ts';

const audio = (kb: number) => Buffer.alloc(kb * 1024, 7);
const entry = (kb: number, expiresAt: Date | null = null) => ({
  tenantId: 't',
  audio: audio(kb),
  durationSeconds: 1,
  expiresAt,
});

describe('MemoryAudioTier', () => {
  it('is bounded by bytes: the least recently used audio goes first', () => {
    const tier = new MemoryAudioTier({ maxBytes: 100 * 1024, ttlMs: 60_000 });
    tier.set('a', entry(30));
    tier.set('b', entry(30));
    tier.set('c', entry(30));
    expect(tier.get('a')).toBeDefined(); // a is now the most recently used
    tier.set('d', entry(30)); // over 100 KB: b, the least recently used, is dropped
    expect(tier.get('b')).toBeUndefined();
    expect(['a', 'c', 'd'].every((key) => tier.get(key))).toBe(true);
    expect(tier.sizeBytes).toBeLessThanOrEqual(100 * 1024);
  });

  it('does not keep audio larger than the whole tier', () => {
    const tier = new MemoryAudioTier({ maxBytes: 10 * 1024, ttlMs: 60_000 });
    tier.set('big', entry(20));
    expect(tier.get('big')).toBeUndefined();
    expect(tier.entries).toBe(0);
  });

  it('never serves audio past its entry’s expiry', () => {
    let now = new Date('2026-11-23T12:00:00Z');
    const tier = new MemoryAudioTier({ maxBytes: 1024 * 1024, ttlMs: 3_600_000, now: () => now });
    tier.set('k', entry(1, new Date('2026-11-23T12:00:30Z')));
    expect(tier.get('k')).toBeDefined();
    now = new Date('2026-11-23T12:00:30Z');
    expect(tier.get('k')).toBeUndefined();
    expect(tier.entries).toBe(0);
  });

  it('forgets audio after its own short TTL, so a purge elsewhere takes effect', () => {
    let now = new Date('2026-11-23T12:00:00Z');
    const tier = new MemoryAudioTier({ maxBytes: 1024 * 1024, ttlMs: 120_000, now: () => now });
    tier.set('k', entry(1));
    now = new Date('2026-11-23T12:01:59.999Z');
    expect(tier.get('k')).toBeDefined();
    now = new Date('2026-11-23T12:02:00.001Z');
    expect(tier.get('k')).toBeUndefined();
    expect(tier.entries).toBe(0);
  });
});
