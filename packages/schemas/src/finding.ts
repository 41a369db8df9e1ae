import { z } from 'zod';

/** Report families the kernel-log analyzer recognises. */
export const FindingKind = z.enum([
  'kasan',
  'kcsan',
  'kfence',
  'lockdep',
  'atomic-sleep',
  'bug',
  'oops',
  'panic',
  'warning',
  'hung-task',
  'soft-lockup',
  'rcu-stall',
  'kmemleak',
  'ubsan',
  'list-corruption',
  'refcount',
  'stack-corruption',
  /** not a kernel report: kgrader measured the module printing far too much to the console */
  'console-flood',
  /** build-time policy: the module imports a kernel symbol or uses an instruction the exercise does not allow */
  'policy',
  /** the module interfered with grading: forged or broken result-channel events, forged test markers, printk settings changed, reports kept off the console */
  'tamper',
  /** after the module was loaded the harness vanished or the VM stopped reporting */
  'harness-lost',
  /** a function's stack frame is larger than the exercise allows (kernel stacks are 16 KiB) */
  'stack-frame',
  /** the kernel ran out of memory and its OOM killer killed a process (an OOM panic is a `panic`) */
  'oom',
]);
export type FindingKind = z.infer<typeof FindingKind>;

/** One stack frame of a report, symbolized as far as possible. */
export const Frame = z.object({
  function: z.string(),
  /** `msgbuf_write+0x45/0x120`: offset and size as the kernel printed them */
  offset: z.number().int().nonnegative().optional(),
  size: z.number().int().nonnegative().optional(),
  /** loadable module the function lives in (`[msgbuf]`); absent for the core kernel */
  module: z.string().optional(),
  /** source file and line, filled by the symbolizer for frames in the student's module */
  file: z.string().optional(),
  line: z.number().int().positive().optional(),
  /** the source line's text, when the symbolizer had the source at hand */
  source: z.string().optional(),
  /** frame printed inline (`? foo`) or unreliable: never reported, kept for completeness */
  inlined: z.boolean().optional(),
});
export type Frame = z.infer<typeof Frame>;

/** The faulting memory access, for KASAN/KFENCE/KCSAN and page-fault oopses. */
export const Access = z.object({
  type: z.enum(['read', 'write']),
  size: z.number().int().nonnegative().optional(),
  address: z.string().optional(),
});
export type Access = z.infer<typeof Access>;

export const Finding = z.object({
  kind: FindingKind,
  /** syzkaller-style one-line title, e.g. `KASAN: slab-use-after-free Write in msgbuf_write` */
  title: z.string(),
  access: Access.optional(),
  /** the main (crashing) stack, innermost first, without `?` frames */
  frames: z.array(Frame),
  /** extra stacks a report carries: KASAN's allocation and free stacks, lockdep's chains */
  stacks: z
    .array(z.object({ label: z.string(), frames: z.array(Frame) }))
    .optional(),
  /** the report's text with timestamps stripped */
  raw: z.string(),
  /** true when the report ended before its end marker: nothing beyond what was printed is claimed */
  truncated: z.boolean().optional(),
  /** 0-based index of the report's first line in the console log */
  line: z.number().int().nonnegative().optional(),
  /** the harness test that was running when the report appeared (from kgrader markers) */
  test: z.string().optional(),
  /** how many times the same title was seen in this log (later copies are folded into this one) */
  count: z.number().int().positive().optional(),
  /**
   * the report reached the console damaged (lines lost, cut short, or another CPU printing into
   * it): its family is right but its details may not be, and a title ending in `in corrupted` had
   * no frame it could name
   */
  corrupted: z.boolean().optional(),
  /**
   * this report follows from an earlier one and is not a bug of its own (a crash in the allocator
   * after a KASAN double-free, a sleeping-in-atomic report from a task dying of an oops): the index,
   * in the same findings list, of the finding that caused it
   */
  consequenceOf: z.number().int().nonnegative().optional(),
  /** reported for the student's information only: it does not fail the driver (e.g. chatter, where the exercise allows it) */
  advisory: z.boolean().optional(),
  /**
   * for a finding whose stack does not pass through the module: where in the student's code it
   * most likely comes from, found elsewhere (the report's other stacks, module functions it names,
   * the module's own calls of the failing kind), and how sure that is
   */
  suspect: z
    .object({
      function: z.string(),
      file: z.string().optional(),
      line: z.number().int().positive().optional(),
      source: z.string().optional(),
      confidence: z.enum(['high', 'medium', 'low']),
      why: z.string(),
    })
    .optional(),
});
export type Finding = z.infer<typeof Finding>;

/** A line of the student's source a finding points at. */
export const SourceLine = z.object({
  file: z.string(),
  line: z.number().int(),
  function: z.string(),
  source: z.string().optional(),
});
export type SourceLine = z.infer<typeof SourceLine>;

/**
 * The student's source lines a finding points at, innermost first: its main stack's frames in
 * the student's files, else the suspect's line (derived on read, never stored apart from the finding).
 */
export function sourceLinesOf(f: Pick<Finding, 'frames' | 'suspect'>): SourceLine[] {
  const lines = f.frames
    .filter((fr) => fr.file && fr.line)
    .map((fr) => ({ file: fr.file!, line: fr.line!, function: fr.function, ...(fr.source ? { source: fr.source } : {}) }));
  if (lines.length === 0 && f.suspect?.file && f.suspect.line) {
    lines.push({ file: f.suspect.file, line: f.suspect.line, function: f.suspect.function, ...(f.suspect.source ? { source: f.suspect.source } : {}) });
  }
  return lines;
}
