/**
 * Ed25519 signing keys for tests, with the public half as a JWK (`kid`, `alg`, `use`) ready to be served in
 * a JWKS, so media is always tested against real signatures.
 */
import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JWK } from 'jose';

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public key as published in a JWKS. */
  publicJwk: JWK;
}

export async function generateTestKey(kid: string = randomUUID()): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
  return { kid, privateKey, publicKey, publicJwk };
}

export async function generateTestKeys(count = 1): Promise<TestKey[]> {
  return Promise.all(Array.from({ length: count }, () => generateTestKey()));
}

/** A JWKS document (`{"keys": [...]}`) of the keys' public halves. */
export function jwksOf(keys: readonly TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((k) => k.publicJwk) };
}
