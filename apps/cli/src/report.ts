import { isSkippedFrame } from '@kgrader/engine';
import type { ExerciseSpec, Finding, Frame, GradeResult } from '@kgrader/schemas';
import { explainFinding } from '@kgrader/verdict';

export function styles(color: boolean) {
  const wrap = (code: string) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
  return { bold: wrap('1'), dim: wrap('2'), red: wrap('31'), green: wrap('32'), yellow: wrap('33'), cyan: wrap('36') };
}
type Style = ReturnType<typeof styles>;

const out = (line = '') => process.stdout.write(`${line}\n`);

export function printGradeReport(result: GradeResult, exercise: ExerciseSpec, s: Style): void {
  out();
  out(s.bold(`${exercise.title} (${exercise.slug})`));
  if (!result.build.ok && result.build.log) {
    out(s.bold('\nBuild'));
    for (const d of result.build.diagnostics.slice(0, 20)) {
      const where = d.file ? `${d.file}:${d.line}${d.column ? `:${d.column}` : ''}: ` : '';
      out(`  ${d.severity === 'error' ? s.red('error') : s.yellow(d.severity)} ${where}${d.message}`);
    }
    if (result.build.diagnostics.length === 0) out(indent(result.build.log.trim().split('\n').slice(-20).join('\n'), 2));
  } else if (result.build.diagnostics.some((d) => d.severity === 'warning')) {
    out(s.bold('\nBuild warnings'));
    for (const d of result.build.diagnostics.filter((x) => x.severity === 'warning').slice(0, 10)) {
      out(`  ${s.yellow('warning')} ${d.file}:${d.line}: ${d.message}`);
    }
  }
  out(s.bold('\nTests'));
  for (const t of result.tests) {
    const label = { pass: s.green('PASS'), fail: s.red('FAIL'), error: s.yellow('ERR '), skip: s.dim('SKIP') }[t.status];
    out(`  ${label}  ${t.name.padEnd(22)} ${`${t.points}/${t.maxPoints}`.padStart(5)}  ${s.dim(firstLine(t.output))}`);
  }
  if (result.findings.length > 0) printFindings(result.findings, s);
  out();
  const verdict = { pass: s.green('PASS'), fail: s.red('FAIL'), error: s.yellow('ERROR') }[result.verdict];
  out(`${s.bold('Verdict:')} ${verdict}  score ${result.score}/${result.maxScore}`);
  out(result.summary);
  if (result.consoleTruncatedBytes) out(s.yellow(`(console log capped: ${result.consoleTruncatedBytes} bytes dropped)`));
  const t = result.timings;
  out(s.dim(`time: build ${t.build}s, boot ${t.boot}s, run ${t.run}s, analyze ${t.analyze}s, total ${t.total}s`));
}

export function printFindings(findings: readonly Finding[], s: Style): void {
  out(s.bold(`\nFindings (${findings.length})`));
  if (findings.length === 0) out('  none');
  for (const f of findings) {
    const extra = [f.test ? `during ${f.test}` : '', f.count && f.count > 1 ? `seen ${f.count} times` : '', f.truncated ? 'report cut off' : '']
      .filter(Boolean)
      .join(', ');
    out(`  ${s.red(`[${f.kind}]`)} ${s.bold(f.title)}${extra ? s.dim(`  (${extra})`) : ''}`);
    if (f.kind === 'console-flood') out(`    ${s.dim(f.raw)}`);
    if (f.access) out(`    ${f.access.type} of ${f.access.size ?? '?'} bytes${f.access.address ? ` at ${f.access.address}` : ''}`);
    for (const frame of interestingFrames(f.frames).slice(0, 10)) {
      const where = frame.file ? ` ${s.cyan(`${frame.file}:${frame.line}`)}` : '';
      const mod = frame.module ? s.dim(` [${frame.module}]`) : '';
      out(`    ${frame.file ? s.bold(frame.function) : frame.function}${mod}${where}`);
      if (frame.source !== undefined) out(`      ${s.dim(`${String(frame.line).padStart(4)} |`)} ${frame.source.trim()}`);
    }
    for (const stack of f.stacks ?? []) {
      const own = stack.frames.filter((fr) => fr.file);
      if (own.length === 0) continue;
      out(`    ${s.dim(`${stack.label}:`)}`);
      for (const frame of own.slice(0, 4)) out(`      ${frame.function} ${s.cyan(`${frame.file}:${frame.line}`)}${frame.source ? s.dim(`  ${frame.source.trim()}`) : ''}`);
    }
    out(indent(s.dim(wrap(explainFinding(f.kind), 92)), 4));
  }
}

/** The stack from its first frame that is not report machinery (dump_stack, kasan_report...). */
function interestingFrames(frames: readonly Frame[]): readonly Frame[] {
  const first = frames.findIndex((fr) => !isSkippedFrame(fr));
  return first > 0 ? frames.slice(first) : frames;
}

function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim()) ?? '';
  return line.length > 90 ? `${line.slice(0, 87)}...` : line;
}

function indent(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => ' '.repeat(n) + l)
    .join('\n');
}

function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}
