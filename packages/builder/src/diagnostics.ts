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
