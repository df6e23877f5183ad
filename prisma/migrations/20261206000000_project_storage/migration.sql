-- Project storage accounts (issue 30): a Khipu project may have its own Azure Storage account
-- (projects.settings.creds.storage.azure), and its auditions are stored there. The Khipu Cloud
-- API's rows do not record which account holds their blob, so a second project of the tenant
-- with other storage cannot find it, and its hourly cleanup never reaches project accounts (their
-- blobs are orphaned for ever). Ours record both. Only our own tables change (the Khipu tables
-- are not ours to alter), each change only if absent, as in the earlier migrations.

-- Where the row's blob lives, on its ownership note: the project account's store id
-- (`{serviceUrl}/{containerName}`, no secret in it) and the project whose credentials stored it,
-- NULL for the operator's account. The key is per tenant, not per project, so the store cannot be
-- derived from the row: it is written with the row, in the same statement, and moves with a
-- replace. The operator's cleanup deletes rows then blobs; a project account's must go blobs then
-- rows (the row is the only record of a blob in an account that may not answer now), so every
-- delete asks which side a note is on.
ALTER TABLE "audio_cache_auditions"
    ADD COLUMN IF NOT EXISTS "blob_store" TEXT,
    ADD COLUMN IF NOT EXISTS "project_id" UUID;

-- The cleanup's and the stats' view of project accounts starts from the few notes that have a
-- store; the operator's (most of them) are not in this index.
CREATE INDEX IF NOT EXISTS "audio_cache_auditions_blob_store_idx" ON "audio_cache_auditions"("blob_store")
    WHERE "blob_store" IS NOT NULL;

-- Every project account the service wrote to, per tenant, upserted in the statement that stores
-- an entry there. The orphan sweep lists each one's blobs (a blob whose row was never written is
-- known only to the account), so a store is forgotten only once nothing of ours is left in it;
-- project_id is the project that stored there last, whose settings name the account's key first.
CREATE TABLE IF NOT EXISTS "audio_cache_blob_stores" (
    "tenant_id" UUID NOT NULL,
    "store_id" TEXT NOT NULL,
    "project_id" UUID NOT NULL,
    "first_written_at" TIMESTAMPTZ NOT NULL,
    "last_written_at" TIMESTAMPTZ NOT NULL,

    CONSTRAINT "audio_cache_blob_stores_pkey" PRIMARY KEY ("tenant_id","store_id")
);
