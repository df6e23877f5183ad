import type { Services } from '../app/services.ts';
import { readCacheStats } from '../stats/read-cache-stats.ts';
import { jsonEndpoint } from './json-endpoint.ts';

/**
 * GET /api/v1/audio-cache/stats → the caller's tenant's cache figures (any active user of the
 * tenant; never another tenant's). The shape of every handler: json-endpoint.ts.
 */
export function createStatsHandler(services: () => Services) {
  return jsonEndpoint(
    'cacheStats',
    services,
    async ({ request, services: { access, stats, speechBudget, projectStoreStatus, config, now }, log }) => {
      const caller = await access.authenticate(request.headers.get('authorization'));
      log.tenant = caller.tenantId;
      const figures = await readCacheStats(
        { stats, speechBudget, projectStoreStatus },
        {
          tenantId: caller.tenantId,
          now: now(),
          pricePerMillionChars: config.ttsPricePerMillionChars,
          charactersPerDay: config.speech.defaultKeyCharsPerTenantPerDay,
        },
      );
      return { status: 200, body: figures };
    },
  );
}
