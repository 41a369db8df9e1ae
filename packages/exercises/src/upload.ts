// The one acceptance rule for uploaded files, whatever brought them: a REST multipart upload
// (apps/api) or an LMS asset fetched after an LTI Asset Processor notice (apps/worker). `.c`/`.h`
// files with plain names, or exactly one `.tar.gz`/`.tgz` holding such files at its top level,
// within the exercise's limits; archives are inflated under a cap (a gzip bomb stops there).
import { createHash } from 'node:crypto';
import type { ExerciseSpec } from '@kgrader/schemas';
import { ArchiveError, gunzipCapped, readTar } from './archive.js';

export interface RawUpload {
  /** the name the client (or the LMS) gave the file */
  name: string;
  content: Buffer;
}

export interface AcceptedFile {
  name: string;
  content: Buffer;
  sha256: string;
}

/** Why an upload is refused, with the HTTP status the API answers (413 too large, 415/422 unacceptable). */
export class UploadRejected extends Error {
  constructor(
    message: string,
    readonly statusCode: 413 | 415 | 422,
  ) {
    super(message);
    this.name = 'UploadRejected';
  }
}

export const SOURCE_FILE_NAME = /^[A-Za-z0-9_.-]+\.[ch]$/;
export const ARCHIVE_NAME = /\.(tar\.gz|tgz)$/i;

const tooLarge = (msg: string) => new UploadRejected(msg, 413);
const unacceptable = (msg: string) => new UploadRejected(msg, 422);

/** the decompressed-size cap of an archive: the exercise's byte budget plus tar's own headers and padding */
export function archiveCap(limits: ExerciseSpec['limits']): number {
  return limits.maxTotalBytes + 512 * (2 * limits.maxFiles + 4) + 10_240;
}

/** The most bytes one raw upload may have before it is refused without reading further. */
export function rawUploadCap(limits: ExerciseSpec['limits']): number {
  return Math.max(limits.maxFileBytes, limits.maxTotalBytes);
}

/**
 * Checks one name as it arrives (before its bytes are read): a source file or an archive.
 * Throws UploadRejected (422).
 */
export function checkUploadName(name: string): 'source' | 'archive' {
  if (ARCHIVE_NAME.test(name)) return 'archive';
  if (!SOURCE_FILE_NAME.test(name)) throw unacceptable(`file "${name}" is not allowed: send .c/.h files with plain names, or one .tar.gz`);
  return 'source';
}

/**
 * Accepts an upload: the files themselves, or the files of its one archive. Pure (no I/O).
 * Throws UploadRejected with a message the student can act on.
 */
export function acceptUpload(parts: readonly RawUpload[], limits: ExerciseSpec['limits']): AcceptedFile[] {
  const archives = parts.filter((p) => checkUploadName(p.name) === 'archive');
  if (archives.length > 1 || (archives.length === 1 && parts.length > 1)) throw unacceptable('send either files or one archive, not both');
  let files: { name: string; content: Buffer }[];
  if (archives.length === 1) {
    try {
      files = readTar(gunzipCapped(archives[0]!.content, archiveCap(limits)), { maxFiles: limits.maxFiles });
    } catch (err) {
      if (err instanceof ArchiveError) throw new UploadRejected(err.message, err.statusCode);
      throw err;
    }
    for (const f of files) if (!SOURCE_FILE_NAME.test(f.name)) throw unacceptable(`the archive holds "${f.name}": only .c/.h files are allowed`);
  } else {
    files = [...parts];
  }
  if (files.length > limits.maxFiles) throw tooLarge(`more than ${limits.maxFiles} files`);
  let total = 0;
  for (const f of files) {
    if (f.content.length > limits.maxFileBytes) throw tooLarge(`file "${f.name}" is larger than ${limits.maxFileBytes} bytes`);
    total += f.content.length;
  }
  if (total > limits.maxTotalBytes) throw tooLarge(`the files add up to more than ${limits.maxTotalBytes} bytes`);
  if (files.length === 0) throw unacceptable('no files were sent');
  const names = new Set<string>();
  for (const f of files) {
    if (names.has(f.name)) throw unacceptable(`file "${f.name}" appears twice`);
    names.add(f.name);
  }
  return files.map((f) => ({ name: f.name, content: f.content, sha256: createHash('sha256').update(f.content).digest('hex') }));
}

/** Identifies a file set: sha256 over the sorted "name sha256" lines. */
export function fileSetSha256(files: readonly { name: string; sha256: string }[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    h.update(`${f.name} ${f.sha256}\n`);
  }
  return h.digest('hex');
}
