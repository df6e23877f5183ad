import { SignJWT, type JWTPayload } from 'jose';
import type { Config } from '../../src/config.ts';

export interface AccessTokenClaims {
  userId: string;
  email?: string;
  /** Lifetime in hours (default 8); or `expiresIn`, as jose's `setExpirationTime` takes it. */
  hours?: number;
  expiresIn?: string | number;
  /** Added to (or, undefined, removed from) the claims: for tests of tokens the app must refuse. */
  claims?: JWTPayload;
}

/**
 * An access token shaped like the Khipu Cloud API's (`sub`, `email`, `type: "access"`, `exp`),
 * signed with the configured secret: for local runs and tests, never for production. The one
 * place tokens are made (`npm run token`, `npm start`, the benchmarks and the tests).
 */
export function signAccessToken(
  jwt: Pick<Config['jwt'], 'secretKey' | 'algorithm'>,
  token: AccessTokenClaims,
): Promise<string> {
  return new SignJWT({ sub: token.userId, email: token.email ?? 'dev@khipu.local', type: 'access', ...token.claims })
    .setProtectedHeader({ alg: jwt.algorithm, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime(token.expiresIn ?? `${token.hours ?? 8}h`)
    .sign(new TextEncoder().encode(jwt.secretKey));
}
