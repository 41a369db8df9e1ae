import { isCorruptedCopyOf, parseConsoleLog, splitLinePrefix, stripLinePrefix, testAtLine } from '@kgrader/log-parser';
import type { Finding, HarnessEvent } from '@kgrader/schemas';
import { symbolizeFindings, type StudentModule } from '@kgrader/symbolizer';
import type { VmOutcome } from '@kgrader/vm';
import type { SourcePlace } from '@kgrader/builder';
import { chatterFinding, measureChatter } from './chatter.js';
import { addSuspects } from './suspects.js';

export interface RunAnalysisOptions {
  /** this grading's marker nonce: only markers carrying it are the harness's */
  nonce: string;
  loadTestName: string;
  module: StudentModule;
  /** console bytes the module may cause after loading before it is a flood */
  chatterBytes: number;
  /** whether a flood fails the driver (else it is reported as advice) */
  chatterFails?: boolean;
  /** where the module calls each kernel symbol (build inspection): to place findings that name no module frame */
  moduleCalls?: Record<string, SourcePlace>;
}

export interface RunAnalysis {
  findings: Finding[];
  /** console line where the harness began loading the module (the load test's start marker) */
  loadStartLine?: number;
}

/**
 * Console and harness events of one VM run -> findings: the kernel's reports (symbolized, tied
 * to tests by the genuine markers), reports the module kept off the console (from the kernel
 * log records the harness forwarded), tampering (forged markers, forged or broken result-channel
 * events, printk settings changed) and a console flood.
 */
export async function analyzeRun(outcome: VmOutcome, opts: RunAnalysisOptions): Promise<RunAnalysis> {
  // only markers carrying this grading's nonce tie reports to tests; the others are the module's
  const parsed = parseConsoleLog(outcome.console, { markerNonce: opts.nonce });
  const loadStart = parsed.markers.find((m) => m.type === 'test-start' && m.name === opts.loadTestName);
  const loadStartLine = loadStart?.line;
  const findings = await symbolizeFindings(parsed.findings, opts.module);

  const afterLoad = (line: number) => loadStartLine !== undefined && line > loadStartLine;
  const forged = parsed.forgedMarkers.filter((f) => afterLoad(f.line));
  if (forged.length > 0) {
    findings.push(tamper(`tamper: ${forged.length} fake kgrader test marker${forged.length === 1 ? '' : 's'} printed to the kernel log`, forged.slice(0, 5).map((f) => f.text).join('\n'), forged[0]!.line));
  }
  const violations = outcome.violations.filter((v) => v.afterLoad);
  if (violations.length > 0) {
    findings.push(tamper('tamper: the result channel carried events the test harness did not send', violations.map((v) => `${v.kind}: ${v.detail}`).join('\n'), loadStartLine));
  }
  for (const event of outcome.events) {
    if (event.event === 'tamper') findings.push(tamper(`tamper: ${event.what.split(' changed')[0]} changed during grading`, event.what, loadStartLine));
  }
  const hidden = await hiddenReports(outcome, outcome.console, findings, opts);
  findings.push(...hidden);
  const oom = oomKill(outcome.console, parsed.markers, loadStartLine);
  if (oom && !findings.some((f) => f.kind === 'panic' && /memory/i.test(f.title))) findings.push(oom);
  const placed = await addSuspects(findings, { module: opts.module, calls: opts.moduleCalls ?? {} });

  if (loadStartLine !== undefined) {
    const markerLines = new Set(parsed.markers.map((m) => m.line));
    const flood = chatterFinding(measureChatter(outcome.console, loadStartLine, placed, outcome.consoleDroppedBytes, markerLines, parsed.reportLines), opts.chatterBytes, loadStartLine);
    if (flood) placed.push(opts.chatterFails === false ? { ...flood, advisory: true } : flood);
  }
  return { findings: placed, ...(loadStartLine !== undefined ? { loadStartLine } : {}) };
}

/**
 * Kernel log records of warning level or worse that the harness read from /dev/kmsg but that
 * are not in the console we kept. With a complete console, the module silenced it: tampering,
 * and the reports among the records are analyzed from the forwarded copy. With a console cut in
 * the middle (a flood), the reports are recovered the same way, without blame. Records printed
 * in the last second before the harness's last authenticated event may still have been on their
 * way to the console and do not count.
 */
async function hiddenReports(outcome: VmOutcome, console: string, known: readonly Finding[], opts: RunAnalysisOptions): Promise<Finding[]> {
  const capped = outcome.consoleDroppedBytes > 0 || outcome.stoppedBy === 'flood';
  const forwarded = outcome.events.filter((e): e is Extract<HarnessEvent, { event: 'kmsg' }> => e.event === 'kmsg').flatMap((e) => e.lines.flatMap(asConsoleLines));
  if (forwarded.length === 0) return [];
  const lastUptime = Math.max(0, ...outcome.events.map((e) => ('uptimeMs' in e ? e.uptimeMs : 0))) / 1000;
  const onConsole = new Set(console.split('\n').map((l) => stripLinePrefix(l.replace(/\r$/, '')).trim()));
  const missing = forwarded.filter((line) => {
    const { timestamp, text: message } = splitLinePrefix(line);
    return !onConsole.has(message.trim()) && (timestamp === undefined || timestamp < lastUptime - 1);
  });
  if (missing.length === 0) return [];
  const titles = new Set(known.map((f) => f.title));
  // a report already on the console, or a damaged copy of one of its class, is not recovered again
  const recovered = (await symbolizeFindings(parseConsoleLog(forwarded.join('\n')).findings, opts.module)).filter(
    (f) => !titles.has(f.title) && !known.some((k) => k.kind === f.kind && isCorruptedCopyOf(f.title, k.title)),
  );
  // a console capped in the middle (a flood) lost these lines honestly: the reports still count,
  // from the harness's copy, but nothing was hidden
  if (capped) return recovered.map((f) => ({ ...f, title: `${f.title} (from the kernel log; the console was cut)` }));
  return [
    tamper(`tamper: ${missing.length} kernel warning or error line${missing.length === 1 ? '' : 's'} never reached the console`, missing.slice(0, 20).join('\n')),
    ...recovered.map((f) => ({ ...f, title: `${f.title} (kept off the console)` })),
  ];
}

const OOM_START = /\binvoked oom-killer:/;
const OOM_KILLED = /\bOut of memory: Killed process \d+ \(([^)]+)\)/;

/**
 * The OOM killer at work after the module was loaded: the kernel ran out of memory (a driver
 * allocating without bound) and killed a process, often the harness. Not a report syzkaller
 * titles, but the cause of everything that follows; a finding of its own, so it can be placed.
 */
export function oomKill(console: string, markers: Parameters<typeof testAtLine>[0], loadStartLine: number | undefined): Finding | undefined {
  if (loadStartLine === undefined) return undefined;
  const lines = console.split('\n');
  const start = lines.findIndex((l, i) => i > loadStartLine && OOM_START.test(l));
  if (start < 0) return undefined;
  let end = lines.findIndex((l, i) => i >= start && OOM_KILLED.test(l));
  if (end < 0) end = Math.min(lines.length - 1, start + 60);
  const victim = OOM_KILLED.exec(lines[end] ?? '')?.[1];
  const test = testAtLine(markers, start);
  const raw = lines.slice(start, Math.min(end + 1, start + 80)).map((l) => stripLinePrefix(l.replace(/\r$/, ''))).join('\n');
  return { kind: 'oom', title: `out of memory: the OOM killer ${victim ? `killed ${victim}` : 'ran'}`, frames: [], raw, line: start, count: 1, ...(test ? { test } : {}) };
}

/**
 * One forwarded /dev/kmsg record as the console prints it: /dev/kmsg escapes bytes outside
 * printable ASCII as `\xNN`, and a record holding newlines is printed as several lines, each
 * with the record's prefix. Pure.
 */
export function asConsoleLines(record: string): string[] {
  const prefix = /^\[[^\]]*\](?:\[[^\]]*\])? ?/.exec(record)?.[0] ?? '';
  const text = record.slice(prefix.length).replace(/\\x([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return text.split('\n').map((part) => `${prefix}${part}`);
}

function tamper(title: string, raw: string, line?: number): Finding {
  return { kind: 'tamper', title, frames: [], raw, count: 1, ...(line !== undefined ? { line } : {}) };
}
