import type { Services } from '../app/services.ts';
import { describeError } from '../errors.ts';
import { anyone, endpoint, jsonResponse } from './endpoint.ts';

/**
 * GET /api/health: 200 when this instance reaches Postgres and Blob Storage, else 503. A project's own storage account
 * that fails shows as `projectStorage: degraded` and a count, still 200 (only that project is answered uncached).
 * Anonymous, for load balancers and Azure's App Service health check; it says which
 * dependency failed but never why (the reason goes to the log). The shape of every handler
 * (endpoint.ts), answered in its own body rather than a problem, and without a request
 * log line (probes come every few seconds).
 */
export function createHealthHandler(services: () => Services) {
  return endpoint(services, {
    name: 'health',
    authenticate: anyone,
    parse: () => Promise.resolve(undefined),
    run: (_none, { services }) => services.health.check(),
    respond: (report, _none, { context }) => {
      for (const [check, reason] of Object.entries(report.failures)) {
        context.warn(`health: ${check} check failed: ${describeError(reason)}`);
      }
      return jsonResponse(report.healthy ? 200 : 503, {
        status: report.healthy ? 'ok' : 'unavailable',
        checks: report.checks,
        ...(report.failingProjectAccounts > 0 ? { failingProjectAccounts: report.failingProjectAccounts } : {}),
      });
    },
    fail: (error, { context }) => {
      context.error(`health: service not configured: ${describeError(error)}`);
      return jsonResponse(503, { status: 'unavailable', checks: { configuration: 'failed' } });
    },
    unlogged: true,
  });
}
