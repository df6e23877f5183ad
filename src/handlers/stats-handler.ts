import type { Services } from '../app/services.ts';
import { endpoint, jsonResponse, user } from './endpoint.ts';

/**
 * GET /api/v1/audio-cache/stats → the caller's tenant's cache figures (any active user of the
 * tenant; never another tenant's). The shape of every handler: endpoint.ts.
 */
export function createStatsHandler(services: () => Services) {
  return endpoint(services, {
    name: 'cacheStats',
    authenticate: user,
    parse: (_call, caller) => Promise.resolve(caller),
    run: (caller, { services }) => services.stats.read(caller.tenantId),
    respond: (figures) => jsonResponse(200, figures),
  });
}
