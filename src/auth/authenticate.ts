import { errors as joseErrors, jwtVerify } from 'jose';
import type { Config } from '../config.ts';
import { AppError } from '../errors.ts';
import type { AccountDirectory, Caller } from './account-directory.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The caller behind `Authorization: Bearer <JWT>`: an access token issued by the Khipu Cloud
 * API (signed with its JWT_SECRET_KEY, `type: "access"`, unexpired) whose `sub` is an active
 * user of an active tenant. Fails closed: a failure to check is 503, never a pass.
 */
export async function authenticate(
  authorization: string | null,
  jwt: Config['jwt'],
  accounts: AccountDirectory,
): Promise<Caller> {
  const token = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(authorization?.trim() ?? '')?.[1];
  if (!token) throw unauthorized('A Bearer access token is required');

  let userId: string;
  try {
    const { payload } = await jwtVerify(token, new TextEncoder().encode(jwt.secretKey), {
      algorithms: [jwt.algorithm], // pinned: no `alg: none`, no algorithm confusion
      requiredClaims: ['exp', 'sub'],
    });
    if (payload.type !== 'access') throw unauthorized('Only access tokens are accepted');
    if (typeof payload.sub !== 'string' || !UUID.test(payload.sub)) throw unauthorized('The token has no valid subject');
    userId = payload.sub.toLowerCase();
  } catch (error) {
    if (error instanceof AppError) throw error;
    if (error instanceof joseErrors.JWTExpired) throw unauthorized('The access token has expired');
    throw unauthorized('The access token is invalid');
  }

  let caller: Caller | null;
  try {
    caller = await accounts.findActiveUser(userId);
  } catch (error) {
    throw new AppError('unavailable', 'Could not verify the caller right now; try again shortly', {
      retryAfterSeconds: 5,
      cause: error,
    });
  }
  if (!caller) throw unauthorized('The user is unknown or inactive');
  return caller;
}

/**
 * The project, if the caller's tenant owns it. A missing project, another tenant's and a
 * malformed id are the same 404, so ids of other tenants cannot be probed.
 */
export async function authorizeProject(caller: Caller, projectId: string, accounts: AccountDirectory) {
  const notFound = new AppError('not-found', 'No such project');
  if (!UUID.test(projectId)) throw notFound;
  let project;
  try {
    project = await accounts.findProject(projectId.toLowerCase());
  } catch (error) {
    throw new AppError('unavailable', 'Could not check the project right now; try again shortly', {
      retryAfterSeconds: 5,
      cause: error,
    });
  }
  if (!project || project.tenantId.toLowerCase() !== caller.tenantId.toLowerCase()) throw notFound;
  return project;
}

function unauthorized(message: string): AppError {
  return new AppError('unauthorized', message);
}
