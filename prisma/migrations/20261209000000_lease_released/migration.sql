-- A released lease is kept as a row until the cleanup deletes it (issue 38), so that the next
-- take of the name can tell whether anybody held it since the row was made: a take that inserts
-- the row (nobody held the name within the last hour) need not look for what a holder stored,
-- which saves the miss a statement before its synthesis. `released`: its holder let go of it (it
-- is free, and no longer its holder's to renew or write under). `held_before`: this holder took
-- it from an earlier one (released or taken over), who may have stored the line.
ALTER TABLE "audio_cache_leases"
    ADD COLUMN "released" BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN "held_before" BOOLEAN NOT NULL DEFAULT false;
