import type { Finding } from '@kgrader/schemas';
import { reportDetails } from './details.js';
import { kindOf, type HeaderMatch, type ReportGroup } from './families.js';
import { CALL_TRACE_RE } from './report-body.js';
import { describe, type Description } from './title.js';

/** A report as collected from the log, before analysis. */
export interface CollectedReport {
  header: HeaderMatch;
  /** the report's own lines, prefixes stripped, header first */
  lines: string[];
  /** lines of a `Kernel panic` that only happened because of this report */
  foldedPanic: string[];
  /**
   * What the title is read from, as syzkaller reads it: the lines of the header's context from
   * the header up to the next report's header, without `?` frames (view[0] is the header line).
   */
  view: string[];
  /** 0-based index of the header line in the console log */
  startLine: number;
  truncated: boolean;
  /**
   * For a report of a prologue group (`list_del corruption.`): the header inside it that titles
   * it (the WARNING or kernel BUG that follows), its index in `lines`; `view` then starts there.
   */
  titledBy?: { header: HeaderMatch; ownLine: number };
}

/** A finding with what consequence detection needs to know about how it was titled. */
export interface AnalyzedReport {
  finding: Finding;
  /** id of the title format that named it (`kasan`, `null-deref`...), when one did */
  formatId?: string;
}

export const RAW_LINE_CAP = 200;

/**
 * A line with a group's marker that fits none of its formats is titled by the line itself, as
 * syzkaller does (`BUG: MAX_STACK_TRACE_ENTRIES too low!`), but only when the kernel printed a
 * report around it: a stack or the `CPU: N PID: N` line of dump_stack(). A driver's own message
 * (`pr_info("INFO: device opened")`, `usb 5-1: WARNING: ath10k USB support is incomplete`) is
 * not a kernel report; syzkaller takes it for one, kgrader does not (a student's driver may print
 * such words, and must not fail for it).
 */
const REPORT_EVIDENCE = /Call [Tt]race|Backtrace:|\bCPU: \d+ (?:UID: \d+ )?PID: \d+|^ *(?:\[<[0-9a-f]+>\] )*[A-Za-z0-9_.]+\+0x[0-9a-f]+\/0x[0-9a-f]+/;

export function analyzeReport(report: CollectedReport): AnalyzedReport | undefined {
  const titled = titleOf(report);
  const format = titled.description.format;
  // (A panic folded into it counts: a panic is never dropped with the message before it.)
  const evidence = [...report.view.slice(1), ...report.foldedPanic];
  if (!titled.description.headerFits && !evidence.some((l) => REPORT_EVIDENCE.test(l))) return undefined;
  const details = reportDetails(format?.details ?? titled.group.details, linesWithStack(report), titled.ownLine);
  const finding: Finding = {
    kind: format?.kind ?? kindOf(report.titledBy?.header ?? report.header),
    title: titled.description.title,
    frames: details.frames,
    raw: rawText(report),
    line: report.startLine,
  };
  if (details.access) finding.access = details.access;
  if (details.stacks && details.stacks.length > 0) finding.stacks = details.stacks;
  if (report.truncated) finding.truncated = true;
  if (titled.description.corruptedReason !== undefined) finding.corrupted = true;
  return { finding, ...(format ? { formatId: format.id } : {}) };
}

interface Titled {
  description: Description;
  group: ReportGroup;
  /** index in the report's own lines of the line that titled it */
  ownLine: number;
}

/**
 * A report of a prologue group (`list_del corruption.`, `refcount_t: underflow`) is titled by the
 * header of another group inside it (the WARNING or kernel BUG that follows), as syzkaller titles
 * it; other reports by their own header.
 */
function titleOf(report: CollectedReport): Titled {
  const by = report.titledBy;
  const header = by?.header ?? report.header;
  return { description: describe(header.group, report.view, header.at), group: header.group, ownLine: by?.ownLine ?? 0 };
}

/**
 * Older kernels with panic_on_warn print the panic before the WARNING's stack: the report's own
 * stack is then inside the folded panic.
 */
function linesWithStack(report: CollectedReport): string[] {
  if (report.foldedPanic.length === 0 || report.lines.some((l) => CALL_TRACE_RE.test(l))) return report.lines;
  return [...report.lines, ...report.foldedPanic];
}

/** The report's text, capped; a folded panic keeps at least its first lines so it stays visible. */
function rawText(report: CollectedReport): string {
  const own = report.lines;
  const panic = report.foldedPanic;
  if (own.length + panic.length <= RAW_LINE_CAP) return [...own, ...panic].join('\n');
  if (panic.length === 0) return [...own.slice(0, RAW_LINE_CAP - 1), '[... report cut ...]'].join('\n');
  const panicPart = panic.slice(0, 10);
  const ownPart = own.slice(0, RAW_LINE_CAP - panicPart.length - 1);
  return [...ownPart, '[... report cut ...]', ...panicPart].join('\n');
}
