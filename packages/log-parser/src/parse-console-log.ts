import { CAPTURE_GAP_LINE } from '@kgrader/schemas';
import type { Finding } from '@kgrader/schemas';
import { analyzeReport, type AnalyzedReport, type CollectedReport } from './analyze.js';
import { findCauses } from './consequences.js';
import {
  endRuleOf,
  isConsequencePanic,
  isStackDumpingMessage,
  matchReportHeader,
  type HeaderMatch,
} from './families.js';
import { parseFrame } from './frames.js';
import { splitLinePrefix, type SplitLine } from './line-prefix.js';
import { classifyMarkerLine, testsAtLines, type ForgedMarker, type Marker } from './markers.js';
import { TraceTracker } from './report-body.js';

export interface ParseOptions {
  /**
   * The grading's marker nonce (16 lowercase hex digits). When given, only markers carrying it
   * count; marker-shaped lines without it are returned in `forgedMarkers` and otherwise treated
   * as ordinary console text. When absent, markers with or without a nonce are accepted.
   */
  markerNonce?: string;
}

export interface ParsedLog {
  findings: Finding[];
  markers: Marker[];
  /** marker-shaped lines without the expected nonce (always empty when no nonce was given) */
  forgedMarkers: ForgedMarker[];
  /** console line indices that belong to a kernel report, folded duplicates included (not chatter) */
  reportLines: ReadonlySet<number>;
}

/** A report that is still receiving lines. */
interface OpenReport {
  header: HeaderMatch;
  lines: string[];
  foldedPanic: string[];
  startLine: number;
  key: string;
  trace: TraceTracker;
  /** index in `lines` where an absorbed panic starts (the panic's own end marker ends the report) */
  panicAt?: number;
  /** for a consequence panic opened after its cause closed: where its lines go */
  foldInto?: ClosedReport;
  sawBacktrace: boolean;
  sawLockList: boolean;
  /** the header that titles a prologue report, and its line in the console */
  titledBy?: { header: HeaderMatch; ownLine: number; consoleLine: number };
  /** `Sending NMI from CPU`: the other CPUs' backtraces that follow belong to this report */
  acceptsOtherCpus: boolean;
  /** the main trace was complete when the report was cut: nothing essential is missing */
  traceComplete: boolean;
  /** every line so far repeats the header's format (KASAN prints one header per inlined frame) */
  onlyHeaders: boolean;
  /** a kmemleak object line has been seen (syzkaller prints `BUG: memory leak` before each object) */
  sawLeakObject: boolean;
}

type ClosedReport = Omit<CollectedReport, 'view' | 'titledBy'> & { titledBy?: OpenReport['titledBy'] };

/** One console line, split once. */
interface ConsoleLine extends SplitLine {
  /** syzkaller's context: the caller id, `console` for a timestamp without one, '' for neither */
  context: string;
}

// The kernel never prints more than ~1 KiB per line (LOG_LINE_MAX); anything longer is not a
// kernel message, and capping bounds the cost of every regex run on a line.
const MAX_LINE_LENGTH = 1024;
// A report that never meets its end (lost end marker, no caller ids) must not swallow the log.
const MAX_REPORT_LINES = 1500;
// After an absorbed panic only its trailer is expected; stop collecting after this many lines.
const MAX_PANIC_LINES = 80;
// The title is read from the first lines of a report; syzkaller reads up to the next report.
const MAX_VIEW_LINES = 1000;
const MAX_VIEW_SCAN = 20_000;

const SEPARATOR_RE = /^={20,}\s*$/;
const END_TRACE_RE = /^-+\[ end trace/;
/**
 * Lines a stack dump is made of: a frame (`sym+0x1/0x2 [mod]`, a bare `0x…` word), `<TASK>`-like
 * brackets, a blank line. What is left of a report cut at MAX_REPORT_LINES (a stack-depot dump of
 * a corrupted handle prints thousands of raw words) is still the report's, not console chatter.
 */
const STACK_DUMP_LINE_RE = /^\s*(?:\? )?(?:0x[0-9a-f]+|[\w.$]+\+0x[0-9a-f]+\/0x[0-9a-f]+(?: \[\w+\])?|<\/?[A-Z]+>)?\s*$/;
const END_PANIC_RE = /^-+\[ end Kernel panic/;
const KMEMLEAK_BACKTRACE_RE = /^\s*backtrace(?: \(crc [0-9a-f]+\))?:\s*$/;

type Verdict = 'continue' | 'end-include' | 'end-exclude';

/**
 * Parses a kernel console log into findings (sanitizer, lockdep, oops, hang... reports) and
 * kgrader harness markers. Pure and total: any input, however garbled, yields a result.
 */
export function parseConsoleLog(text: string, options: ParseOptions = {}): ParsedLog {
  const consoleLines = splitConsole(text);
  const markers: Marker[] = [];
  const forgedMarkers: ForgedMarker[] = [];
  const closed: ClosedReport[] = [];
  const open = new Map<string, OpenReport>();
  /** where syzkaller would see the next report begin: these lines end the views of earlier ones */
  const viewCuts: ViewCuts = { all: [], byContext: new Map() };
  const cutView = (line: number, context: string, marker?: string): void => {
    viewCuts.all.push(line);
    if (marker === undefined) return;
    const key = sameTaskKey(context, marker);
    const list = viewCuts.byContext.get(key);
    if (list) list.push(line);
    else viewCuts.byContext.set(key, [line]);
  };
  let lastReport: ClosedReport | OpenReport | undefined;
  const reportLines = new Set<number>();

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
    const finished: ClosedReport = {
      header: report.header,
      lines: ownLines,
      foldedPanic: report.foldedPanic,
      startLine: report.startLine,
      truncated: !isComplete(report, ownLines, byEndMarker),
      ...(report.titledBy ? { titledBy: report.titledBy } : {}),
    };
    closed.push(finished);
    if (lastReport === report) lastReport = finished;
  };

  const start = (header: HeaderMatch, key: string, line: number, textLine: string): void => {
    const report: OpenReport = {
      header,
      lines: [textLine],
      foldedPanic: [],
      startLine: line,
      key,
      trace: new TraceTracker(),
      sawBacktrace: false,
      sawLockList: false,
      acceptsOtherCpus: header.format?.acceptsOtherCpus ?? false,
      traceComplete: false,
      onlyHeaders: true,
      sawLeakObject: header.format?.id === 'kmemleak',
    };
    open.set(key, report);
    if (header.group.marker === 'Kernel panic' && isConsequencePanic(textLine) && lastReport) {
      report.foldInto = lastReport as ClosedReport;
    } else {
      lastReport = report;
    }
  };

  /** per context, what is left of a report cut for its size: its stack-dump lines still count as its own */
  const overflowed = new Set<string>();
  consoleLines.forEach((split, i) => {
    // A console takeover cuts a line short and prints it again after this notice: keep the copy.
    if (isReplayNotice(split) || (i + 1 < consoleLines.length && isReplayNotice(consoleLines[i + 1]!))) return;
    const textLine = split.text;
    const context = split.caller ?? '';
    if (overflowed.has(context)) {
      if (STACK_DUMP_LINE_RE.test(textLine)) {
        reportLines.add(i);
        return;
      }
      overflowed.delete(context);
    }
    const classified = classifyMarkerLine(textLine, i, split.timestamp, options.markerNonce);
    if (classified && 'marker' in classified) {
      markers.push(classified.marker);
      return;
    }
    if (classified) forgedMarkers.push(classified.forged);
    const key = split.caller ?? '';
    let report = open.get(key) ?? (key.startsWith('C') ? reportAcceptingOtherCpus(open) : undefined);
    const header = matchReportHeader(textLine);
    const absorbed = report !== undefined && header !== undefined && absorbsHeader(report, header);
    // Where syzkaller would see a new report begin, the view of the one before ends. Not at a
    // header that is part of the open report (a repeated header, one per inlined frame; the
    // `unreferenced object` after `BUG: memory leak`), nor at a prologue (`list_add corruption.`):
    // syzkaller sees the report begin at the WARNING or kernel BUG that follows it.
    const partOfOpenReport = absorbed && (header.format === report?.header.format || header.group.kgraderOnly === true);
    if (header ? !header.group.continuesOpenReport && !header.group.prologue && !partOfOpenReport : isStackDumpingMessage(textLine)) {
      cutView(i, split.context, header?.group.marker);
    }

    if (report && header) {
      if (absorbed) {
        if (header.group.marker === 'Kernel panic' && report.panicAt === undefined && !report.foldInto) {
          report.panicAt = report.lines.length;
          report.traceComplete = report.traceComplete || report.trace.complete;
        } else if (report.header.group.prologue && !header.group.prologue && !report.titledBy) {
          report.titledBy = { header, ownLine: report.lines.length, consoleLine: i };
        }
        if (header.format?.id === 'kmemleak') report.sawLeakObject = true;
        report.onlyHeaders &&= header.format === report.header.format;
        report.lines.push(textLine);
        reportLines.add(i);
        return;
      }
      close(report, false);
      report = undefined;
    }
    if (report) {
      report.lines.push(textLine);
      reportLines.add(i);
      report.onlyHeaders = false;
      if (textLine.includes('Sending NMI from CPU')) report.acceptsOtherCpus = true;
      const verdict = feed(report, textLine);
      if (verdict === 'end-include' && report.lines.length > MAX_REPORT_LINES) overflowed.add(key);
      if (verdict === 'end-include') close(report, true);
      else if (verdict === 'end-exclude') {
        report.lines.pop();
        close(report, true);
      }
      return;
    }
    if (header) {
      start(header, key, i, textLine);
      reportLines.add(i);
    }
  });
  for (const report of [...open.values()]) close(report, false);

  const analyzed = closed
    .sort((a, b) => a.startLine - b.startLine)
    .map((report) => {
      const titledBy = report.titledBy ?? { header: report.header, consoleLine: report.startLine };
      return analyzeReport({ ...report, view: titleView(consoleLines, titledBy.consoleLine, titledBy.header.group.marker, viewCuts) });
    })
    .filter((report): report is AnalyzedReport => report !== undefined);
  const tests = testsAtLines(markers, analyzed.map((r) => r.finding.line ?? 0));
  analyzed.forEach((report, i) => {
    const test = tests[i];
    if (test !== undefined) report.finding.test = test;
  });
  return { findings: foldWithCauses(analyzed), markers, forgedMarkers, reportLines };
}

function splitConsole(text: string): ConsoleLine[] {
  return text.split('\n').map((raw) => {
    const split = splitLinePrefix(raw.length > MAX_LINE_LENGTH * 2 ? raw.slice(0, MAX_LINE_LENGTH * 2) : raw);
    if (split.text.length > MAX_LINE_LENGTH) split.text = split.text.slice(0, MAX_LINE_LENGTH);
    const context = split.caller ?? (split.timestamp !== undefined ? 'console' : '');
    return { ...split, context };
  });
}

const KMEMLEAK_TAG = 'kmemleak: ';
const REPLAY_NOTICE = '** replaying previous printk message **';
function isReplayNotice(line: ConsoleLine): boolean {
  return line.text.startsWith(REPLAY_NOTICE);
}

/** A frame the unwinder was not sure of (syzkaller drops them from titles): x86 `? foo+0x1/0x2`, powerpc `(unreliable)`. */
const QUESTIONABLE_RE = / \? | \(unreliable\)$/;
/** Lines after which, once a report has enough of its own, the rest belongs to something else. */
const REPORT_TAIL_RE = /Kernel panic - not syncing|WARNING: possible circular locking dependency detected/;

/**
 * The lines a report's title is read from, as syzkaller's findReport collects them: from the
 * header on, lines of the header's context (and of CPU contexts once `Sending NMI from CPU`
 * appears), without `?` frames and the taint notice, up to where the next report begins, and
 * without the panic or lockdep splat that an oops can cause once the oops itself is long enough.
 */
interface ViewCuts {
  /** every line where a report begins */
  all: number[];
  /** by caller id and report group */
  byContext: Map<string, number[]>;
}

const sameTaskKey = (context: string, marker: string): string => `${context}\u0000${marker}`;

/** The first value greater than `line` in an ascending list. */
function firstAfter(sorted: readonly number[], line: number): number | undefined {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= line) lo = mid + 1;
    else hi = mid;
  }
  return sorted[lo];
}

function titleView(lines: readonly ConsoleLine[], startLine: number, marker: string, cuts: ViewCuts): string[] {
  const first = lines[startLine]!;
  const context = first.context;
  // Without caller ids a report runs to the next report of any kind. With them, syzkaller reads
  // the task's lines to the end of the log (a WARNING raised while an RCU stall is printed is
  // part of it); kgrader stops at the task's next report of the same group, which is a new bug.
  const candidates = context !== '' && context !== 'console' ? (cuts.byContext.get(sameTaskKey(context, marker)) ?? []) : cuts.all;
  const end = firstAfter(candidates, startLine) ?? lines.length;
  const minLines = first.text.includes('BUG: KMSAN:') ? 16 : 22;
  const view = [first.text];
  let otherCpus = false;
  for (let i = startLine + 1; i < end && i < startLine + MAX_VIEW_SCAN && view.length < MAX_VIEW_LINES; i++) {
    const line = lines[i]!;
    if (isReplayNotice(line) || (i + 1 < lines.length && isReplayNotice(lines[i + 1]!))) continue;
    // where the capped console dropped bytes, every context lost lines: the title must know
    if (CAPTURE_GAP_LINE.test(line.text.trim())) {
      view.push(line.text.trim());
      continue;
    }
    const fromThisContext = line.context === context || (otherCpus && line.context.startsWith('C'));
    if (!fromThisContext) continue;
    if (line.context !== '' && QUESTIONABLE_RE.test(line.text) && !line.text.includes('<EOI>')) continue;
    if (line.text.includes('Disabling lock debugging due to kernel taint')) continue;
    if (line.text.includes('Sending NMI from CPU')) otherCpus = true;
    else if (view.length + 1 > minLines && REPORT_TAIL_RE.test(line.text)) break;
    // kmemleak's lines carry its tag when it prints them to the console itself
    view.push(line.text.startsWith(KMEMLEAK_TAG) ? line.text.slice(KMEMLEAK_TAG.length) : line.text);
  }
  return view;
}

/**
 * Whether a report got everything it prints. `byEndMarker` refers to the absorbed panic's end
 * when a panic was absorbed; the report's own part then only needs its main trace.
 */
function isComplete(report: OpenReport, ownLines: readonly string[], byEndMarker: boolean): boolean {
  const ownEndSeen = byEndMarker && report.panicAt === undefined;
  switch (endRuleOf(report.header)) {
    case 'separator':
      // KASAN & co. print their most useful parts (alloc/free stacks) after the trace.
      return ownLines.slice(1).some((l) => SEPARATOR_RE.test(l));
    case 'kmemleak':
      return report.sawBacktrace;
    case 'lock-list':
      return report.sawLockList;
    case 'line':
      return true;
    default:
      // Oops trailers (`Modules linked in`, registers) add nothing once the trace is complete.
      return ownEndSeen || report.traceComplete || report.trace.complete;
  }
}

/** A header that does not start a new report because it is part of the open one. */
function absorbsHeader(report: OpenReport, header: HeaderMatch): boolean {
  const group = header.group;
  if (group.marker === 'Kernel panic') return report.panicAt === undefined && !report.foldInto;
  if (group.continuesOpenReport) return true;
  // list_debug / refcount print their diagnosis, then WARN() or BUG() with the stack: one report.
  if (report.header.group.prologue && !group.prologue) return report.titledBy === undefined;
  // syzkaller's harness prints `BUG: memory leak` before each kmemleak object.
  if (report.header.format?.id === 'memory-leak' && header.format?.id === 'kmemleak') return !report.sawLeakObject;
  // Repeated headers (e.g. KASAN prints one per inlined frame when symbolized) continue the first.
  return header.format !== undefined && header.format === report.header.format && report.onlyHeaders;
}

function reportAcceptingOtherCpus(open: Map<string, OpenReport>): OpenReport | undefined {
  for (const report of open.values()) {
    if (report.acceptsOtherCpus && report.key.length > 0) return report;
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
  switch (endRuleOf(report.header)) {
    case 'separator':
      return SEPARATOR_RE.test(text) ? 'end-include' : 'continue';
    case 'end-trace':
      return END_TRACE_RE.test(text) ? 'end-include' : 'continue';
    case 'panic':
      return END_PANIC_RE.test(text) ? 'end-include' : 'continue';
    case 'trace':
      return traceVerdict;
    case 'line':
      return 'end-exclude';
    case 'kmemleak': {
      const body = text.replace(/^kmemleak: /, '');
      if (KMEMLEAK_BACKTRACE_RE.test(body)) {
        report.sawBacktrace = true;
        return 'continue';
      }
      if (report.sawBacktrace) return parseFrame(body) ? 'continue' : 'end-exclude';
      // Before the backtrace everything is indented (comm, hex dump) or the object line.
      return /^\s/.test(body) || body.includes('unreferenced object') ? 'continue' : 'end-exclude';
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
 * Folds duplicates (see foldDuplicates) and points each consequence at its cause's index in the
 * folded list.
 */
function foldWithCauses(analyzed: readonly AnalyzedReport[]): Finding[] {
  const causes = findCauses(analyzed);
  const byTitle = new Map<string, number>();
  const foldedIndex: number[] = [];
  const out: Finding[] = [];
  analyzed.forEach(({ finding }, i) => {
    const first = byTitle.get(finding.title);
    if (first !== undefined) {
      const kept = out[first]!;
      kept.count = (kept.count ?? 1) + (finding.count ?? 1);
      foldedIndex.push(first);
      return;
    }
    const copy: Finding = { ...finding, count: finding.count ?? 1 };
    const cause = causes[i];
    if (cause !== undefined) copy.consequenceOf = foldedIndex[cause]!;
    byTitle.set(finding.title, out.length);
    foldedIndex.push(out.length);
    out.push(copy);
  });
  return foldCorruptedCopies(out);
}

/**
 * Whether `corrupted` (a title ending `in corrupted`: the report reached the console damaged, no
 * frame to name) is of the same bug class as the well-formed `named`, e.g. `KASAN:
 * slab-out-of-bounds Read in corrupted` and `KASAN: slab-out-of-bounds Read in pipe_read`.
 */
export function isCorruptedCopyOf(corrupted: string, named: string): boolean {
  const tail = ' in corrupted';
  if (!corrupted.endsWith(tail) || named.endsWith(tail)) return false;
  return named.startsWith(corrupted.slice(0, -'corrupted'.length));
}

/**
 * A damaged copy of a report whose class also appears well formed in the same log (two CPUs
 * printing at once, which KASAN's every-report mode makes common) is counted with that one, not
 * reported as a second bug that points nowhere. Consequence links follow the fold.
 */
function foldCorruptedCopies(findings: Finding[]): Finding[] {
  const into = findings.map((f, i) => {
    // (each kmemleak block is an object of its own: a cut one is not a copy of another)
    const j = f.kind === 'kmemleak' ? -1 : findings.findIndex((g) => g.kind === f.kind && isCorruptedCopyOf(f.title, g.title));
    return j >= 0 ? j : i;
  });
  if (into.every((j, i) => j === i)) return findings;
  const kept: Finding[] = [];
  const newIndex = new Map<number, number>();
  findings.forEach((f, i) => {
    if (into[i] !== i) return;
    newIndex.set(i, kept.length);
    kept.push(f);
  });
  findings.forEach((f, i) => {
    if (into[i] === i) return;
    const target = kept[newIndex.get(into[i]!)!]!;
    target.count = (target.count ?? 1) + (f.count ?? 1);
  });
  return kept.map((f) => {
    if (f.consequenceOf === undefined) return f;
    const cause = newIndex.get(into[f.consequenceOf]!);
    const { consequenceOf: _old, ...rest } = f;
    return cause !== undefined && cause !== kept.indexOf(f) ? { ...rest, consequenceOf: cause } : rest;
  });
}

/**
 * Later findings with an already seen title are folded into the first one, which counts them.
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
