// npm run db:app-role: creates or updates the PostgreSQL role the deployed app connects as
// (tools/db/app-role.ts), as the admin in DATABASE_URL. The azd predeploy hook runs it right after
// the migrations, with POSTGRES_APP_LOGIN (a provisioning output) and POSTGRES_APP_PASSWORD (set by
// the deployer; the same value Bicep puts in the Key Vault secret database-url).
import { ConfigError, parseDatabaseUrl } from '../src/config.ts';
import { appRoleProblem, applyAppRole } from './db/app-role.ts';

async function main(): Promise<void> {
  const adminUrl = parseDatabaseUrl(process.env);
  const role = { login: process.env.POSTGRES_APP_LOGIN ?? '', password: process.env.POSTGRES_APP_PASSWORD ?? '' };
  const problem = appRoleProblem(role);
  if (problem) throw new ConfigError([problem]);
  const { created, grants } = await applyAppRole(adminUrl, role);
  console.log(`App role ${role.login} ${created ? 'created' : 'updated'}; it holds, and only holds:`);
  for (const grant of grants) console.log(`  ${grant}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
