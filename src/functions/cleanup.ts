import { app } from '@azure/functions';
import type { TimerFunctionDefinition } from '../app/function-definition.ts';
import { configureWorkerApp, getWorkerServices } from '../app/worker-app.ts';
import { createCleanupHandler } from '../handlers/cleanup-handler.ts';
import { parseCleanupSchedule } from '../config.ts';

export const cleanupFunction: TimerFunctionDefinition = {
  trigger: 'timer',
  name: 'cleanup',
  options: {
    // CACHE_CLEANUP_SCHEDULE, default hourly ("0 0 * * * *"). Azure runs one invocation at a
    // time across instances; the pass also takes a database lock against manual runs.
    schedule: parseCleanupSchedule(),
    handler: createCleanupHandler(getWorkerServices),
  },
};

configureWorkerApp();
app.timer(cleanupFunction.name, cleanupFunction.options);
