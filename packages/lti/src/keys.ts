import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

/** Signature algorithms the tool key may use. IMS requires platforms to accept RS256. */
export type ToolKeyAlg = 'RS256' | 'ES256';

/** One tool signing key: private half for client assertions, public half published in our JWKS. */
export interface ToolKey {
  kid: string;
  alg: ToolKeyAlg;
  privateKey: CryptoKey;
  /** public JWK with `kid`, `alg` and `use: "sig"` */
  publicJwk: JWK;
}

/** A JSON Web Key Set as served at `/.well-known/jwks.json`. */
export interface PublicJwks {
  keys: JWK[];
}

async function fromPrivateJwk(jwk: JWK, alg: ToolKeyAlg, kid?: string): Promise<ToolKey> {
  const pub: JWK = { ...jwk };
  for (const k of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'key_ops', 'ext'] as const) delete pub[k];
  const id = kid ?? (await calculateJwkThumbprint(pub, 'sha256'));
  const privateKey = (await importJWK({ ...jwk, alg }, alg, { extractable: true })) as CryptoKey;
  return { kid: id, alg, privateKey, publicJwk: { ...pub, kid: id, alg, use: 'sig' } };
}

/** A fresh key pair; `kid` is the RFC 7638 thumbprint of the public key. */
export async function generateToolKey(alg: ToolKeyAlg = 'RS256'): Promise<ToolKey> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS256' ? { modulusLength: 2048 } : {}) });
  return fromPrivateJwk(await exportJWK(privateKey), alg);
}

/** The private JWK (with kid and alg) to keep in the secret store; `importToolKey` reads it back. */
export async function exportToolKey(key: ToolKey): Promise<JWK> {
  return { ...(await exportJWK(key.privateKey)), kid: key.kid, alg: key.alg, use: 'sig' };
}

export async function importToolKey(privateJwk: JWK): Promise<ToolKey> {
  if (!privateJwk.d) throw new Error('importToolKey: the JWK has no private part');
  const alg: string = privateJwk.alg ?? 'RS256';
  if (alg !== 'RS256' && alg !== 'ES256') throw new Error(`importToolKey: unsupported alg ${alg}`);
  return fromPrivateJwk(privateJwk, alg, privateJwk.kid);
}

/**
 * The public key set to serve at `/.well-known/jwks.json`. Pass the current key first and any key
 * being retired after it: platforms that cached an old kid keep verifying during a rotation.
 */
export function publicJwks(keys: readonly ToolKey[]): PublicJwks {
  return { keys: keys.map((k) => ({ ...k.publicJwk })) };
}
