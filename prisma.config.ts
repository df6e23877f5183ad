import { defineConfig } from 'prisma/config';

// Prisma 7 reads the connection URL from here (not from schema.prisma). `prisma generate`
// needs no database, so an unset DATABASE_URL must not fail the build: read the variable
// directly instead of through `env()`, which throws when it is missing.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});
