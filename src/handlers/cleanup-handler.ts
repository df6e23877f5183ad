import type { InvocationContext, Timer } from '@azure/functions';
import type { Services } from '../app/services.ts';

/** The cleanup timer's handler: one pass (the app's CacheCleanup), its lines on the invocation's log, nothing else. */
export function createCleanupHandler(services: () => Services) {
  return async (_timer: Timer, context: InvocationContext): Promise<void> => {
    await services().cleanup.run(context);
  };
}
