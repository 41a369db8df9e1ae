import type { Finding } from '@kgrader/schemas';
import { analyzeReport, type CollectedReport } from './analyze.js';
import {
  isConsequencePanic,
  matchReportHeader,
  withoutSubsystemTag,
  type HeaderMatch,
} from './families.js';
import { parseFrame } from './frames.js';
import { splitLinePrefix } from './line-prefix.js';
import { parseMarker, testsAtLines, type Marker } from './markers.js';
import { TraceTracker } from './report-body.js';

export interface ParsedLog {
  findings: Finding[];
  markers: Marker[];
}

/** A report that is still receiving lines. */
interface OpenReport extends CollectedReport {
  key: string;
  trace: TraceTracker;
  /** index in `lines` where an absorbed panic starts (the panic's own end marker ends the report) */
  panicAt?: number;
  /** for a consequence panic opened after its cause closed: where its lines go */
  foldInto?: CollectedReport;
  sawBacktrace: boolean;
  sawLockList: boolean;
  /** the main trace was complete when the report was cut: nothing essential is missing */
  traceComplete: boolean;
}

// A report that never meets its end (lost end marker, no caller ids) must not swallow the log.
const MAX_REPORT_LINES = 1500;
// After an absorbed panic only its trailer is expected; stop collecting after this many lines.
const MAX_PANIC_LINES = 80;

const SEPARATOR_RE = /^={20,}\s*$/;
const END_TRACE_RE = /^-+\[ end trace/;
const END_PANIC_RE = /^-+\[ end Kernel panic/;

type Verdict = 'continue' | 'end-include' | 'end-exclude';

/**
 * Parses a kernel console log into findings (sanitizer, lockdep, oops, hang... reports) and
 * kgrader harness markers. Pure and total: any input, however garbled, yields a result.
 */
export function parseConsoleLog(text: string): ParsedLog {
  const rawLines = text.split('\n');
  const markers: Marker[] = [];
  const closed: CollectedReport[] = [];
  const open = new Map<string, OpenReport>();
  let lastReport: CollectedReport | undefined;

  const close = (report: OpenReport, byEndMarker: boolean): void => {
    open.delete(report.key);
    if (report.foldInto) {
      report.foldInto.foldedPanic.push(...report.lines);
      return;
    }
    let ownLines = report.lines;
    if (report.panicAt !== undefined) {
      report.foldedPanic.unshift(...report.lines.slice(report.panicAt));
      ownLines = report.lines.slice(0, report.panicAt);
    }
    const finished: CollectedReport = {
      family: report.family,
      header: report.header,
      lines: ownLines,
      foldedPanic: report.foldedPanic,
      startLine: report.startLine,
      truncated: !isComplete(report, ownLines, byEndMarker),
    };
    closed.push(finished);
    if (lastReport === (report as CollectedReport)) lastReport = finished;
  };

  const start = (header: HeaderMatch, key: string, line: number, textLine: string): void => {
    const report: OpenReport = {
      family: header.family,
      header,
      lines: [textLine],
      foldedPanic: [],
      startLine: line,
      truncated: false,
      key,
      trace: new TraceTracker(),
      sawBacktrace: false,
      sawLockList: false,
      traceComplete: false,
    };
    open.set(key, report);
    if (header.family.id === 'panic' && isConsequencePanic(header.match[1] ?? '') && lastReport) {
      report.foldInto = lastReport;
    } else {
      lastReport = report;
    }
  };

  for (let i = 0; i < rawLines.length; i++) {
    const split = splitLinePrefix(rawLines[i]!);
    const textLine = split.text;
    const marker = parseMarker(textLine, i, split.timestamp);
    if (marker) {
      markers.push(marker);
      continue;
    }
    const key = split.caller ?? '';
    let report = open.get(key) ?? (key.startsWith('C') ? stallReportAcceptingCpus(open) : undefined);
    const header = matchReportHeader(textLine);

    if (report && header) {
      if (absorbsHeader(report, header)) {
        if (header.family.id === 'panic' && report.panicAt === undefined && !report.foldInto) {
          report.panicAt = report.lines.length;
          report.traceComplete = report.traceComplete || report.trace.complete;
        }
        report.lines.push(textLine);
        continue;
      }
      close(report, false);
      report = undefined;
    }
    if (report) {
      report.lines.push(textLine);
      const verdict = feed(report, textLine);
      if (verdict === 'end-include') close(report, true);
      else if (verdict === 'end-exclude') {
        report.lines.pop();
        close(report, true);
      }
      continue;
    }
    if (header) start(header, key, i, textLine);
  }
  for (const report of [...open.values()]) close(report, false);

  const findings = closed
    .sort((a, b) => a.startLine - b.startLine)
    .map((report) => analyzeReport(report));
  const tests = testsAtLines(markers, findings.map((f) => f.line ?? 0));
  findings.forEach((finding, i) => {
    const test = tests[i];
    if (test !== undefined) finding.test = test;
  });
  return { findings: foldDuplicates(findings), markers };
}

/**
 * Whether a report got everything it prints. `byEndMarker` refers to the absorbed panic's end
 * when a panic was absorbed; the report's own part then only needs its main trace.
 */
function isComplete(report: OpenReport, ownLines: readonly string[], byEndMarker: boolean): boolean {
  const ownEndSeen = byEndMarker && report.panicAt === undefined;
  switch (report.family.end) {
    case 'separator':
      // KASAN & co. print their most useful parts (alloc/free stacks) after the trace.
      return ownLines.slice(1).some((l) => SEPARATOR_RE.test(l));
    case 'kmemleak':
      return report.sawBacktrace;
    case 'lock-list':
      return report.sawLockList;
    default:
      // Oops trailers (`Modules linked in`, registers) add nothing once the trace is complete.
      return ownEndSeen || report.traceComplete || report.trace.complete;
  }
}

/** A header that does not start a new report because it is part of the open one. */
function absorbsHeader(report: OpenReport, header: HeaderMatch): boolean {
  const id = header.family.id;
  if (id === 'panic') return report.panicAt === undefined && !report.foldInto;
  if (header.family.continuationWhenOpen) return true;
  // list_debug / refcount print their diagnosis, then WARN() or BUG() with the stack.
  if ((report.family.id === 'list-corruption' || report.family.id === 'refcount') && (id === 'warning' || id === 'kernel-bug')) {
    return !report.lines.some((l) => /^WARNING: CPU: |^kernel BUG at /.test(l));
  }
  // Repeated headers (e.g. KASAN prints one per inlined frame when symbolized) continue the first.
  if (id === report.family.id && report.lines.every((l) => report.family.header.test(withoutSubsystemTag(l)))) {
    return true;
  }
  return false;
}

function stallReportAcceptingCpus(open: Map<string, OpenReport>): OpenReport | undefined {
  for (const report of open.values()) {
    if (report.family.acceptsOtherCpus && report.key.length > 0) return report;
  }
  return undefined;
}

/** Advances the end detection of an open report with its newest line. */
function feed(report: OpenReport, text: string): Verdict {
  if (report.lines.length > MAX_REPORT_LINES) return 'end-include';
  if (report.panicAt !== undefined || report.foldInto) {
    if (END_PANIC_RE.test(text)) return 'end-include';
    const panicStart = report.panicAt ?? 0;
    return report.lines.length - panicStart > MAX_PANIC_LINES ? 'end-include' : 'continue';
  }
  const traceVerdict = report.trace.feed(text);
  switch (report.family.end) {
    case 'separator':
      return SEPARATOR_RE.test(text) ? 'end-include' : 'continue';
    case 'end-trace':
      return END_TRACE_RE.test(text) ? 'end-include' : 'continue';
    case 'panic':
      return END_PANIC_RE.test(text) ? 'end-include' : 'continue';
    case 'trace':
      return traceVerdict;
    case 'kmemleak': {
      const body = text.replace(/^kmemleak: /, '');
      if (/^\s*backtrace(?: \(crc [0-9a-f]+\))?:\s*$/.test(body)) {
        report.sawBacktrace = true;
        return 'continue';
      }
      if (report.sawBacktrace) return parseFrame(body) ? 'continue' : 'end-exclude';
      // Before the backtrace everything is indented (comm, hex dump); anything else cut the report.
      return /^\s/.test(body) ? 'continue' : 'end-exclude';
    }
    case 'lock-list': {
      if (/\blocks? held by\b/.test(text)) {
        report.sawLockList = true;
        return 'continue';
      }
      if (report.sawLockList) return /^\s*#\d+:/.test(text) ? 'continue' : 'end-exclude';
      return 'continue';
    }
  }
}

/**
 * Later reports with an already seen title are folded into the first one, which counts them.
 * The first occurrence keeps its line and test: that is where the bug showed up first.
 */
export function foldDuplicates(findings: readonly Finding[]): Finding[] {
  const byTitle = new Map<string, Finding>();
  const out: Finding[] = [];
  for (const finding of findings) {
    const first = byTitle.get(finding.title);
    if (first) {
      first.count = (first.count ?? 1) + (finding.count ?? 1);
      continue;
    }
    const copy: Finding = { ...finding, count: finding.count ?? 1 };
    byTitle.set(finding.title, copy);
    out.push(copy);
  }
  return out;
}
