import { CronExpressionParser } from 'cron-parser';
import type { TimerFunctionDefinition } from '../../src/app/function-definition.ts';
import { runTimer } from './http-host.ts';

/**
 * Fires timer functions on their NCRONTAB schedules (six fields, seconds first, UTC as on
 * Azure), one invocation of a function at a time, as the Functions host does.
 * Returns a function that stops the schedule.
 */
export function scheduleTimers(timers: TimerFunctionDefinition[], log: (line: string) => void): () => void {
  const handles = new Set<NodeJS.Timeout>();
  let stopped = false;
  for (const timer of timers) {
    const schedule = String(timer.options.schedule);
    const next = () => CronExpressionParser.parse(schedule, { currentDate: new Date(), tz: 'UTC' }).next().toDate();
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
    arm();
  }
  return () => {
    stopped = true;
    for (const handle of handles) clearTimeout(handle);
  };
}
