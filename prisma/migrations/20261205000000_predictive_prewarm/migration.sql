-- Predictive prewarm (issue 29): after a tenant's first casting-page audition of a voice, the
-- service synthesizes the default line of the language's other voices and stores them as normal
-- entries. Operators must see per tenant what that spent and the plays it served, so both are
-- counted where the other figures are. Only our own tables change (the Khipu tables are not
-- ours to alter), each change only if absent, as in the earlier migrations.

-- The entry was stored by predictive prewarm: its later plays count as predictive hits. On the
-- ownership note rather than on audio_cache, which is the Khipu Cloud API's table too.
ALTER TABLE "audio_cache_auditions" ADD COLUMN IF NOT EXISTS "predictive" BOOLEAN NOT NULL DEFAULT false;

-- What predictive prewarm spent per tenant and hour (its syntheses and their characters, counted
-- in the statement that stores each entry) and the plays its entries served (counted with the
-- batched hits). Kept 90 days by the cleanup pass, like the rest of the row.
ALTER TABLE "audio_cache_usage"
    ADD COLUMN IF NOT EXISTS "predictive_syntheses" INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "predictive_characters" BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS "predictive_hits" INTEGER NOT NULL DEFAULT 0;

-- Which prewarms have run, shared by every instance: at most one per tenant, language and line
-- version within the entries' lifetime. A claim is one conditional upsert on the primary key, so
-- of concurrent claims one wins; finished_at NULL long after started_at is a run whose instance
-- went away, which a later claim takes over. A tenant's purge forgets its runs.
CREATE TABLE IF NOT EXISTS "audio_cache_predictive_runs" (
    "tenant_id" UUID NOT NULL,
    "language" VARCHAR(35) NOT NULL,
    "line_version" VARCHAR(64) NOT NULL,
    "started_at" TIMESTAMPTZ NOT NULL,
    "finished_at" TIMESTAMPTZ,

    CONSTRAINT "audio_cache_predictive_runs_pkey" PRIMARY KEY ("tenant_id","language","line_version")
);
