import type { Access, Finding, Frame } from '@kgrader/schemas';
import type { DetailsRule } from './families.js';
import { framesAfter, extractMainTrace, findLine, withoutQuestionable, type TraceFrame } from './report-body.js';

/** What a report says besides its title: its main stack, the other stacks it prints, the access. */
export type Details = Pick<Finding, 'frames' | 'stacks' | 'access'>;
type Stack = NonNullable<Finding['stacks']>[number];

function plain(frames: readonly TraceFrame[]): Frame[] {
  return withoutQuestionable(frames.map((f) => f.frame));
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

const KASAN_ACCESS = /(Read|Write) of size (\d+) at addr ([0-9a-f]+)/;
const KFENCE_ACCESS = /^(?:Use-after-free|Out-of-bounds|Invalid|Corrupted memory|Invalid free)\s*(read|write)?\s*(?:at|of) 0x([0-9a-f]+)/i;
const KCSAN_SECTION =
  /^(?:race at unknown origin, with )?(read-write|read|write)(?: \((?:marked|reordered)\))* to 0x([0-9a-f]+) of (\d+) bytes by (?:task \d+|interrupt)(?: on cpu \d+)?:\s*$/;
const PAGE_FAULT_ADDRESS = /(?:NULL pointer dereference|page fault for address|paging request at)[:,]? (?:address: ?)?([0-9a-f]{8,16})\b/;
const PF_ACCESS = /^#PF: \w+ (read|write|instruction fetch) access/;
const KMEMLEAK_BACKTRACE = /^\s*backtrace(?: \(crc [0-9a-f]+\))?:\s*$/;

/**
 * Extracts the details of a report from its own lines (`lines[from]` is the line that titled it,
 * e.g. the WARNING after a `list_del corruption` message).
 */
export function reportDetails(rule: DetailsRule, lines: readonly string[], from: number): Details {
  switch (rule) {
    case 'kasan': {
      const ai = findLine(lines, KASAN_ACCESS, from, from + 12);
      const am = ai >= 0 ? KASAN_ACCESS.exec(lines[ai]!) : null;
      const stacks = labelledStacks(lines, (line) => {
        if (/^Allocated by task \d+:/.test(line)) return 'allocated';
        if (/^Freed by task \d+:/.test(line)) return 'freed';
        const aux = /^((?:Second to last|Last) potentially related work creation):/.exec(line);
        return aux ? aux[1]!.toLowerCase() : undefined;
      });
      const access: Access | undefined = am
        ? { type: am[1] === 'Write' ? 'write' : 'read', size: Number(am[2]), address: am[3]! }
        : undefined;
      return { frames: plain(extractMainTrace(lines, from).frames), stacks, ...(access ? { access } : {}) };
    }
    case 'kfence': {
      const ai = findLine(lines, KFENCE_ACCESS, from + 1, from + 8);
      const am = ai >= 0 ? KFENCE_ACCESS.exec(lines[ai]!) : null;
      const frames = ai >= 0 ? withoutQuestionable(framesAfter(lines, ai)) : plain(extractMainTrace(lines, from).frames);
      // `allocated by task 7 on cpu 0 at 84.9s:`, or after the object: `kfence-#31 [0x..-0x.., size=32, cache=kmalloc-32] allocated by task 114:`
      const stacks = labelledStacks(lines, (line) => /^(?:kfence-#\d+ \[[^\]]*\] )?(allocated|freed) by task \d+/.exec(line)?.[1]);
      const type = accessFromWord(am?.[1]);
      return { frames, stacks, ...(type ? { access: { type, address: am![2]! } } : {}) };
    }
    case 'kcsan': {
      const stacks = labelledStacks(lines, (line) => (KCSAN_SECTION.test(line) ? line.replace(/:\s*$/, '') : undefined));
      const first = findLine(lines, KCSAN_SECTION, from);
      const fm = first >= 0 ? KCSAN_SECTION.exec(lines[first]!) : null;
      const frames = first >= 0 ? withoutQuestionable(framesAfter(lines, first)) : [];
      const access: Access | undefined = fm
        ? { type: fm[1] === 'read' ? 'read' : 'write', size: Number(fm[3]), address: fm[2]! }
        : undefined;
      return { frames, stacks, ...(access ? { access } : {}) };
    }
    case 'kmsan': {
      const stacks = labelledStacks(lines, (line) => {
        if (/^Uninit was created at:/.test(line)) return 'uninit created';
        if (/^Uninit was stored to memory at:/.test(line)) return 'uninit stored';
        return /^Local variable .* created at:/.test(line) ? 'local variable created' : undefined;
      });
      const frames = withoutQuestionable(framesAfter(lines, from));
      return { frames: frames.length > 0 ? frames : plain(extractMainTrace(lines, from).frames), stacks };
    }
    case 'oops':
      return { frames: plain(extractMainTrace(lines, from, true).frames) };
    case 'page-fault': {
      const header = lines[from] ?? '';
      const address = PAGE_FAULT_ADDRESS.exec(header)?.[1];
      const pf = findLine(lines, PF_ACCESS, from + 1, from + 8);
      const type = accessFromWord(pf >= 0 ? PF_ACCESS.exec(lines[pf]!)?.[1] : undefined);
      const access: Access | undefined = type ? { type, ...(address ? { address } : {}) } : undefined;
      return { frames: plain(extractMainTrace(lines, from, true).frames), ...(access ? { access } : {}) };
    }
    case 'lockdep': {
      // `stack backtrace:` introduces the current task's stack in lockdep reports.
      const backtrace = findLine(lines, /^stack backtrace:/, from);
      return { frames: plain(extractMainTrace(lines, backtrace >= 0 ? backtrace : from).frames), stacks: lockdepStacks(lines) };
    }
    case 'atomic-sleep': {
      const stacks = labelledStacks(lines, (line) => (/^Preemption disabled at:/.test(line) ? 'preemption disabled at' : undefined));
      return { frames: plain(extractMainTrace(lines, from).frames), stacks };
    }
    case 'stall':
    case 'rcu-stall': {
      // A soft lockup prints the looping code's RIP before its trace; an RCU stall prints the
      // detecting CPU's trace first, and RIP lines of other CPUs may come before it.
      const trace = extractMainTrace(lines, from, rule === 'stall');
      const taskPart = trace.frames.filter((f) => f.section === 'task' || f.section === 'unknown');
      const irqPart = trace.frames.filter((f) => f.section !== 'task' && f.section !== 'unknown');
      const frames = plain(taskPart.length > 0 ? taskPart : trace.frames);
      const stacks: Stack[] = taskPart.length > 0 && irqPart.length > 0 ? [{ label: 'interrupt', frames: plain(irqPart) }] : [];
      return { frames, stacks };
    }
    case 'kmemleak': {
      const body = lines.map((l) => l.replace(/^kmemleak: /, ''));
      const bt = findLine(body, KMEMLEAK_BACKTRACE, from);
      return { frames: bt >= 0 ? withoutQuestionable(framesAfter(body, bt)) : [] };
    }
    case 'trace':
      return { frames: plain(extractMainTrace(lines, from).frames) };
  }
}
