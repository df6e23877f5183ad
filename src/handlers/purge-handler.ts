import type { Services } from '../app/services.ts';
import { purgeCache, PurgeInterruptedError } from '../purge/purge-cache.ts';
import { projectStoreDeps } from './cleanup-handler.ts';
import { jsonEndpoint } from './json-endpoint.ts';

/**
 * DELETE /api/v1/audio-cache[?voice=es-AR-ElenaNeural] → removes the caller's tenant's cached
 * auditions (rows and blobs), all or one voice's, and answers the counts. Admins only (403
 * for anyone else), checked against the database on every call; never touches another
 * tenant's entries. The shape of every handler: json-endpoint.ts.
 */
export function createPurgeHandler(services: () => Services) {
  return jsonEndpoint('cachePurge', services, async ({ request, services, context, log }) => {
    const { access, maintenance, blobStore, auditions } = services;
    // Authorized against the database on every call (not AUTH_CACHE_SECONDS): a revoked admin
    // cannot purge a moment later, and a new one can at once.
    const caller = await access.authenticate(request.headers.get('authorization'), { fresh: true });
    log.tenant = caller.tenantId;
    const voice = request.query.get('voice')?.trim() || undefined;
    const deps = { maintenance, blobStore, memory: auditions, projects: projectStoreDeps(services), log: context };
    const purged = await purgeCache(deps, { caller, voice }).catch((error: unknown) => {
      // What it did, on the log line.
      if (error instanceof PurgeInterruptedError) Object.assign(log, error.progress);
      throw error;
    });
    const { tenantId: _tenant, voice: _voice, ...counts } = purged;
    Object.assign(log, counts);
    return { status: 200, body: purged };
  });
}
