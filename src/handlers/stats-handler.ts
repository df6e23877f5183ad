import type { Services } from '../app/services.ts';
import { AppError } from '../errors.ts';
import { budgetDay } from '../ports/speech-budget.ts';
import { jsonEndpoint } from './json-endpoint.ts';

/**
 * GET /api/v1/audio-cache/stats → the caller's tenant's cache figures (any active user of the
 * tenant; never another tenant's).
 */
export function createStatsHandler(services: () => Services) {
  return jsonEndpoint('cacheStats', services, async ({ request, services: { access, stats, speechBudget, config, now }, log }) => {
    const caller = await access.authenticate(request.headers.get('authorization'));
    log.tenant = caller.tenantId;
    const at = now();
    const limit = config.speech.defaultKeyCharsPerTenantPerDay;
    const [figures, usedToday] = await Promise.all([
      stats.read({ tenantId: caller.tenantId, now: at, pricePerMillionChars: config.ttsPricePerMillionChars }),
      speechBudget.used(caller.tenantId, budgetDay(at)),
    ]).catch((error: unknown) => {
      throw new AppError('unavailable', 'The cache figures could not be read right now; try again shortly', { retryAfterSeconds: 5, cause: error });
    });
    // Characters synthesized today (UTC) on the service's key, for projects without their own.
    const defaultKey = { charactersPerDay: limit > 0 ? limit : null, usedToday, remainingToday: limit > 0 ? Math.max(0, limit - usedToday) : null };
    return { status: 200, body: { tenantId: caller.tenantId, generatedAt: at.toISOString(), ...figures, defaultKey } };
  });
}
