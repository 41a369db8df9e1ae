// The tool key file: a JSON array of private JWKs, the current key first and retiring keys after
// it. Written by `kgrader-admin lti-keygen`, read by the API (JWKS) and the worker (AGS assertions).
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { JWK } from 'jose';
import { exportToolKey, generateToolKey, importToolKey, type ToolKey, type ToolKeyAlg } from './keys.js';

export class ToolKeyFileError extends Error {
  override readonly name = 'ToolKeyFileError';
}

/** Reads the key file; throws ToolKeyFileError (with the command to run) when missing or invalid. */
export async function readToolKeyFile(path: string): Promise<ToolKey[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new ToolKeyFileError(`the LTI tool key file ${path} does not exist: create it with \`kgrader-admin lti-keygen --file ${path}\``);
    throw e;
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(text);
  } catch {
    throw new ToolKeyFileError(`the LTI tool key file ${path} is not JSON`);
  }
  if (!Array.isArray(jwks) || jwks.length === 0) throw new ToolKeyFileError(`the LTI tool key file ${path} must hold a non-empty JSON array of private JWKs`);
  return Promise.all(jwks.map((j) => importToolKey(j as JWK)));
}

/**
 * Creates the key file with a fresh key when it is missing (`created: true`); with `rotate`, puts a
 * new key first and keeps at most `keep` older ones (published until the next rotation).
 * The file is written 0600 through a rename.
 */
export async function ensureToolKeyFile(
  path: string,
  opts: { rotate?: boolean; keep?: number; alg?: ToolKeyAlg } = {},
): Promise<{ created: boolean; rotated: boolean; keys: ToolKey[] }> {
  let existing: JWK[] = [];
  try {
    existing = JSON.parse(await readFile(path, 'utf8')) as JWK[];
    if (!Array.isArray(existing)) throw new ToolKeyFileError(`${path} is not a JSON array`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (existing.length > 0 && !opts.rotate) return { created: false, rotated: false, keys: await readToolKeyFile(path) };
  const fresh = await exportToolKey(await generateToolKey(opts.alg ?? 'RS256'));
  const all = [fresh, ...existing.slice(0, opts.keep ?? 1)];
  await mkdir(dirname(path), { recursive: true });
  // a name of its own (pids repeat across containers sharing the key volume), renamed into place
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
  return { created: existing.length === 0, rotated: existing.length > 0, keys: await readToolKeyFile(path) };
}
