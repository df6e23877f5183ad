-- Leases (issue 36): one synthesis per line across instances, and one cleanup pass at a time, were
-- session advisory locks held on a connection of each instance's own. Through PgBouncer in
-- transaction mode a session lock lands on whichever server connection ran the statement, and a
-- frozen holder kept its lock for as long as its session lived. A lease is a row instead: it is
-- taken, renewed and released by single statements (safe through any pooler), and it expires on
-- the database's clock when its holder stops renewing it, whatever became of the holder's
-- connection. Only this service writes here; a row lives while its line is being filled.
CREATE TABLE IF NOT EXISTS "audio_cache_leases" (
    -- What is leased: `audition:{cache key}` or `cleanup`.
    "name" TEXT NOT NULL,
    -- The holder's proof, new at every take: a renewal, a release and a fenced write name it.
    "token" UUID NOT NULL,
    -- 1 when taken free, + 1 at every takeover of an expired lease (for the logs and the stats).
    "generation" BIGINT NOT NULL,
    "taken_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    CONSTRAINT "audio_cache_leases_pkey" PRIMARY KEY ("name")
);
