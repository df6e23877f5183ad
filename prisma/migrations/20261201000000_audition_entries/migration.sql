-- Which audio_cache rows this service wrote. The table is shared: beside the Khipu Cloud API,
-- audio_cache also holds the narration of every audiobook segment (and older auditions of the
-- API's own), in the same blob layout. The cleanup, the per-tenant cap, purge and stats act
-- only on rows listed here; nothing else of audio_cache is ever deleted by this service.
-- (A table of our own rather than a column: the Khipu tables are not ours to alter.)
-- tenant_id (the row's, which never changes) lets the per-tenant cap, purge and counts start
-- from this table's own index instead of scanning it.
CREATE TABLE IF NOT EXISTS "audio_cache_auditions" (
    "cache_key" VARCHAR(255) NOT NULL,
    "tenant_id" UUID NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "audio_cache_auditions_pkey" PRIMARY KEY ("cache_key")
);

CREATE INDEX IF NOT EXISTS "audio_cache_auditions_tenant_id_idx" ON "audio_cache_auditions"("tenant_id");

-- Rows this service wrote before this table existed are recognised by their cache key: it is
-- the sha256 of the tuple the service hashes (src/audition/cache-key.ts, version v1), and every
-- part of that tuple is stored in the row, so the key can be recomputed from the row itself.
-- No other writer's row can match (another key formula), and a row that does not match
-- exactly stays unlisted: it is never deleted, which is the safe side.
INSERT INTO "audio_cache_auditions" ("cache_key", "tenant_id", "created_at")
SELECT c.cache_key, c.tenant_id, c.created_at
  FROM audio_cache AS c
 WHERE c.voice_settings IS NOT NULL
   AND c.cache_key = encode(sha256(convert_to(
         '["v1",' || to_json(c.tenant_id::text)::text
         || ',' || to_json(c.voice_settings ->> 'provider')::text
         || ',' || to_json(c.voice_id::text)::text
         || ',' || to_json(c.voice_settings ->> 'output_format')::text
         || ',' || to_json(c.text)::text
         || ',' || to_json(c.voice_settings ->> 'style')::text
         || ',' || (c.voice_settings -> 'styledegree')::text
         || ',' || (c.voice_settings -> 'rate_pct')::text
         || ',' || (c.voice_settings -> 'pitch_pct')::text
         || ']', 'UTF8')), 'hex')
ON CONFLICT DO NOTHING;
