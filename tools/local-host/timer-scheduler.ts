import type { TimerFunctionDefinition } from '../../src/app/function-definition.ts';
import { systemClock, type Clock } from '../../src/clock.ts';
import { describeError } from '../../src/errors.ts';
import { runTimer } from './http-host.ts';

const ARM_AFTER_MS = 1_000;

/**
 * The longest delay a Node timer holds (2³¹ − 1 ms, 24.8 days). A longer one fires after 1 ms
 * with a TimeoutOverflowWarning: a yearly schedule then ran its function in a tight loop.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** What the scheduler waits with: the system's clock and timers, or a test's. */
export interface SchedulerTime {
  now: Clock;
  /** Calls `callback` after `ms` (never more than MAX_TIMER_DELAY_MS); returns its cancel. */
  setTimer(callback: () => void, ms: number): () => void;
}

export const systemTime: SchedulerTime = {
  now: systemClock,
  setTimer(callback, ms) {
    const handle = setTimeout(callback, ms);
    handle.unref();
    return () => clearTimeout(handle);
  },
};

function loadCronParser(): typeof import('cron-parser').CronExpressionParser {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('cron-parser') as typeof import('cron-parser')).CronExpressionParser;
}

/**
 * Fires timer functions on their NCRONTAB schedules (six fields, seconds first, UTC as on
 * Azure), one invocation of a function at a time, as the Functions host does.
 * Returns a function that stops the schedule.
 *
 * The schedules are armed a moment after the host starts listening, and the cron parser
 * (with its date library, ~40 ms) loads then: a new instance's first request comes first.
 * A next run further away than a Node timer can wait is waited for in steps, each ending with
 * a fresh look at the clock.
 */
export function scheduleTimers(
  timers: TimerFunctionDefinition[],
  log: (line: string) => void,
  time: SchedulerTime = systemTime,
): () => void {
  const cancels = new Set<() => void>();
  let stopped = false;
  const after = (ms: number, then: () => void) => {
    const cancel = time.setTimer(() => {
      cancels.delete(cancel);
      if (!stopped) then();
    }, ms);
    cancels.add(cancel);
  };
  for (const timer of timers) {
    const schedule = String(timer.options.schedule);
    const waitUntil = (at: number) => {
      const remaining = at - time.now().getTime();
      if (remaining > 0) {
        after(Math.min(remaining, MAX_TIMER_DELAY_MS), () => waitUntil(at));
        return;
      }
      void runTimer(timer, log).then(arm); // runTimer logs its own failure and never rejects
    };
    const arm = () => {
      if (stopped) return;
      let next: number;
      try {
        next = loadCronParser().parse(schedule, { currentDate: time.now(), tz: 'UTC' }).next().getTime();
      } catch (error) {
        // A schedule with no date at all (`0 0 0 30 2 *`): said once, and the host keeps serving.
        log(`error: timer '${timer.name}' is not scheduled: ${describeError(error)} (${schedule})`);
        return;
      }
      waitUntil(next);
    };
    after(ARM_AFTER_MS, arm);
  }
  return () => {
    stopped = true;
    for (const cancel of cancels) cancel();
  };
}
