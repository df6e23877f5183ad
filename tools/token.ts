// npm run token -- --user <uuid> [--hours N] [--email E]: prints an access token for local
// testing, signed with JWT_SECRET_KEY / JWT_ALGORITHM (environment, then local.settings.json).
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseJwtConfig } from '../src/config.ts';
import { describeError } from '../src/errors.ts';
import { signAccessToken } from './dev/access-token.ts';
import { applyLocalSettings, readLocalSettings } from './local-host/local-settings.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { user: { type: 'string' }, hours: { type: 'string', default: '8' }, email: { type: 'string' } },
  });
  if (!values.user || !UUID.test(values.user)) {
    throw new Error('Usage: npm run token -- --user <user uuid> [--hours 8] [--email you@example.com]');
  }
  const hours = Number(values.hours);
  if (!Number.isFinite(hours) || hours <= 0) throw new Error('--hours must be a positive number');
  applyLocalSettings((await readLocalSettings(path.resolve('local.settings.json'))).values);
  console.log(await signAccessToken(parseJwtConfig(), { userId: values.user, email: values.email, hours }));
}

main().catch((error: unknown) => {
  console.error(describeError(error));
  process.exitCode = 1;
});
