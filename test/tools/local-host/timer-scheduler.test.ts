import type { TimerFunctionDefinition } from '../../../src/app/function-definition.ts';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY_MS, scheduleTimers, type SchedulerTime } from '../../../tools/local-host/timer-scheduler.ts';

/** A clock and timers that move only when the test fires the next timer: no wall clock, no real waiting. */
class FakeTime implements SchedulerTime {
  #now: number;
  #timers: { at: number; callback: () => void }[] = [];
  /** Every delay the scheduler asked for. */
  readonly delays: number[] = [];

  constructor(start: string) {
    this.#now = Date.parse(start);
  }

  now = () => new Date(this.#now);

  setTimer = (callback: () => void, ms: number) => {
    this.delays.push(ms);
    const timer = { at: this.#now + ms, callback };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  };

  get pending(): number {
    return this.#timers.length;
  }

  /** Sets the clock without firing anything (a suspended laptop, an NTP correction). */
  set(iso: string) {
    this.#now = Date.parse(iso);
  }

  /** Moves the clock to the earliest timer, fires it, and lets what it started (a run, the next arming) settle. */
  async fireNext(): Promise<void> {
    const timer = this.#timers.reduce((a, b) => (b.at < a.at ? b : a));
    this.#timers = this.#timers.filter((t) => t !== timer);
    this.#now = Math.max(this.#now, timer.at);
    timer.callback();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function recordingTimer(schedule: string, time: FakeTime, onRun: () => Promise<void> = async () => {}) {
  const runs: string[] = [];
  const definition: TimerFunctionDefinition = {
    trigger: 'timer',
    name: 'cleanup',
    options: {
      schedule,
      handler: async () => {
        runs.push(time.now().toISOString());
        await onRun();
      },
    },
  };
  return { definition, runs };
}

describe('the local host’s timer scheduler', () => {
  it('waits for a run further away than a Node timer can hold in steps of at most 2³¹−1 ms, and runs once, at its time', async () => {
    // '0 0 0 1 1 *' from 2 January: 364 days ahead, 14.7 times what one setTimeout can wait.
    const time = new FakeTime('2030-01-02T00:00:00.000Z');
    const { definition, runs } = recordingTimer('0 0 0 1 1 *', time);
    const stop = scheduleTimers([definition], () => {}, time);
    await time.fireNext(); // armed a second after the start
    let steps = 0;
    while (runs.length === 0 && steps < 100) {
      await time.fireNext();
      steps++;
    }
    expect(runs).toEqual(['2031-01-01T00:00:00.000Z']);
    const ahead = Date.parse('2031-01-01T00:00:00.000Z') - Date.parse('2030-01-02T00:00:01.000Z');
    expect(steps).toBe(Math.ceil(ahead / MAX_TIMER_DELAY_MS));
    expect(Math.max(...time.delays)).toBe(MAX_TIMER_DELAY_MS);
    // The next year is armed the same way: one step pending, no run.
    expect(time.pending).toBe(1);
    expect(time.delays.at(-1)).toBe(MAX_TIMER_DELAY_MS);
    stop();
    expect(time.pending).toBe(0);
  });

  it('looks at the clock again after each step: set back, it keeps waiting; moved past the time, it runs then', async () => {
    const time = new FakeTime('2030-01-02T00:00:00.000Z');
    const { definition, runs } = recordingTimer('0 0 0 1 1 *', time);
    const stop = scheduleTimers([definition], () => {}, time);
    await time.fireNext();
    await time.fireNext(); // one full step: 24.8 days on
    time.set('2030-01-02T00:00:00.000Z'); // the clock went back
    await time.fireNext();
    expect(runs).toEqual([]);
    expect(time.delays.at(-1)).toBe(MAX_TIMER_DELAY_MS); // still a whole step to go
    time.set('2031-03-01T00:00:00.000Z'); // asleep past the date
    await time.fireNext();
    expect(runs).toEqual(['2031-03-01T00:00:00.000Z']);
    stop();
  });

  it('runs an hourly schedule on the hour, one invocation at a time', async () => {
    const time = new FakeTime('2030-06-01T12:30:00.000Z');
    let finish!: () => void;
    const { definition, runs } = recordingTimer(
      '0 0 * * * *',
      time,
      () => new Promise<void>((resolve) => (finish = resolve)),
    );
    const stop = scheduleTimers([definition], () => {}, time);
    await time.fireNext();
    await time.fireNext();
    expect(runs).toEqual(['2030-06-01T13:00:00.000Z']);
    expect(time.pending).toBe(0); // nothing armed while the run is still going
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    expect(time.delays.at(-1)).toBe(3_600_000);
    await time.fireNext();
    finish();
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs).toEqual(['2030-06-01T13:00:00.000Z', '2030-06-01T14:00:00.000Z']);
    expect(time.delays.every((ms) => ms > 0)).toBe(true);
    stop();
  });

  it('logs a schedule that never comes (30 February) once and arms nothing, instead of failing the host', async () => {
    const time = new FakeTime('2030-01-02T00:00:00.000Z');
    const { definition, runs } = recordingTimer('0 0 0 30 2 *', time);
    const lines: string[] = [];
    scheduleTimers([definition], (line) => lines.push(line), time);
    await time.fireNext();
    expect(lines).toEqual([expect.stringMatching(/^error: timer 'cleanup' is not scheduled: .*\(0 0 0 30 2 \*\)$/)]);
    expect(time.pending).toBe(0);
    expect(runs).toEqual([]);
  });
});
