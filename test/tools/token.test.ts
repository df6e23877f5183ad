import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { root } from '../support/repo.ts';

const run = (args: string[], env: NodeJS.ProcessEnv) =>
  promisify(execFile)('npm', ['run', '--silent', 'token', '--', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
  }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

describe('npm run token', () => {
  it('prints an access token for the user, signed with JWT_SECRET_KEY, valid for the hours asked', async () => {
    const userId = '5b0f4c1e-8d6a-4a55-9b39-7f1d0f6b2a10';
    const { code, stdout } = await run(['--user', userId, '--hours', '2'], { JWT_SECRET_KEY: 'token-test-secret' });
    expect(code).toBe(0);
    const { payload } = await jwtVerify(stdout.trim(), new TextEncoder().encode('token-test-secret'), {
      algorithms: ['HS256'],
    });
    expect(payload).toMatchObject({ sub: userId, type: 'access' });
    expect(payload.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(7_100);
    expect(payload.exp! - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(7_200);
  });

  it('explains its usage when the user id is missing or not a UUID', async () => {
    const result = await run(['--user', 'bob'], { JWT_SECRET_KEY: 'x' });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Usage: npm run token -- --user <user uuid>/);
  });
});
