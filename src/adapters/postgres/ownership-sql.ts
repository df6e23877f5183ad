import { sql } from './sql.ts';

/**
 * SQL: the `audio_cache` row aliased `c` is one this service wrote. Beside the Khipu Cloud API
 * the table also holds every book's narration; every write, deletion and figure of ours is
 * limited by this (see the migration `20261201000000_audition_entries`).
 */
export const isOurEntry = sql`EXISTS (SELECT 1 FROM audio_cache_auditions AS o WHERE o.cache_key = c.cache_key)`;
