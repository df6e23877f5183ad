import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import type { Services } from '../app/services.ts';
import { checkHealth } from '../health/check-health.ts';
import { describeError } from '../errors.ts';

/**
 * GET /api/health: 200 when this instance reaches Postgres and Blob Storage, else 503.
 * Anonymous, for load balancers and Azure's App Service health check; it says which
 * dependency failed but never why (the reason goes to the log).
 */
export function createHealthHandler(services: () => Services) {
  return async (_request: HttpRequest, context: InvocationContext): Promise<HttpResponseInit> => {
    let report;
    try {
      report = await checkHealth(services());
    } catch (error) {
      context.error(`health: service not configured: ${describeError(error)}`);
      return json(503, { status: 'unavailable', checks: { configuration: 'failed' } });
    }
    for (const [check, reason] of Object.entries(report.failures)) {
      context.warn(`health: ${check} check failed: ${describeError(reason)}`);
    }
    return json(report.healthy ? 200 : 503, {
      status: report.healthy ? 'ok' : 'unavailable',
      checks: report.checks,
    });
  };
}

function json(status: number, body: unknown): HttpResponseInit {
  return { status, jsonBody: body, headers: { 'Cache-Control': 'no-store' } };
}
