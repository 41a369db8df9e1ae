import type { Access, Finding, FindingKind, Frame } from '@kgrader/schemas';
import type { FamilyDef, HeaderMatch } from './families.js';
import { parseAtFrame, parseFrame, titleName } from './frames.js';
import {
  pickHungTaskFrame,
  pickStallFrame,
  pickTitleFrame,
  type SkipProfile,
} from './frame-selection.js';
import {
  extractMainTrace,
  findLine,
  framesAfter,
  withoutQuestionable,
  type TraceFrame,
} from './report-body.js';

/** A report as collected from the log, before analysis. */
export interface CollectedReport {
  family: FamilyDef;
  header: HeaderMatch;
  /** the report's own lines, prefixes stripped, header first */
  lines: string[];
  /** lines of a `Kernel panic` that only happened because of this report */
  foldedPanic: string[];
  /** 0-based index of the header line in the console log */
  startLine: number;
  truncated: boolean;
}

type Analysis = Pick<Finding, 'kind' | 'title' | 'frames' | 'stacks' | 'access'>;
type Stack = NonNullable<Finding['stacks']>[number];

export const RAW_LINE_CAP = 200;

export function analyzeReport(report: CollectedReport): Finding {
  const analysis = analyzeBody(report);
  const finding: Finding = {
    kind: analysis.kind,
    title: analysis.title,
    frames: analysis.frames,
    raw: rawText(report),
    line: report.startLine,
  };
  if (analysis.access) finding.access = analysis.access;
  if (analysis.stacks && analysis.stacks.length > 0) finding.stacks = analysis.stacks;
  if (report.truncated) finding.truncated = true;
  return finding;
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

function inFn(prefix: string, frame: Frame | undefined): string {
  return frame ? `${prefix} in ${titleName(frame)}` : prefix;
}

function plain(frames: readonly TraceFrame[]): Frame[] {
  return withoutQuestionable(frames.map((f) => f.frame));
}

function headerFrame(text: string | undefined): Frame | undefined {
  if (!text) return undefined;
  const frame = parseFrame(' ' + text.trim());
  return frame && !frame.inlined ? frame : undefined;
}

function labelledStacks(lines: readonly string[], label: (line: string) => string | undefined): Stack[] {
  const stacks: Stack[] = [];
  lines.forEach((line, i) => {
    const name = label(line);
    if (name === undefined) return;
    const frames = withoutQuestionable(framesAfter(lines, i));
    if (frames.length > 0) stacks.push({ label: name, frames });
  });
  return stacks;
}

/** Frame named on the first `at:` line at or after a marker line (lockdep's lock descriptions). */
function atFrameAfter(lines: readonly string[], marker: RegExp, lookahead = 4): Frame | undefined {
  const at = findLine(lines, marker);
  if (at < 0) return undefined;
  for (let i = at; i < Math.min(lines.length, at + 1 + lookahead); i++) {
    const line = lines[i]!;
    if (line.includes('at:')) {
      const frame = parseAtFrame(line);
      if (frame) return frame;
      // `... at:` with the frame on the next line (bad unlock balance).
      const next = lines[i + 1];
      const nextFrame = next !== undefined ? parseFrame(next) : undefined;
      if (nextFrame && !nextFrame.inlined) return nextFrame;
    }
  }
  return undefined;
}

function accessFromWord(word: string | undefined): Access['type'] | undefined {
  if (!word) return undefined;
  const w = word.toLowerCase();
  if (w.includes('write')) return 'write';
  if (w.includes('read') || w.includes('fetch')) return 'read';
  return undefined;
}

function lockdepStacks(lines: readonly string[]): Stack[] {
  return labelledStacks(lines, (line) => {
    const chain = /^(-> #\d+ .*):\s*$/.exec(line);
    if (chain) return chain[1];
    const state = /^(\{[\w-]+\} state was registered at):\s*$/.exec(line.trim());
    return state ? state[1] : undefined;
  });
}

/** `stack backtrace:` introduces the current task's stack in lockdep reports. */
function lockdepTrace(lines: readonly string[]): Frame[] {
  const from = Math.max(0, findLine(lines, /^stack backtrace:/));
  return plain(extractMainTrace(lines, from).frames);
}

function analyzeBody(report: CollectedReport): Analysis {
  const { family, header } = report;
  const m = header.match;
  const lines = report.lines;
  const kind: FindingKind = family.kind;

  switch (family.id) {
    case 'kasan': {
      let bugType = m[1] ?? 'unknown';
      if (/double-free or invalid-free/.test(bugType)) bugType = 'invalid-free';
      const accessLine = /^(Read|Write) of size (\d+) at addr ([0-9a-f]+)/;
      const ai = findLine(lines, accessLine, 1, 12);
      const am = ai >= 0 ? accessLine.exec(lines[ai]!) : null;
      const frames = plain(extractMainTrace(lines).frames);
      const profile: SkipProfile = /free/.test(bugType) && !/use-after-free/.test(bugType) ? 'invalid-free' : 'default';
      const fn = pickTitleFrame([headerFrame(m[2]), ...frames], profile);
      const stacks = labelledStacks(lines, (line) => {
        if (/^Allocated by task \d+:/.test(line)) return 'allocated';
        if (/^Freed by task \d+:/.test(line)) return 'freed';
        const aux = /^((?:Second to last|Last) potentially related work creation):/.exec(line);
        return aux ? aux[1]!.toLowerCase() : undefined;
      });
      const access: Access | undefined = am
        ? { type: am[1] === 'Write' ? 'write' : 'read', size: Number(am[2]), address: am[3]! }
        : undefined;
      const title = inFn(`KASAN: ${bugType}${am ? ` ${am[1]}` : ''}`, fn ?? headerFrame(m[2]));
      return { kind, title, frames, stacks, access };
    }
    case 'kfence': {
      const bugType = m[1] ?? 'unknown';
      const accessLine = /^(Use-after-free|Out-of-bounds|Invalid|Corrupted memory|Invalid free)\s*(read|write)?\s*(?:at|of) 0x([0-9a-f]+)/i;
      const ai = findLine(lines, accessLine, 1, 8);
      const am = ai >= 0 ? accessLine.exec(lines[ai]!) : null;
      const frames = withoutQuestionable(ai >= 0 ? framesAfter(lines, ai) : plain(extractMainTrace(lines).frames));
      const fn = pickTitleFrame([headerFrame(m[2]), ...frames]);
      const stacks = labelledStacks(lines, (line) => {
        const s = /^(allocated|freed) by task \d+/.exec(line);
        return s ? s[1] : undefined;
      });
      const type = accessFromWord(am?.[2]);
      const access: Access | undefined = type ? { type, address: am![3]! } : undefined;
      return { kind, title: inFn(`KFENCE: ${bugType}`, fn), frames, stacks, access };
    }
    case 'kcsan': {
      const description = (m[1] ?? '').replace(/\s+\[[\w-]+\]/g, '').trim();
      const sectionRe =
        /^(?:race at unknown origin, with )?(read-write|read|write)(?: \((?:marked|reordered)\))* to 0x([0-9a-f]+) of (\d+) bytes by (?:task \d+|interrupt)(?: on cpu \d+)?:\s*$/;
      const stacks = labelledStacks(lines, (line) => (sectionRe.test(line) ? line.replace(/:\s*$/, '') : undefined));
      const first = findLine(lines, sectionRe);
      const fm = first >= 0 ? sectionRe.exec(lines[first]!) : null;
      const frames = first >= 0 ? withoutQuestionable(framesAfter(lines, first)) : [];
      const access: Access | undefined = fm
        ? { type: fm[1] === 'read' ? 'read' : 'write', size: Number(fm[3]), address: fm[2]! }
        : undefined;
      return { kind, title: `KCSAN: ${description}`, frames, stacks, access };
    }
    case 'ubsan': {
      const check = m[1] !== undefined ? 'undefined-behaviour' : (m[2] ?? 'unknown');
      const location = m[1] ?? m[3] ?? '';
      const frames = plain(extractMainTrace(lines).frames);
      const fn = pickTitleFrame(frames);
      return { kind, title: fn ? inFn(`UBSAN: ${check}`, fn) : `UBSAN: ${check} in ${location}`, frames };
    }
    case 'kmemleak': {
      const body = lines.map((l) => l.replace(/^kmemleak: /, ''));
      const bt = findLine(body, /^\s*backtrace(?: \(crc [0-9a-f]+\))?:\s*$/);
      const frames = bt >= 0 ? withoutQuestionable(framesAfter(body, bt)) : [];
      return { kind, title: inFn('memory leak', pickTitleFrame(frames, 'kmemleak')), frames };
    }
    case 'lockdep-acquire':
    case 'lockdep-irq-inversion': {
      const frames = lockdepTrace(lines);
      const marker =
        family.id === 'lockdep-irq-inversion' ? /just changed the state of lock:/ : /is trying to acquire(?: lock)?:/;
      const fn = atFrameAfter(lines, marker) ?? pickTitleFrame(frames);
      return { kind, title: inFn('possible deadlock', fn), frames, stacks: lockdepStacks(lines) };
    }
    case 'lockdep-inconsistent': {
      const frames = lockdepTrace(lines);
      const fn = atFrameAfter(lines, /\btakes:\s*$/) ?? pickTitleFrame(frames);
      return { kind, title: inFn('inconsistent lock state', fn), frames, stacks: lockdepStacks(lines) };
    }
    case 'lockdep-bad-unlock':
    case 'lockdep-held-lock-freed':
    case 'lockdep-lock-held-return':
    case 'lockdep-still-holding': {
      const prefix = m[1] ?? 'WARNING';
      const frames = lockdepTrace(lines);
      const what = {
        'lockdep-bad-unlock': ['bad unlock balance', /is trying to release lock/],
        'lockdep-held-lock-freed': ['held lock freed', /is freeing memory|held lock freed/],
        'lockdep-lock-held-return': ['lock held when returning to user space', /#\d+:/],
        'lockdep-still-holding': ['still has locks held', /#\d+:|still has locks held/],
      } as const;
      const [name, marker] = what[family.id];
      const fn = atFrameAfter(lines, marker) ?? pickTitleFrame(frames);
      return { kind, title: inFn(`${prefix}: ${name}`, fn), frames, stacks: lockdepStacks(lines) };
    }
    case 'lockdep-rcu': {
      const frames = lockdepTrace(lines);
      return { kind, title: inFn(`${m[1] ?? 'WARNING'}: suspicious RCU usage`, pickTitleFrame(frames, 'rcu')), frames };
    }
    case 'lockdep-non-static-key': {
      const frames = plain(extractMainTrace(lines).frames);
      return { kind, title: inFn('INFO: trying to register non-static key', pickTitleFrame(frames)), frames };
    }
    case 'lockdep-workqueue-leak': {
      const frames = plain(extractMainTrace(lines).frames);
      const li = findLine(lines, /last function: /);
      const last = li >= 0 ? /last function: (\S+)/.exec(lines[li]!) : null;
      const fn: Frame | undefined = last ? { function: last[1]! } : pickTitleFrame(frames);
      return { kind, title: inFn('BUG: workqueue leaked lock or atomic', fn), frames };
    }
    case 'spinlock': {
      const frames = plain(extractMainTrace(lines).frames);
      return { kind, title: inFn(`BUG: ${m[1]} ${m[2]}`, pickTitleFrame(frames, 'spinlock')), frames };
    }
    case 'might-sleep':
    case 'scheduling-while-atomic': {
      const frames = plain(extractMainTrace(lines).frames);
      const stacks = labelledStacks(lines, (line) => (/^Preemption disabled at:/.test(line) ? 'preemption disabled at' : undefined));
      const name =
        family.id === 'might-sleep' ? 'BUG: sleeping function called from invalid context' : 'BUG: scheduling while atomic';
      return { kind, title: inFn(name, pickTitleFrame(frames, 'atomic-sleep')), frames, stacks };
    }
    case 'preemptible-percpu': {
      const frames = plain(extractMainTrace(lines).frames);
      const ci = findLine(lines, /^caller is /);
      const caller = ci >= 0 ? headerFrame(lines[ci]!.replace(/^caller is /, '')) : undefined;
      return { kind, title: inFn(`BUG: using ${m[1]} in preemptible code`, caller ?? pickTitleFrame(frames)), frames };
    }
    case 'warning':
    case 'kernel-bug':
    case 'list-corruption':
    case 'refcount':
      return analyzeWarningOrBug(report);
    case 'bad-page': {
      const frames = plain(extractMainTrace(lines).frames);
      return { kind, title: `BUG: Bad page ${m[1]}`, frames };
    }
    case 'page-fault': {
      const frames = plain(extractMainTrace(lines, 0, true).frames);
      const address = m[2];
      const isNull = m[1] !== undefined;
      const pf = findLine(lines, /^#PF: \w+ (read|write|instruction fetch) access/, 1, 8);
      const pm = pf >= 0 ? /^#PF: \w+ (read|write|instruction fetch) access/.exec(lines[pf]!) : null;
      const type = accessFromWord(pm?.[1]);
      const access: Access | undefined = type ? { type, ...(address ? { address } : {}) } : undefined;
      const name = isNull
        ? 'BUG: unable to handle kernel NULL pointer dereference'
        : 'BUG: unable to handle kernel paging request';
      return { kind, title: inFn(name, pickTitleFrame(frames)), frames, access };
    }
    case 'gpf':
    case 'trap':
    case 'stack-guard': {
      const frames = plain(extractMainTrace(lines, 0, true).frames);
      const names: Record<string, string> = {
        'divide error': 'divide error',
        'invalid opcode': 'invalid opcode',
        'stack segment': 'stack segment fault',
        'PANIC: double fault': 'PANIC: double fault',
      };
      const name =
        family.id === 'gpf'
          ? 'general protection fault'
          : family.id === 'stack-guard'
            ? 'BUG: stack guard page was hit'
            : (names[m[1] ?? ''] ?? m[1] ?? 'trap');
      return { kind, title: inFn(name, pickTitleFrame(frames)), frames };
    }
    case 'stack-protector': {
      const frames = plain(extractMainTrace(lines).frames);
      const named = headerFrame(m[1]);
      const fn = named && !named.function.startsWith('0x') ? named : pickTitleFrame(frames);
      return { kind, title: inFn('kernel panic: stack is corrupted', fn), frames };
    }
    case 'panic': {
      const frames = plain(extractMainTrace(lines).frames);
      return { kind, title: `kernel panic: ${(m[1] ?? '').trim()}`, frames };
    }
    case 'hung-task': {
      const frames = plain(extractMainTrace(lines).frames);
      return { kind, title: inFn('INFO: task hung', pickHungTaskFrame(frames)), frames };
    }
    case 'soft-lockup':
    case 'rcu-stall': {
      const trace = extractMainTrace(lines, 0, family.id === 'soft-lockup');
      const taskPart = trace.frames.filter((f) => f.section === 'task' || f.section === 'unknown');
      const irqPart = trace.frames.filter((f) => f.section !== 'task' && f.section !== 'unknown');
      const frames = plain(taskPart.length > 0 ? taskPart : trace.frames);
      const fn = pickStallFrame(frames, family.id === 'rcu-stall' ? 'rcu' : 'default');
      const name = family.id === 'rcu-stall' ? 'INFO: rcu detected stall' : 'BUG: soft lockup';
      const stacks: Stack[] = taskPart.length > 0 && irqPart.length > 0 ? [{ label: 'interrupt', frames: plain(irqPart) }] : [];
      return { kind, title: inFn(name, fn), frames, stacks };
    }
  }
}

/**
 * WARNING / kernel BUG, possibly introduced by a list_debug or refcount message (those print
 * their diagnosis first, then WARN or BUG). The file in the WARNING/BUG header picks the title.
 */
function analyzeWarningOrBug(report: CollectedReport): Analysis {
  const lines = report.lines;
  const warnRe = /^WARNING: CPU: \d+ PID: \d+ at (\S+)(?: (\S.*))?$/;
  const bugRe = /^kernel BUG at (\S+?)!?$/;
  const wi = findLine(lines, warnRe);
  const bi = findLine(lines, bugRe);
  const isBug = bi >= 0 && (wi < 0 || bi < wi);
  const at = isBug ? bi : wi;
  const hm = at >= 0 ? (isBug ? bugRe : warnRe).exec(lines[at]!) : null;
  let file = hm?.[1] ?? '';
  let named: Frame | undefined;
  if (!isBug && hm) {
    if (file.includes(':') || /\.[ch]$/.test(file)) named = headerFrame(hm[2]);
    else {
      // `WARNING: CPU: 0 PID: 1 at msgbuf_write+0x45/0x120 [msgbuf]`: no file was compiled in.
      named = headerFrame(`${hm[1]} ${hm[2] ?? ''}`);
      file = '';
    }
  }
  const frames = plain(extractMainTrace(lines, Math.max(0, at), true).frames);
  const pick = (profile: SkipProfile = 'default'): Frame | undefined => pickTitleFrame(frames, profile) ?? named;

  if (report.family.id === 'list-corruption' || /(^|\/)lib\/list_debug\.c/.test(file)) {
    return { kind: 'list-corruption', title: inFn('BUG: corrupted list', pick()), frames };
  }
  if (report.family.id === 'refcount' || /(^|\/)lib\/refcount\.c/.test(file)) {
    return { kind: 'refcount', title: inFn('WARNING: refcount bug', pick('refcount')), frames };
  }
  if (isBug) {
    if (/mm\/usercopy\.c/.test(file)) return { kind: 'bug', title: inFn('BUG: bad usercopy', pick()), frames };
    return { kind: 'bug', title: inFn('kernel BUG', pick()), frames };
  }
  if (/^kernel\/locking\//.test(file)) {
    return { kind: 'lockdep', title: inFn('WARNING: locking bug', pick()), frames };
  }
  if (/^mm\/usercopy\.c/.test(file)) return { kind: 'warning', title: inFn('WARNING: bad usercopy', pick()), frames };
  if (/^lib\/debugobjects\.c/.test(file)) return { kind: 'warning', title: inFn('WARNING: ODEBUG bug', pick()), frames };
  return { kind: 'warning', title: inFn('WARNING', pick()), frames };
}
