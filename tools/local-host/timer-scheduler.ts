import type { TimerFunctionDefinition } from '../../src/app/function-definition.ts';
import { runTimer } from './http-host.ts';

const ARM_AFTER_MS = 1_000;

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
 */
export function scheduleTimers(timers: TimerFunctionDefinition[], log: (line: string) => void): () => void {
  const handles = new Set<NodeJS.Timeout>();
  let stopped = false;
  for (const timer of timers) {
    const schedule = String(timer.options.schedule);
    const next = () => loadCronParser().parse(schedule, { currentDate: new Date(), tz: 'UTC' }).next().toDate();
    const arm = () => {
      if (stopped) return;
      const at = next();
      const handle = setTimeout(
        () => {
          handles.delete(handle);
          void runTimer(timer, log).then(arm); // runTimer logs its own failure and never rejects
        },
        Math.max(0, at.getTime() - Date.now()),
      );
      handle.unref();
      handles.add(handle);
    };
    const first = setTimeout(() => {
      handles.delete(first);
      arm();
    }, ARM_AFTER_MS);
    first.unref();
    handles.add(first);
  }
  return () => {
    stopped = true;
    for (const handle of handles) clearTimeout(handle);
  };
}
