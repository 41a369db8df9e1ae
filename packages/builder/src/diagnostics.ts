import type { Diagnostic } from '@kgrader/schemas';

/**
 * Makes a build log readable and safe to show: the sandbox's build folder becomes nothing (paths
 * read `msgbuf.c:12:5`), renamed files get their submitted names back, the kernel tree becomes
 * `<kernel>`.
 */
export function cleanBuildLog(log: string, buildDir: string, kernelTree: string, submittedNameOf: Record<string, string>): string {
  let text = log.split(`${buildDir}/`).join('').split(buildDir).join('.');
  text = text.split(kernelTree).join('<kernel>');
  for (const [buildName, submitted] of Object.entries(submittedNameOf)) {
    if (buildName !== submitted) text = text.replace(new RegExp(`\\b${escapeRegExp(buildName)}\\b`, 'g'), submitted);
  }
  return text;
}

const GCC_LINE = /^([A-Za-z0-9_.-]+\.[ch]):(\d+):(?:(\d+):)? (error|warning|note|fatal error): (.*)$/;
const MODPOST_LINE = /^(ERROR|WARNING): modpost: (.*)$/;

/** gcc and modpost diagnostics from a cleaned build log, located in the student's files. */
export function parseDiagnostics(cleanLog: string): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const line of cleanLog.split('\n')) {
    const gcc = GCC_LINE.exec(line.trim());
    if (gcc) {
      const [, file, lineNo, column, severity, message] = gcc;
      out.push({
        file: file!,
        line: Number(lineNo),
        ...(column ? { column: Number(column) } : {}),
        severity: severity === 'fatal error' ? 'error' : (severity as Diagnostic['severity']),
        message: message!,
      });
      continue;
    }
    const modpost = MODPOST_LINE.exec(line.trim());
    if (modpost) {
      out.push({ file: '', line: 0, severity: modpost[1] === 'ERROR' ? 'error' : 'warning', message: `modpost: ${modpost[2]}` });
    }
  }
  return out;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const IN_FUNCTION = /^([A-Za-z0-9_.-]+\.[ch]): In function ['‘]([^'’]+)['’]:$/;
const FRAME_SIZE = /the frame size of (\d+) bytes is larger than (\d+) bytes/;

/** A function whose stack frame is larger than the exercise allows (gcc -Wframe-larger-than). */
export interface LargeFrame {
  function: string;
  file: string;
  line: number;
  bytes: number;
  limit: number;
}

/** gcc's -Wframe-larger-than warnings in a cleaned build log, with the function each is about. Pure. */
export function largeFrames(cleanLog: string): LargeFrame[] {
  const out: LargeFrame[] = [];
  let fn: string | undefined;
  for (const raw of cleanLog.split('\n')) {
    const line = raw.trim();
    const inFn = IN_FUNCTION.exec(line);
    if (inFn) {
      fn = inFn[2];
      continue;
    }
    const gcc = GCC_LINE.exec(line);
    const size = gcc && FRAME_SIZE.exec(gcc[5]!);
    if (gcc && size) out.push({ function: fn ?? '?', file: gcc[1]!, line: Number(gcc[2]), bytes: Number(size[1]), limit: Number(size[2]) });
  }
  return out;
}
