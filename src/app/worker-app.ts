import { app } from '@azure/functions';
import { parseConfig } from '../config.ts';
import { stopTelemetry } from '../telemetry.ts';
import { createServices, type Services } from './services.ts';

let configured = false;

/**
 * The worker-wide setup every trigger file asks for before registering its function (the
 * first call does it): HTTP responses streamed, so a miss's audio reaches the caller as the
 * speech service produces it; when the worker starts, its services built and their connections
 * opened (not on the first request); and, when the worker stops, the hit counts still in memory
 * written and connections closed.
 */
export function configureWorkerApp(): void {
  if (configured) return;
  configured = true;
  app.setup({ enableHttpStream: true });
  app.hook.appStart(() => startWorkerServices());
  app.hook.appTerminate(() => closeWorkerServices());
}

let workerServices: Services | undefined;

/**
 * This worker's services, built on first use and shared by every invocation after it
 * (connection pools and credentials are expensive; settings do not change while a worker
 * lives). A configuration error is thrown on every call until the settings are fixed.
 */
export function getWorkerServices(): Services {
  if (!workerServices) {
    workerServices = createServices(parseConfig());
    workerServices.warmUp();
  }
  return workerServices;
}

/**
 * When the worker starts (the appStart hook; the local host before it listens): this worker's services built, their
 * database connection and container check under way, so that the first request does not begin them. A configuration
 * error is left to the requests, which answer it (503) and log it.
 */
export function startWorkerServices(): void {
  try {
    getWorkerServices();
  } catch {
    // getWorkerServices throws it again on every request.
  }
}

/** When the worker stops: misses in flight stored, the last hit counts written, connections closed. */
export async function closeWorkerServices(): Promise<void> {
  const services = workerServices;
  workerServices = undefined;
  await services?.close();
  await stopTelemetry(); // export what is buffered
}
