-- Characters synthesized on the service's default Azure key (AZURE_SPEECH_KEY), per tenant and
-- UTC day: what DEFAULT_KEY_CHARS_PER_TENANT_PER_DAY is checked against, by every instance.
-- A synthesis reserves its characters here before it starts (one conditional upsert, so
-- concurrent ones cannot overshoot) and gives them back if it fails.
CREATE TABLE IF NOT EXISTS "audio_cache_default_key_usage" (
    "tenant_id" UUID NOT NULL,
    "day" DATE NOT NULL,
    "characters" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "audio_cache_default_key_usage_pkey" PRIMARY KEY ("tenant_id","day")
);
