import { acceptUpload, checkUploadName, fileSetSha256, rawUploadCap, UploadRejected, type AcceptedFile } from '@kgrader/exercises';
import type { ExerciseSpec } from '@kgrader/schemas';
import type { FastifyRequest } from 'fastify';
import { HttpError } from '../errors.js';

export type UploadedFile = AcceptedFile;
export { fileSetSha256 };

const tooLarge = (msg: string) => new HttpError(413, msg, { type: '/problems/upload-too-large' });

/** An UploadRejected of the shared acceptance rule (@kgrader/builder) as the API's problem. */
export function uploadProblem(err: UploadRejected): HttpError {
  if (err.statusCode === 413) return tooLarge(err.message);
  return new HttpError(err.statusCode, err.message, { type: '/problems/upload-rejected' });
}

/**
 * Reads a multipart upload of `.c`/`.h` files or one `.tar.gz`, enforcing the exercise's limits
 * while streaming (nothing larger than a cap is ever buffered), then applies the one acceptance
 * rule shared with LMS assets (`acceptUpload`). Throws HttpError 400/413/415/422.
 */
export async function readUpload(req: FastifyRequest, exercise: ExerciseSpec): Promise<UploadedFile[]> {
  if (!req.isMultipart()) {
    throw new HttpError(415, 'send the files as multipart/form-data (.c/.h files or one .tar.gz)');
  }
  const { limits } = exercise;
  const raw: { name: string; content: Buffer }[] = [];
  let total = 0;
  try {
    const parts = req.parts({
      // keep client-sent directory parts so such names are refused, not silently flattened
      preservePath: true,
      limits: {
        fileSize: rawUploadCap(limits),
        files: limits.maxFiles + 1,
        fields: 16,
        fieldSize: 4096,
        parts: limits.maxFiles + 17,
        headerPairs: 200,
      },
    });
    for await (const part of parts) {
      if (part.type !== 'file') continue;
      const kind = checkUploadName(part.filename); // refused before its bytes are read
      const content = await part.toBuffer();
      if (kind === 'source') {
        if (content.length > limits.maxFileBytes) throw tooLarge(`file "${part.filename}" is larger than ${limits.maxFileBytes} bytes`);
        total += content.length;
        if (total > limits.maxTotalBytes) throw tooLarge(`the files add up to more than ${limits.maxTotalBytes} bytes`);
      }
      raw.push({ name: part.filename, content });
      if (raw.length > limits.maxFiles) throw tooLarge(`more than ${limits.maxFiles} files`);
    }
    return acceptUpload(raw, limits);
  } catch (err) {
    if (err instanceof HttpError) throw err;
    if (err instanceof UploadRejected) throw uploadProblem(err);
    const code = (err as { code?: string }).code;
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw tooLarge(`a file is larger than ${rawUploadCap(limits)} bytes`);
    if (code === 'FST_FILES_LIMIT' || code === 'FST_PARTS_LIMIT') throw tooLarge(`more than ${limits.maxFiles} files`);
    if (code === 'FST_FIELDS_LIMIT') throw new HttpError(422, 'too many form fields', { type: '/problems/upload-rejected' });
    if (!code && isMalformedMultipart(err)) {
      throw new HttpError(400, `the multipart body cannot be read: ${(err as Error).message} (send multipart/form-data with its boundary, as a browser or curl -F does)`, {
        type: '/problems/bad-multipart',
      });
    }
    throw err;
  }
}

/** busboy's errors for a body that is not the multipart it claims to be (no code of their own) */
function isMalformedMultipart(err: unknown): boolean {
  const m = (err as Error)?.message ?? '';
  return /^Multipart: |^Unexpected end of (form|multipart data)|^Malformed (part header|urlencoded form)|^Part terminated early/.test(m);
}
