/** Private JWK Sets in the gateway's SIGNING_KEYS format, for the tests that rotate keys. */
import { generateKeyPairSync } from 'node:crypto';

export interface PrivateJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  kid: string;
  x: string;
  d: string;
}

export function newPrivateJwk(kid: string): PrivateJwk {
  const jwk = generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' });
  return { kty: 'OKP', crv: 'Ed25519', kid, x: jwk.x as string, d: jwk.d as string };
}

export function keySet(...entries: [PrivateJwk, 'active' | 'published' | 'retired'][]): {
  keys: (PrivateJwk & { status: string })[];
} {
  return { keys: entries.map(([jwk, status]) => ({ ...jwk, status })) };
}
