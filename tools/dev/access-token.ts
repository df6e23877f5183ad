import { SignJWT } from 'jose';
import type { Config } from '../../src/config.ts';

/**
 * An access token shaped like the Khipu Cloud API's (`sub`, `email`, `type: "access"`, `exp`),
 * signed with the configured secret: for local runs and tests, never for production.
 */
export function signAccessToken(
  jwt: Config['jwt'],
  claims: { userId: string; email?: string; hours?: number },
): Promise<string> {
  return new SignJWT({ sub: claims.userId, email: claims.email ?? 'dev@khipu.local', type: 'access' })
    .setProtectedHeader({ alg: jwt.algorithm, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(`${claims.hours ?? 8}h`)
    .sign(new TextEncoder().encode(jwt.secretKey));
}
