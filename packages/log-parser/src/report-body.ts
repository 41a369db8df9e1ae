import type { Frame } from '@kgrader/schemas';
import { parseFrame, parseRipFrame } from './frames.js';

/** Where a frame of a `Call Trace:` was printed: `<IRQ>`...`</IRQ>`, `<TASK>`...`</TASK>`, ... */
export type TraceSection = 'task' | 'irq' | 'softirq' | 'nmi' | 'unknown';

export interface TraceFrame {
  frame: Frame;
  section: TraceSection;
}

export interface MainTrace {
  /** all frames, `?` frames included (they carry `inlined: true`) */
  frames: TraceFrame[];
  /** index of the `Call Trace:` line, -1 when there is none */
  start: number;
  /** true when the trace's end was seen (`</TASK>`, or the first non-trace line) */
  complete: boolean;
}

const SECTION_TAG_RE = /^\s*<(\/?)(TASK|IRQ|SOFTIRQ|NMI|EOI)>\s*$/;
// Register dump and code lines that x86 prints inside a trace at an exception frame.
const REGISTER_LINE_RE =
  /^\s*(?:RIP|RSP|RAX|RBX|RCX|RDX|RSI|RDI|RBP|R\d+|FS|GS|CS|DS|ES|CR\d|DR\d|Code|PKRU|EFLAGS|ORIG_RAX)\s*:/;
export const CALL_TRACE_RE = /^\s*Call [Tt]race:?\s*$/;

export function isSectionTag(text: string): boolean {
  return SECTION_TAG_RE.test(text);
}
export function isRegisterLine(text: string): boolean {
  return REGISTER_LINE_RE.test(text);
}

/**
 * Incremental tracker of the main `Call Trace:` of a report, used both to detect the end of
 * reports whose end is their trace and to extract the frames afterwards.
 */
export class TraceTracker {
  started = false;
  complete = false;
  sawSectionTag = false;
  frameCount = 0;

  /**
   * Feeds one line; returns `'end-include'` when the line closes the trace, `'end-exclude'` when
   * the trace ended just before this line, `'continue'` otherwise.
   */
  feed(text: string): 'continue' | 'end-include' | 'end-exclude' {
    if (this.complete) return 'continue';
    if (!this.started) {
      if (CALL_TRACE_RE.test(text)) this.started = true;
      return 'continue';
    }
    const tag = SECTION_TAG_RE.exec(text);
    if (tag) {
      this.sawSectionTag = true;
      if (tag[2] === 'EOI') return 'continue';
      if (tag[1] === '/') {
        // The task stack is always the last one x86 prints (<IRQ>/<NMI> sections come first).
        if (tag[2] === 'TASK') {
          this.complete = true;
          return 'end-include';
        }
      }
      return 'continue';
    }
    if (parseFrame(text)) {
      this.frameCount++;
      return 'continue';
    }
    if (isRegisterLine(text) || text.trim() === '') return 'continue';
    // Kernels without <TASK> tags end the trace at the first line that is not part of it.
    if (!this.sawSectionTag && this.frameCount > 0) {
      this.complete = true;
      return 'end-exclude';
    }
    return 'continue';
  }
}

/**
 * The main stack of a report: the first `Call Trace:` (from `from` on), frames with their
 * section. For oops-like reports a kernel `RIP:` line before the trace is the innermost frame.
 */
export function extractMainTrace(lines: readonly string[], from = 0, withLeadingRip = false): MainTrace {
  const start = lines.findIndex((l, i) => i >= from && CALL_TRACE_RE.test(l));
  const frames: TraceFrame[] = [];
  if (withLeadingRip) {
    const ripEnd = start >= 0 ? start : lines.length;
    for (let i = from; i < ripEnd; i++) {
      const rip = parseRipFrame(lines[i]!);
      if (rip) {
        frames.push({ frame: rip, section: 'unknown' });
        break;
      }
    }
  }
  if (start < 0) return { frames, start, complete: false };
  const sections: TraceSection[] = [];
  let sawTag = false;
  let complete = false;
  for (let i = start + 1; i < lines.length; i++) {
    const text = lines[i]!;
    const tag = SECTION_TAG_RE.exec(text);
    if (tag) {
      sawTag = true;
      if (tag[2] === 'EOI') continue;
      if (tag[1] === '/') {
        sections.pop();
        if (tag[2] === 'TASK') {
          complete = true;
          break;
        }
      } else {
        sections.push(tag[2]!.toLowerCase() as TraceSection);
      }
      continue;
    }
    const section = sections[sections.length - 1] ?? 'unknown';
    const rip = parseRipFrame(text);
    if (rip) {
      frames.push({ frame: rip, section });
      continue;
    }
    const frame = parseFrame(text);
    if (frame) {
      frames.push({ frame, section });
      continue;
    }
    if (isRegisterLine(text) || text.trim() === '') continue;
    if (!sawTag && frames.length > 0) {
      complete = true;
      break;
    }
  }
  return { frames, start, complete };
}

/** Frames right after line `at` (a `Freed by task 5:` or `backtrace:` label) up to the first non-frame. */
export function framesAfter(lines: readonly string[], at: number): Frame[] {
  const frames: Frame[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const text = lines[i]!;
    if (isSectionTag(text)) continue;
    const frame = parseFrame(text);
    if (!frame) break;
    frames.push(frame);
  }
  return frames;
}

export function withoutQuestionable(frames: readonly Frame[]): Frame[] {
  return frames.filter((f) => !f.inlined);
}

export function findLine(lines: readonly string[], re: RegExp, from = 0, to = lines.length): number {
  for (let i = from; i < Math.min(to, lines.length); i++) if (re.test(lines[i]!)) return i;
  return -1;
}
