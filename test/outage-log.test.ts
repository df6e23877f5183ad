import { describe, expect, it } from 'vitest';
import { OutageLog } from '../src/outage-log.ts';

describe('OutageLog (on an injected clock)', () => {
  const logged = () => {
    const lines: string[] = [];
    return {
      lines,
      log: {
        info: (line: string) => lines.push(`info: ${line}`),
        warn: (line: string) => lines.push(`warn: ${line}`),
        error() {},
      },
    };
  };

  it('warns at the first failure of an outage, counts the rest, and says once when it is over', () => {
    const clock = { ms: 0 };
    const outage = new OutageLog('Blob Storage', { elapsed: () => clock.ms });
    const { lines, log } = logged();
    outage.succeeded(log); // nothing to end
    outage.failed(log, 'audition cache: blob read failed, answering uncached', new Error('socket hang up'));
    for (let i = 0; i < 99; i++)
      outage.failed(log, 'audition cache: blob upload failed, audio not cached', new Error('again'));
    expect(outage.failing).toBe(true);
    clock.ms = 42_500;
    outage.succeeded(log);
    outage.succeeded(log);
    expect(lines).toEqual([
      'warn: audition cache: blob read failed, answering uncached: socket hang up (until Blob Storage answers again, further failures are counted, not logged)',
      'info: Blob Storage answers again after 42.5 s of failures (100 failed call(s))',
    ]);
    // The next outage is a new one.
    outage.failed(log, 'audition cache: blob read failed, answering uncached', new Error('reset'));
    expect(lines).toHaveLength(3);
  });
});
