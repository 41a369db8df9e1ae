import type { ExerciseSpec } from '@kgrader/schemas';

/** A file as submitted: its name and its size in bytes. */
export interface SubmittedFile {
  name: string;
  bytes: number;
}

/** A submission kgrader refuses to grade; the message says what to change. Never a verdict. */
export class SubmissionRejected extends Error {
  constructor(
    message: string,
    /** the offending file, when one file is the reason */
    readonly file?: string,
  ) {
    super(message);
    this.name = 'SubmissionRejected';
  }
}

const SOURCE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*\.[ch]$/;
/** Names Kbuild generates in the build folder: a source with such a name would be overwritten. */
const GENERATED_NAME = /\.mod\.c$/;

/**
 * Checks names, count and sizes against the exercise's limits. Pure; the caller lists the files.
 * Throws SubmissionRejected with a message a student can act on.
 */
export function validateSubmissionFiles(files: readonly SubmittedFile[], exercise: ExerciseSpec): void {
  const { maxFiles, maxFileBytes, maxTotalBytes } = exercise.limits;
  if (files.length === 0) throw new SubmissionRejected('the submission is empty: add your driver\'s .c file');
  if (files.length > maxFiles) {
    throw new SubmissionRejected(`too many files: ${files.length} (at most ${maxFiles})`);
  }
  const seen = new Set<string>();
  let total = 0;
  for (const file of files) {
    const shown = JSON.stringify(file.name.slice(0, 80));
    if (!SOURCE_NAME.test(file.name) || file.name.length > 100) {
      throw new SubmissionRejected(
        `file ${shown} is not allowed: only .c and .h files named with letters, digits, '_', '.' and '-' (no folders)`,
        file.name,
      );
    }
    if (GENERATED_NAME.test(file.name)) {
      throw new SubmissionRejected(`file ${shown} clashes with a name the kernel build generates`, file.name);
    }
    const folded = file.name.toLowerCase();
    if (seen.has(folded)) throw new SubmissionRejected(`file ${shown} appears twice`, file.name);
    seen.add(folded);
    if (file.bytes > maxFileBytes) {
      throw new SubmissionRejected(`file ${shown} is ${file.bytes} bytes (at most ${maxFileBytes})`, file.name);
    }
    total += file.bytes;
  }
  if (total > maxTotalBytes) {
    throw new SubmissionRejected(`the submission is ${total} bytes in all (at most ${maxTotalBytes})`);
  }
  if (!files.some((f) => f.name.endsWith('.c'))) {
    throw new SubmissionRejected('the submission has no .c file');
  }
}
