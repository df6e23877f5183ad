import type { Services } from '../app/services.ts';
import { PurgeInterruptedError } from '../purge/purge-cache.ts';
import { endpoint, freshUser, jsonResponse } from './endpoint.ts';

/**
 * DELETE /api/v1/audio-cache[?voice=es-AR-ElenaNeural] → removes the caller's tenant's cached
 * auditions (rows and blobs), all or one voice's, and answers the counts. Admins only (403
 * for anyone else), checked against the database on every call (not AUTH_CACHE_SECONDS: a
 * revoked admin cannot purge a moment later, and a new one can at once); never touches another
 * tenant's entries. The shape of every handler: endpoint.ts.
 */
export function createPurgeHandler(services: () => Services) {
  return endpoint(services, {
    name: 'cachePurge',
    authenticate: freshUser,
    parse: ({ request }, caller) => Promise.resolve({ caller, voice: request.query.get('voice')?.trim() || undefined }),
    run: (order, { services, context, log }) =>
      services.purge.purge(order, context).catch((error: unknown) => {
        // What it did, on the log line.
        if (error instanceof PurgeInterruptedError) Object.assign(log, error.progress);
        throw error;
      }),
    respond: (purged, _order, { log }) => {
      const { tenantId: _tenant, voice: _voice, ...counts } = purged;
      Object.assign(log, counts);
      return jsonResponse(200, purged);
    },
  });
}
