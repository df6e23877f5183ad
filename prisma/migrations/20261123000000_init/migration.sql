-- Initial schema: the deployment guide's audio_cache table, and the three Khipu Cloud API
-- tables the service reads.
--
-- Every object is created only if it is absent. Beside the Khipu Cloud API the service shares
-- its database, where tenants, users and projects (and possibly audio_cache, created by the
-- API's own Alembic migration) already exist: there this migration must change nothing.
-- The Khipu tables are created whole or not at all (one block per table), so that a database
-- that has them never gets an extra index or constraint from us.

-- Khipu: tenants
DO $$
BEGIN
  IF to_regclass('tenants') IS NULL THEN
    CREATE TABLE "tenants" (
        "id" UUID NOT NULL DEFAULT gen_random_uuid(),
        "name" VARCHAR(255) NOT NULL,
        "subdomain" VARCHAR(100) NOT NULL,
        "is_active" BOOLEAN NOT NULL DEFAULT true,
        "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

        CONSTRAINT "tenants_pkey" PRIMARY KEY ("id")
    );
    CREATE UNIQUE INDEX "tenants_subdomain_key" ON "tenants"("subdomain");
  END IF;
END $$;

-- Khipu: users
DO $$
BEGIN
  IF to_regclass('users') IS NULL THEN
    CREATE TABLE "users" (
        "id" UUID NOT NULL DEFAULT gen_random_uuid(),
        "tenant_id" UUID NOT NULL,
        "email" VARCHAR(255) NOT NULL,
        "role" TEXT NOT NULL DEFAULT 'creator',
        "is_active" BOOLEAN NOT NULL DEFAULT true,
        "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

        CONSTRAINT "users_pkey" PRIMARY KEY ("id")
    );
    ALTER TABLE "users" ADD CONSTRAINT "users_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
  END IF;
END $$;

-- Khipu: projects (TTS credentials live in settings.azure_tts_key / settings.azure_tts_region)
DO $$
BEGIN
  IF to_regclass('projects') IS NULL THEN
    CREATE TABLE "projects" (
        "id" UUID NOT NULL DEFAULT gen_random_uuid(),
        "tenant_id" UUID NOT NULL,
        "owner_id" UUID NOT NULL,
        "title" VARCHAR(500) NOT NULL,
        "settings" JSONB,
        "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,

        CONSTRAINT "projects_pkey" PRIMARY KEY ("id")
    );
    ALTER TABLE "projects" ADD CONSTRAINT "projects_tenant_id_fkey" FOREIGN KEY ("tenant_id") REFERENCES "tenants"("id") ON DELETE CASCADE ON UPDATE CASCADE;
    ALTER TABLE "projects" ADD CONSTRAINT "projects_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "users"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
  END IF;
END $$;

-- The audio cache (deployment guide, Step 4), with its indexes, only where there is none yet.
-- Where the Khipu Cloud API's Alembic migrations made it (json voice_settings, no hit_count
-- default, idx_audio_cache_* indexes) it is theirs and left exactly as it is: no index is
-- added to it either. (Until 2026-12 this block created the indexes with IF NOT EXISTS, which
-- added ix_audio_cache_* indexes to a table that names them otherwise; migrate deploy keeps
-- what an earlier run applied.)
DO $$
BEGIN
  IF to_regclass('audio_cache') IS NULL THEN
    CREATE TABLE "audio_cache" (
        "id" UUID NOT NULL DEFAULT gen_random_uuid(),
        "tenant_id" UUID NOT NULL,
        "cache_key" VARCHAR(255) NOT NULL,
        "text" TEXT NOT NULL,
        "ssml" TEXT,
        "voice_id" VARCHAR(255) NOT NULL,
        "voice_settings" JSONB,
        "audio_blob_path" TEXT NOT NULL,
        "audio_url" TEXT,
        "audio_duration_seconds" DOUBLE PRECISION,
        "audio_file_size_bytes" BIGINT,
        "hit_count" INTEGER NOT NULL DEFAULT 0,
        "last_accessed_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
        "created_at" TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP,
        "expires_at" TIMESTAMPTZ,

        CONSTRAINT "audio_cache_pkey" PRIMARY KEY ("id")
    );
    CREATE UNIQUE INDEX "ix_audio_cache_cache_key" ON "audio_cache"("cache_key");
    CREATE INDEX "ix_audio_cache_expires_at" ON "audio_cache"("expires_at");
    CREATE INDEX "ix_audio_cache_last_accessed_at" ON "audio_cache"("last_accessed_at");
    CREATE INDEX "ix_audio_cache_tenant_id" ON "audio_cache"("tenant_id");
  END IF;
END $$;
