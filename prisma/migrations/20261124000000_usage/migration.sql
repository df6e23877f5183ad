-- Hourly plays and syntheses per tenant (the stats endpoint's 24 h / 7 d figures and hit
-- ratio). Kept 90 days by the cleanup pass.
CREATE TABLE IF NOT EXISTS "audio_cache_usage" (
    "tenant_id" UUID NOT NULL,
    "hour" TIMESTAMPTZ NOT NULL,
    "hits" INTEGER NOT NULL DEFAULT 0,
    "misses" INTEGER NOT NULL DEFAULT 0,
    "characters_saved" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "audio_cache_usage_pkey" PRIMARY KEY ("tenant_id","hour")
);
