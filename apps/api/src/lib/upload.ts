import { createHash } from 'node:crypto';
import type { ExerciseSpec } from '@kgrader/schemas';
import type { FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';
import { ArchiveError, gunzipCapped, readTar } from './tar.js';

export interface UploadedFile {
  name: string;
  content: Buffer;
  sha256: string;
}

const ARCHIVE_RE = /\.(tar\.gz|tgz)$/i;
const tooLarge = (msg: string) => new HttpError(413, msg, { type: '/problems/upload-too-large' });
const unacceptable = (msg: string) => new HttpError(422, msg, { type: '/problems/upload-rejected' });

/** the decompressed-size cap of an archive: the exercise's byte budget plus tar's own headers and padding */
export function archiveCap(limits: ExerciseSpec['limits']): number {
  return limits.maxTotalBytes + 512 * (2 * limits.maxFiles + 4) + 10_240;
}

/**
 * Reads a multipart upload of `.c`/`.h` files or one `.tar.gz`, enforcing the exercise's limits
 * while streaming (nothing larger than a cap is ever buffered). Throws HttpError 413/415/422.
 */
export async function readUpload(req: FastifyRequest, exercise: ExerciseSpec): Promise<UploadedFile[]> {
  if (!req.isMultipart()) {
    throw new HttpError(415, 'send the files as multipart/form-data (.c/.h files or one .tar.gz)');
  }
  const { limits } = exercise;
  const raw: { name: string; content: Buffer }[] = [];
  let total = 0;
  let archive: { name: string; content: Buffer } | undefined;
  try {
    const parts = req.parts({
      // keep client-sent directory parts so such names are refused, not silently flattened
      preservePath: true,
      limits: {
        fileSize: Math.max(limits.maxFileBytes, limits.maxTotalBytes),
        files: limits.maxFiles + 1,
        fields: 16,
        fieldSize: 4096,
        parts: limits.maxFiles + 17,
        headerPairs: 200,
      },
    });
    for await (const part of parts) {
      if (part.type !== 'file') continue;
      const name = part.filename;
      const isArchive = ARCHIVE_RE.test(name);
      if (!isArchive && !/^[A-Za-z0-9_.-]+\.[ch]$/.test(name)) {
        throw unacceptable(`file "${name}" is not allowed: send .c/.h files with plain names, or one .tar.gz`);
      }
      const content = await part.toBuffer();
      if (isArchive) {
        if (archive || raw.length) throw unacceptable('send either files or one archive, not both');
        archive = { name, content };
        continue;
      }
      if (archive) throw unacceptable('send either files or one archive, not both');
      if (content.length > limits.maxFileBytes) throw tooLarge(`file "${name}" is larger than ${limits.maxFileBytes} bytes`);
      total += content.length;
      if (total > limits.maxTotalBytes) throw tooLarge(`the files add up to more than ${limits.maxTotalBytes} bytes`);
      raw.push({ name, content });
      if (raw.length > limits.maxFiles) throw tooLarge(`more than ${limits.maxFiles} files`);
    }
  } catch (err) {
    if (err instanceof HttpError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(`a file is larger than ${Math.max(limits.maxFileBytes, limits.maxTotalBytes)} bytes`);
    if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT') throw tooLarge(`more than ${limits.maxFiles} files`);
    if (code === 'FST_FIELDS_LIMIT') throw unacceptable('too many form fields');
    if (!code && isMalformedMultipart(err)) {
      throw new HttpError(400, `the multipart body cannot be read: ${(err as Error).message} (send multipart/form-data with its boundary, as a browser or curl -F does)`, {
        type: '/problems/bad-multipart',
      });
    }
    throw err;
  }

  let files = raw;
  if (archive) {
    try {
      const tar = gunzipCapped(archive.content, archiveCap(limits));
      files = readTar(tar, { maxFiles: limits.maxFiles });
    } catch (err) {
      if (err instanceof ArchiveError) throw new HttpError(err.statusCode, err.message, { type: '/problems/upload-rejected' });
      throw err;
    }
    for (const f of files) {
      if (!/^[A-Za-z0-9_.-]+\.[ch]$/.test(f.name)) throw unacceptable(`the archive holds "${f.name}": only .c/.h files are allowed`);
      if (f.content.length > limits.maxFileBytes) throw tooLarge(`file "${f.name}" is larger than ${limits.maxFileBytes} bytes`);
    }
    if (files.reduce((n, f) => n + f.content.length, 0) > limits.maxTotalBytes) {
      throw tooLarge(`the files add up to more than ${limits.maxTotalBytes} bytes`);
    }
  }
  if (files.length === 0) throw unacceptable('no files were sent');
  const names = new Set<string>();
  for (const f of files) {
    if (names.has(f.name)) throw unacceptable(`file "${f.name}" appears twice`);
    names.add(f.name);
  }
  return files.map((f) => ({ ...f, sha256: createHash('sha256').update(f.content).digest('hex') }));
}

/** busboy's errors for a body that is not the multipart it claims to be (no code of their own) */
function isMalformedMultipart(err: unknown): boolean {
  const m = (err as Error)?.message ?? '';
  return /^Multipart: |^Unexpected end of (form|multipart data)|^Malformed (part header|urlencoded form)|^Part terminated early/.test(m);
}

/** Identifies a file set: sha256 over the sorted "name sha256" lines. */
export function fileSetSha256(files: { name: string; sha256: string }[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(`${f.name} ${f.sha256}\n`);
  }
  return h.digest('hex');
}
