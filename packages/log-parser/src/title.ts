import { CAPTURE_GAP_LINE } from '@kgrader/schemas';
import { matchesAt, type ReportGroup, type StackRule, type StackStep, type TitleFormat } from './families.js';
import { firstFrame, isSkippedName, skipRegex, withoutSyscallPrefix, type NamedFrame } from './guilty-frame.js';

/**
 * Titles a report the way syzkaller's pkg/report does (`extractDescription`,
 * `extractStackFrame`, `isCorrupted`), from the report's *view*: its lines from the header on,
 * prefixes stripped, only those of the header's context, without `?` frames.
 */
export interface Description {
  title: string;
  /** the format that produced the title; undefined when none did (the header line is the title) */
  format?: TitleFormat;
  /** why the report looks damaged (lost lines, another CPU printing in between), when it does */
  corruptedReason?: string;
  /** a format's title pattern matched, even if the rest of the report did not fit it */
  headerFits: boolean;
}

interface Position {
  line: number;
  column: number;
  groups: string[];
}

function groupsOf(m: RegExpExecArray): string[] {
  return m.slice(1).map((g) => g ?? '');
}

/**
 * First occurrence of a title pattern: it starts with the group's marker, so it is tried only
 * where the marker is, anchored there (one attempt per line, whatever the line holds).
 */
function findTitleStart(re: RegExp, lines: readonly string[], marker: string, from: number): Position | undefined {
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    const at = line.indexOf(marker);
    if (at < 0) continue;
    const m = matchesAt(re, line, at);
    if (m) return { line: i, column: at, groups: groupsOf(m) };
  }
  return undefined;
}

function findAnywhere(re: RegExp, lines: readonly string[], from: number): Position | undefined {
  for (let i = from; i < lines.length; i++) {
    const m = re.exec(lines[i]!);
    if (m) return { line: i, column: m.index, groups: groupsOf(m) };
  }
  return undefined;
}

/** A sequence of patterns on successive (not necessarily adjacent) lines; groups are concatenated. */
function findSequence(patterns: readonly RegExp[], lines: readonly string[], marker: string | undefined, from = 0): Position | undefined {
  let first: Position | undefined;
  const groups: string[] = [];
  let line = from;
  for (let k = 0; k < patterns.length; k++) {
    const re = patterns[k]!;
    const found =
      k === 0 && marker !== undefined && re.source.startsWith(escapeLiteral(marker))
        ? findTitleStart(re, lines, marker, line)
        : findAnywhere(re, lines, k === 0 ? line : line + 1);
    if (!found) return undefined;
    if (k === 0) first = found;
    groups.push(...found.groups);
    line = found.line;
  }
  return first ? { line: first.line, column: first.column, groups } : undefined;
}

function escapeLiteral(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

// --- stack frames ---------------------------------------------------------------------------

/** Lines that start a stack: a trace being read ends at the next one (syzkaller's stackStartRes). */
const STACK_STARTS: readonly RegExp[] = [
  /Call [Tt]race/,
  /Allocated:/,
  /Allocated by task [0-9]+:/,
  /Freed:/,
  /Freed by task [0-9]+:/,
  // `backtrace:` of kmemleak (with an optional crc), but not lockdep's `stack backtrace:`
  /[^k] backtrace(?: \(crc [0-9a-f]*\))?:/,
  /Backtrace:/,
  /Uninit was stored to memory at/,
];
/** riscv prints the registers, then the stack without a header */
const RISCV_STACK_START = /status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}/;

/**
 * A stack frame line: ` foo+0x1/0x2`, `[<ffffffff81000000>] foo+0x1/0x2`, arm's
 * `[<..>] (bar) from [<..>] (foo+..`. kgrader also reads `[<(____ptrval____)>]`, the address kmemleak
 * prints before the pointer-hashing key is ready.
 */
const FRAME_LINE = /^ *(?:\[<?(?:(?:0x)?[0-9a-f]+|\(_+ptrval_+\))>?\] ){0,2}([A-Za-z0-9_]+)[.+]/;
const ARM_FRAME_LINE = /^ *\[<?(?:0x)?[0-9a-f]+>?\] \(([A-Za-z0-9_.]+)\) from \[<?(?:0x)?[0-9a-f]+>?\] \(([A-Za-z0-9_]+)[.+]/;
/** kgrader: kmemleak names a frame of an unloaded module by its address alone. */
const RAW_ADDRESS_FRAME_LINE = /^ *(?:\[<?(?:(?:0x)?[0-9a-f]+|\(_+ptrval_+\))>?\] ){1,2}(0x[0-9a-f]+)\s*$/;
const IN_MODULE = /\+0x[0-9a-f]+\/0x[0-9a-f]+ \[[\w-]+[\] ]/;
/** fault injection prints its stack into whatever report is being printed */
const FAULT_INJECTION_FRAME = /^(?: \[<?(?:0x)?[0-9a-f]+>?\])? should_fail(?:slab)?(?:\.[a-z0-9.]+)?\+0x/;

function frameNames(line: string, rawAddresses: boolean): string[] | undefined {
  const arm = ARM_FRAME_LINE.exec(line);
  if (arm) return [arm[1]!, arm[2]!];
  const m = FRAME_LINE.exec(line);
  if (m) return [m[1]!];
  const raw = rawAddresses ? RAW_ADDRESS_FRAME_LINE.exec(line) : null;
  return raw ? [raw[1]!] : undefined;
}

/** C++ functions (`_Z8fakeNameiii`) are named without their mangling, as syzkaller's demangler does. */
function demangledName(name: string): string {
  const m = /^_Z(\d{1,3})/.exec(name);
  if (!m) return name;
  const length = Number(m[1]);
  const start = m[0].length;
  return start + length <= name.length ? name.slice(start, start + length) : name;
}

interface KeyFrame {
  name: string;
}

/** syzkaller's extractStackFrameImpl: walks the steps over the lines, collecting non-skipped frames. */
function walkStack(lines: readonly string[], steps: readonly StackStep[], rule: StackRule): { frames: KeyFrame[]; ok: boolean } {
  const skip = skipRegex(rule.skip ?? []);
  const pick = rule.pick ?? firstFrame;
  const results: KeyFrame[] = [];
  let collected: NamedFrame[] = [];
  let ok = true;
  let traces = 0;
  let next = 0;
  const add = (names: readonly string[], line: string): void => {
    const inModule = IN_MODULE.test(line);
    for (const name of names) {
      if (name === '') continue;
      const frame = { name: demangledName(name), inModule };
      if (!isSkippedName(frame, skip)) collected.push(frame);
    }
  };
  const emit = (): void => {
    const chosen = pick(collected.map((f) => ({ name: withoutSyscallPrefix(f.name), inModule: f.inModule })));
    if (chosen) results.push({ name: chosen.name });
    else {
      results.push({ name: 'corrupted' });
      ok = false;
    }
    collected = [];
  };
  for (let step = 0; ; step++) {
    if (step === steps.length || (steps[step] === 'trace' && traces > 0)) emit();
    if (step === steps.length) break;
    const current = steps[step]!;
    if (current === 'trace') {
      traces++;
      const following = steps[step + 1];
      while (next < lines.length) {
        const line = lines[next++]!;
        if (FAULT_INJECTION_FRAME.test(line)) {
          ok = false;
          break;
        }
        if (STACK_STARTS.some((re) => re.test(line))) break;
        if (following !== undefined && following !== 'trace') {
          const m = following.find.exec(line);
          if (m) {
            add(groupsOf(m), line);
            step++;
            break;
          }
        }
        const names = frameNames(line, rule.rawAddresses === true);
        if (names) add(names, line);
      }
    } else {
      while (next < lines.length) {
        const line = lines[next++]!;
        if (FAULT_INJECTION_FRAME.test(line)) {
          ok = false;
          break;
        }
        const m = current.find.exec(line);
        if (m) {
          add(groupsOf(m), line);
          break;
        }
      }
    }
  }
  return { frames: results, ok };
}

function extractFrames(lines: readonly string[], rule: StackRule): { frames: KeyFrame[]; ok: boolean } {
  const first = walkStack(lines, rule.steps, rule);
  if (first.ok || !rule.fallback) return first;
  return walkStack(lines, rule.fallback, rule);
}

// --- titles -----------------------------------------------------------------------------------

/**
 * Parts of titles that change from run to run (addresses, numbers, line numbers, offsets) are
 * replaced as syzkaller does, so the same bug keeps the same title and duplicates fold.
 */
const VOLATILE_PARTS: readonly (readonly [RegExp, string])[] = [
  [/syz-executor\.?[0-9]+(?:[/:][0-9]+)?/g, 'syz-executor'],
  [/syzkaller[0-9]+(?:[/:][0-9]+)?/g, 'syzkaller'],
  [/([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}/g, '$1ADDR'],
  [/[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}/g, 'IP'],
  [/(\.\w+)(?::[0-9]+)+/g, '$1:LINE'],
  [/([a-zA-Z][a-zA-Z0-9_.]*)\+0x[0-9a-z]+\/0x[0-9a-z]+/g, '$1'],
  [/CPU#[0-9]+/g, 'CPU'],
  [/(\W)(\d+)(\W|$)/g, '$1NUM$3'],
  [/\d{7,}/g, 'NUM'],
];
const MAX_TITLE_LENGTH = 120;

export function canonicalTitle(title: string): string {
  let out = title;
  for (const [re, replacement] of VOLATILE_PARTS) {
    // Matches can overlap (`0,1,2`): repeat until nothing changes. Each pass only shortens or
    // keeps the string, and the number of passes is bounded by the number of matches.
    for (let pass = 0; pass < 64; pass++) {
      const next = out.replace(re, replacement);
      if (next === out) break;
      out = next;
    }
  }
  let clean = '';
  for (const ch of out) {
    if (clean.length >= MAX_TITLE_LENGTH) break;
    const c = ch === '\t' ? ' ' : ch;
    const code = c.charCodeAt(0);
    if (c.length !== 1 || code < 0x20 || code >= 0x7f) continue;
    if (c === ' ' && (clean.length === 0 || clean.endsWith(' '))) continue;
    clean += c;
  }
  return clean.trim();
}

// A frame name that is an address (kgrader's unloaded-module frames) stays as printed so the
// symbolizer can replace it by the function; it is put in after the volatile parts are replaced.
const RAW_FRAME_PLACEHOLDER = 'KGRADERRAWFRAMENAME';

/** ` [msgbuf]` after a function name in a captured part of the header (KCSAN names functions there). */
const MODULE_TAG = / \[[\w-]+\]/g;

function renderTitle(template: string, groups: readonly string[], frame: string | undefined): string {
  const rawFrame = frame !== undefined && /^0x[0-9a-f]+$/.test(frame);
  const text = template
    .replace(/\{(\d+)\}/g, (_, n: string) => (groups[Number(n) - 1] ?? '').replace(MODULE_TAG, ''))
    .replace('{frame}', rawFrame ? RAW_FRAME_PLACEHOLDER : (frame ?? 'corrupted'));
  const canonical = canonicalTitle(text);
  return rawFrame ? canonical.replace(RAW_FRAME_PLACEHOLDER, frame) : canonical;
}

/** Timestamps inside a title mean two lines ran into each other. */
const TIMESTAMP_IN_TITLE = /\[ *[0-9]+\.[0-9]+\]/;

/**
 * Titles the report whose view is `lines` (`lines[0]` is the header line, the group's marker at
 * column `at`).
 */
export function describe(group: ReportGroup, lines: readonly string[], at: number): Description {
  const marker = group.marker;
  let best: { line: number; column: number } | undefined;
  let title = '';
  let format: TitleFormat | undefined;
  let corruptedReason: string | undefined;
  let matchedTitle = false;
  for (const candidate of group.formats) {
    const position = findSequence(candidate.match, lines, marker);
    if (!position) continue;
    const cmp = best ? compare(position, best) : -1;
    if (cmp > 0) continue;
    if (cmp === 0 && title !== '') continue;
    if (cmp < 0) {
      title = '';
      format = undefined;
      best = { line: position.line, column: position.column };
    }
    matchedTitle = true;
    let groups = position.groups;
    let stackStart: { line: number; column: number } = position;
    if (candidate.report) {
      const report = findSequence(candidate.report, lines, marker);
      if (!report) continue;
      groups = report.groups;
      stackStart = report;
    }
    corruptedReason = undefined;
    let frame: string | undefined;
    if (candidate.stack) {
      const from = [lines[stackStart.line]!.slice(stackStart.column), ...lines.slice(stackStart.line + 1)];
      const extracted = extractFrames(from, candidate.stack);
      frame = extracted.frames[0]?.name ?? 'corrupted';
      if (!extracted.ok) corruptedReason = 'no frame to name in the stack';
      // a capped console dropped the middle of this report: a frame named from after the gap
      // belongs to some later stack (the report's own frames were dropped)
      const gap = from.findIndex((l) => CAPTURE_GAP_LINE.test(l.trim()));
      if (gap >= 0 && frame !== 'corrupted' && extractFrames(from.slice(0, gap), candidate.stack).frames[0]?.name !== frame) {
        frame = 'corrupted';
        corruptedReason = 'the console capture dropped the middle of this report';
      }
    }
    title = renderTitle(candidate.title, groups, frame);
    format = candidate;
  }
  if (title === '') {
    // No format fits: the header line is the title, as printed.
    if (matchedTitle) corruptedReason = 'the header fits a family but the rest of the report does not';
    title = canonicalTitle(lines[0]?.slice(at) ?? marker);
    format = undefined;
  }
  if (!corruptedReason && format?.corrupted) corruptedReason = 'only a damaged report looks like this';
  if (!corruptedReason) corruptedReason = corruptionOf(title, lines, format);
  return { title, headerFits: matchedTitle, ...(format ? { format } : {}), ...(corruptedReason ? { corruptedReason } : {}) };
}

function compare(a: { line: number; column: number }, b: { line: number; column: number }): number {
  return a.line !== b.line ? a.line - b.line : a.column - b.column;
}

/** syzkaller's isCorrupted: a report whose stacks were lost or cut is not to be trusted. */
function corruptionOf(title: string, lines: readonly string[], format: TitleFormat | undefined): string | undefined {
  if (TIMESTAMP_IN_TITLE.test(title)) return 'the title ran into another line';
  if (!format || format.noStackTrace) return undefined;
  let sawStack = false;
  for (const start of [...STACK_STARTS, RISCV_STACK_START]) {
    const at = lines.findIndex((l) => start.test(l));
    if (at < 0) continue;
    // (syzkaller counts the empty string after the report's last newline as a line too)
    if (lines.length - at + 1 < 4) return 'a stack was cut';
    let framed = false;
    for (let i = at + 1; i < Math.min(lines.length, at + 16); i++) {
      const line = lines[i]!;
      if (STACK_STARTS.some((re) => re.test(line))) break;
      if (line.includes('(stack is not available)') || FRAME_LINE.test(line) || ARM_FRAME_LINE.test(line)) {
        framed = true;
        break;
      }
    }
    if (framed) sawStack = true;
    else if (start !== RISCV_STACK_START) return 'a stack has no frames';
  }
  return sawStack ? undefined : 'no stack trace in the report';
}
