import type { Services } from '../app/services.ts';
import { isVoiceName } from '../domain/audition.ts';
import { AppError } from '../errors.ts';
import { purgeTenantCache, type PurgeResult } from '../purge/purge-tenant-cache.ts';
import { jsonEndpoint } from './json-endpoint.ts';

/** The role allowed to purge (users.role, as the Khipu Cloud API sets it). */
export const ADMIN_ROLE = 'admin';

/**
 * DELETE /api/v1/audio-cache[?voice=es-AR-ElenaNeural] → removes the caller's tenant's cached
 * auditions (rows and blobs), all or one voice's, and answers the counts. Admins only (403
 * for anyone else), checked against the database on every call; never touches another
 * tenant's entries.
 */
export function createPurgeHandler(services: () => Services) {
  return jsonEndpoint('cachePurge', services, async ({ request, services: { access, maintenance, blobStore, auditions }, log }) => {
    // Authorized against the database on every call (not AUTH_CACHE_SECONDS): a revoked admin
    // cannot purge a moment later, and a new one can at once.
    const caller = await access.authenticate(request.headers.get('authorization'), { fresh: true });
    log.tenant = caller.tenantId;
    if (caller.role !== ADMIN_ROLE) throw new AppError('forbidden', `Only users with the ${ADMIN_ROLE} role may purge the audio cache`);
    const voice = request.query.get('voice')?.trim() || undefined;
    if (voice !== undefined && !isVoiceName(voice)) {
      throw new AppError('invalid-request', 'The voice filter is not a voice name', {
        errors: [{ field: 'voice', message: 'must be an Azure voice name such as es-AR-ElenaNeural' }],
      });
    }
    const progress: PurgeResult = { entriesDeleted: 0, blobsDeleted: 0, blobsMissing: 0, blobsFailed: 0 };
    try {
      await purgeTenantCache({ maintenance, blobStore }, { tenantId: caller.tenantId, voiceId: voice }, progress);
    } catch (error) {
      throw new AppError('unavailable', `The purge was interrupted after ${progress.entriesDeleted} entries; call it again to finish`, {
        retryAfterSeconds: 5,
        cause: error,
      });
    } finally {
      // This instance stops serving them at once; others within MEMORY_CACHE_TTL_SECONDS.
      auditions.forgetTenant(caller.tenantId);
      Object.assign(log, progress);
    }
    return { status: 200, body: { tenantId: caller.tenantId, voice: voice ?? null, ...progress } };
  });
}
