import { describe, expect, it } from 'vitest';
import { StallGuard } from '../../src/adapters/stall-guard.ts';
import { DependencyStalledError } from '../../src/deadline.ts';

describe('StallGuard (on an injected clock)', () => {
  const guardAt = () => {
    const clock = { ms: 10_000 };
    return { clock, guard: new StallGuard('Blob Storage', { elapsed: () => clock.ms, probeIntervalMs: 1_000 }) };
  };

  it('admits every call while the dependency answers, and after refusals or error answers', () => {
    const { guard } = guardAt();
    for (let i = 0; i < 5; i++) expect(() => guard.admit()).not.toThrow();
    guard.answered();
    expect(guard.stalled).toBe(false);
  });

  it('after a deadline, fails calls at once, lets one probe through a second, and ends the stall at the first answer', () => {
    const { clock, guard } = guardAt();
    guard.timedOut();
    expect(guard.stalled).toBe(true);
    clock.ms += 400;
    expect(() => guard.admit()).toThrow(DependencyStalledError);
    expect(() => guard.admit()).toThrow(
      'Blob Storage has not answered for 400 ms; not waiting for it again until it answers a probe',
    );
    clock.ms += 600; // a second after the deadline: one probe
    expect(() => guard.admit()).not.toThrow();
    expect(() => guard.admit()).toThrow(DependencyStalledError); // and only one
    guard.timedOut(); // the probe timed out too: still the same stall
    clock.ms += 1_000;
    expect(() => guard.admit()).not.toThrow(); // the next probe
    guard.answered();
    expect(guard.stalled).toBe(false);
    for (let i = 0; i < 3; i++) expect(() => guard.admit()).not.toThrow();
  });
});
