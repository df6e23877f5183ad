import type * as RuntimeUtils from '@prisma/client-runtime-utils';

/**
 * Prisma's SQL template tag (what the client re-exports as `Prisma.sql`, `Prisma.Sql`, `Prisma.empty`: the same
 * functions), from the small package it takes them from. Statements are built at start and on a HIT's and a miss's
 * path, none of which loads Prisma's client runtime (Database loads it on first use). Every value is a parameter;
 * `raw` is left out on purpose.
 *
 * Required, not imported: the package ships a CommonJS and an ES module build, and Prisma's runtime requires the
 * CommonJS one (the `node` condition of @prisma/client's exports). A fragment built by the other build's `sql` is not
 * an `Sql` to the runtime, which would send it as a parameter (an ES import does load the other one under vitest).
 * This file is CommonJS itself (no "type": "module"), so `require` is Node's.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const utils = require('@prisma/client-runtime-utils') as typeof RuntimeUtils;

export const { empty, sql } = utils;
export type Sql = RuntimeUtils.Sql;
