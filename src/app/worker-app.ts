import { app } from '@azure/functions';
import { closeWorkerServices } from './services.ts';

let configured = false;

/**
 * The worker-wide setup every trigger file asks for before registering its function (the
 * first call does it): HTTP responses streamed, so a miss's audio reaches the caller as the
 * speech service produces it; and, when the worker stops, the hit counts still in memory
 * written and connections closed.
 */
export function configureWorkerApp(): void {
  if (configured) return;
  configured = true;
  app.setup({ enableHttpStream: true });
  app.hook.appTerminate(() => closeWorkerServices());
}
