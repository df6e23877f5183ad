-- Leases are coordination, not data (issue 38). Every miss takes, proves and releases its line's
-- lease: as a logged table each of those commits waited for a flush of the write-ahead log to disk
-- (one of them before the synthesis starts). Unlogged, they write no WAL and wait for no flush.
-- What that gives up is exactly what a lease does not need: after a crash of the server, or a
-- failover to a standby, the table is empty — every lease is free, as it is when its holders are
-- gone — and a holder still running then finds its lease lost at its next renewal or fenced write,
-- which it already handles (it answers its audio uncached). The cache's rows stay logged.
ALTER TABLE "audio_cache_leases" SET UNLOGGED;
