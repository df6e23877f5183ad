import type { Services } from '../app/services.ts';
import { AppError } from '../errors.ts';
import { jsonEndpoint } from './json-endpoint.ts';

/**
 * GET /api/v1/audio-cache/stats → the caller's tenant's cache figures (any active user of the
 * tenant; never another tenant's).
 */
export function createStatsHandler(services: () => Services) {
  return jsonEndpoint('cacheStats', services, async ({ request, services: { access, stats, config, now }, log }) => {
    const caller = await access.authenticate(request.headers.get('authorization'));
    log.tenant = caller.tenantId;
    const figures = await stats
      .read({ tenantId: caller.tenantId, now: now(), pricePerMillionChars: config.ttsPricePerMillionChars })
      .catch((error: unknown) => {
        throw new AppError('unavailable', 'The cache figures could not be read right now; try again shortly', { retryAfterSeconds: 5, cause: error });
      });
    return { status: 200, body: { tenantId: caller.tenantId, generatedAt: now().toISOString(), ...figures } };
  });
}
