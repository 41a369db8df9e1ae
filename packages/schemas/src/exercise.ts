import { z } from 'zod';

/** What the in-VM harness knows how to run; each test of an exercise names one. */
export const TestKind = z.enum([
  // module lifecycle
  'load', // finit_module within the timeout; for a fixed device, the node must appear
  'discover', // find the device nodes the module created (new /dev entries or /proc/devices majors)
  'unload_busy', // delete_module must be refused while the device is open
  'unload', // delete_module succeeds once the device is closed; the node goes away
  'kmemleak', // kmemleak scan after unload; leaks are reported as findings
  // msgbuf semantics (single-threaded)
  'empty_read',
  'write_read',
  'replace',
  'max_size',
  'read_offsets',
  'open_resets_offset',
  'alloc_failure', // fail the Nth allocation of a write (fail-nth); the driver must cope
  'bad_buffers', // write from / read into NULL, unmapped, kernel and half-mapped buffers: EFAULT, the message intact
  'offset_edges', // pread and lseek+read at the last byte, the end, past it, 2^31, 2^63-1; -1 gives EINVAL
  // concurrency
  'race_writers', // writers race whole messages while readers check every read is one whole message
  'race_open_close', // open/read/close storms racing writers
  'generic_stress', // chardev-generic: random-size writes, reads, lseek, open/close on every node (own_fds=1: no fd shared)
  // chardev-generic sweep: what a hostile user program hands a driver, each phase bounded
  'sweep_offsets', // lseek/pread/pwrite at 0, 1, size±1, PAGE±1, 2^31, 2^63-1, SEEK_END±k, negative; counts 0..1 MiB
  'sweep_pointers', // read/write with NULL, unmapped, kernel, half-mapped and read-only buffers
  'sweep_modes', // O_NONBLOCK reads and writes, poll and select with a timeout, an mmap attempt
  'sweep_ioctl', // _IO/_IOR/_IOW/_IOWR over type letters and small nr, sizes 1..256, valid and bad pointers
  'load_cycles', // unload and load the module again several times while threads open its nodes
  // ticker (exercises/ticker/README.md): a timer appends 16-byte {seq, ns} records to a ring of 64
  'ticker_records', // whole, well-formed records in order; count < 16 gives EINVAL; not faster than the period
  'ticker_blocking', // a blocking read waits and is woken; O_NONBLOCK gives EAGAIN; poll; a signal gives EINTR
  'ticker_period', // TICKER_SET_PERIOD bounds and bad pointers; the measured rate follows the period
  'ticker_sequence', // one reader: the ring overflows, the oldest go; gaps equal the drop counter; FLUSH counts none
  'ticker_readers', // blocking readers race (GET_DROPS/SET_PERIOD/poll too): every record to exactly one reader, gaps = drops
  'ticker_race_ioctl', // readers race FLUSH, SET_PERIOD, GET_DROPS, poll and open/close: no record read twice
  'ticker_unload_blocked', // delete_module while a reader blocks in read(): refused, and the reader still served
]);
export type TestKind = z.infer<typeof TestKind>;

const ParamValue = z.union([z.number().int(), z.string().regex(/^[A-Za-z0-9_./-]+$/)]);

/**
 * Who sees a test's result (Gradescope's four levels): `visible` always; `hidden` never (only
 * instructors); `after_due_date` once the student's due date has passed; `after_published` once
 * the instructor has published the assignment's grades. A student who cannot see every test does
 * not see the verdict or score either (they would tell the hidden results).
 */
export const TestVisibility = z.enum(['visible', 'hidden', 'after_due_date', 'after_published']);
export type TestVisibility = z.infer<typeof TestVisibility>;

export const ExerciseTest = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]*$/, 'test names are lower_snake_case'),
  kind: TestKind,
  description: z.string(),
  points: z.number().int().nonnegative(),
  timeoutSeconds: z.number().int().positive().max(300).default(20),
  /** kind-specific knobs (threads, seconds, size...), passed verbatim to the harness */
  params: z.record(z.string().regex(/^[a-z][a-z0-9_]*$/), ParamValue).default({}),
  /** the author's default for who sees this test (absent: visible); an assignment may override it */
  visibility: TestVisibility.optional(),
});
export type ExerciseTest = z.infer<typeof ExerciseTest>;

export const ExerciseSpec = z
  .object({
    slug: z.string().regex(/^[a-z][a-z0-9-]*$/),
    title: z.string().min(1),
    summary: z.string().min(1),
    /** the module the submission must build; absent: any single module name (chardev-generic) */
    module: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/).optional(),
    /** the node the module must create; absent: discovered after load */
    device: z.string().regex(/^\/dev\/[A-Za-z0-9_.-]+$/).optional(),
    limits: z
      .object({
        maxFiles: z.number().int().positive().default(16),
        maxFileBytes: z.number().int().positive().default(256 * 1024),
        maxTotalBytes: z.number().int().positive().default(1024 * 1024),
        buildTimeoutSeconds: z.number().int().positive().default(120),
        /** a function's stack frame above this many bytes is a `stack-frame` finding (gcc -Wframe-larger-than; KASAN's redzones count) */
        stackFrameBytes: z.number().int().min(128).max(16384).default(1024),
        /** wall clock for the whole VM run: boot, tests, unload */
        vmTimeoutSeconds: z.number().int().positive().default(240),
        /** kernel console bytes kept for analysis and display (the start and the end; reports from the middle come from the harness's own copy of the kernel log) */
        consoleBytes: z.number().int().positive().default(512 * 1024),
        /** console bytes after which the VM is stopped: far above the chatter limit, so a chatty driver's real bug still shows */
        consoleKillBytes: z.number().int().positive().default(8 * 1024 * 1024),
        /** console bytes the module may cause after loading, kernel reports aside, before it counts as a flood */
        chatterBytes: z.number().int().positive().default(64 * 1024),
      })
      .prefault({}),
    /**
     * What a solution may use beyond kgrader's default set for character drivers (allocation,
     * locking, user copies, device registration, wait queues, timers, work, printing): extra
     * kernel symbols (exact names or `prefix*`) and privileged instructions (AT&T mnemonics).
     * A module using anything else is refused at build time.
     */
    policy: z
      .object({
        symbols: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*\*?$/)).default([]),
        instructions: z.array(z.string().regex(/^[a-z][a-z0-9]*$/)).default([]),
      })
      .prefault({}),
    /**
     * run these tests (race tests, usually) a second time on the KCSAN kernel, which reports
     * data races (plain concurrent accesses) that corrupt nothing KASAN can see; costs a second
     * build and VM run
     */
    kcsan: z.object({ tests: z.array(z.string()).min(1) }).optional(),
    /** how findings count beyond failing the test they happened in */
    scoring: z
      .object({
        /** points a failing finding not tied to any test costs, once per kind (console flood, stack frame...) */
        findingPenalty: z.number().int().nonnegative().default(2),
        /** whether a console flood alone fails the driver; if not, it is reported as advice */
        chatterFails: z.boolean().default(true),
      })
      .prefault({}),
    tests: z.array(ExerciseTest).min(1),
  })
  .superRefine((spec, ctx) => {
    const names = new Set<string>();
    for (const [i, t] of spec.tests.entries()) {
      if (names.has(t.name)) {
        ctx.addIssue({ code: 'custom', path: ['tests', i, 'name'], message: `duplicate test name ${t.name}` });
      }
      names.add(t.name);
    }
    for (const name of spec.kcsan?.tests ?? []) {
      if (!names.has(name)) ctx.addIssue({ code: 'custom', path: ['kcsan', 'tests'], message: `kcsan names test ${name}, which the exercise does not have` });
    }
    if (spec.tests[0]?.kind !== 'load') {
      ctx.addIssue({ code: 'custom', path: ['tests', 0], message: 'the first test must be of kind load' });
    }
    if (!spec.device && !spec.tests.some((t) => t.kind === 'discover')) {
      ctx.addIssue({ code: 'custom', path: ['tests'], message: 'an exercise without a fixed device needs a discover test' });
    }
  });
export type ExerciseSpec = z.infer<typeof ExerciseSpec>;
export type ExerciseSpecInput = z.input<typeof ExerciseSpec>;

/** What grading a shipped solution must give: the exercise's own regression contract. */
export const SolutionExpectation = z.object({
  description: z.string(),
  verdict: z.enum(['pass', 'fail']),
  /** false: the solution is meant not to compile */
  builds: z.boolean().default(true),
  /** at least one finding must be of one of these kinds (how the bug must be caught) */
  anyOfFindingKinds: z.array(z.string()).default([]),
  /** each test must end other than pass */
  failingTests: z.array(z.string()).default([]),
  /** a substring the first matching finding's title must contain, e.g. `msgbuf_write` */
  titleIncludes: z.string().optional(),
  /**
   * `file:line` a finding of the expected kinds must point at, through its frames or, when its
   * stack does not pass through the module, its `suspect` (findings that would otherwise point
   * nowhere: out of memory, a lock held on return to user space, a crash after unload)
   */
  locatedAt: z.string().regex(/^[\w.-]+:\d+$/).optional(),
  /** the grading must mark the console as cut (console floods) */
  consoleTruncated: z.boolean().optional(),
  /**
   * the same solution graded again with the exercise changed: with kernel symbols allowed (so a
   * hostile module gets past the build-time check and a deeper defence must catch it on its
   * own), or with a KCSAN pass over some tests (data races KASAN cannot see)
   */
  variants: z
    .array(
      z.object({
        description: z.string(),
        allowSymbols: z.array(z.string()).default([]),
        kcsanTests: z.array(z.string()).default([]),
        verdict: z.enum(['pass', 'fail']),
        /** at least one finding must be of one of these kinds */
        anyOfFindingKinds: z.array(z.string()).default([]),
        /** the console capture's cap for this grading (`limits.consoleBytes`), e.g. small enough that a flood must be cut */
        consoleBytes: z.number().int().positive().optional(),
        /** the grading must mark the console as cut */
        consoleTruncated: z.boolean().optional(),
      }),
    )
    .default([]),
});
export type SolutionExpectation = z.infer<typeof SolutionExpectation>;

/** `exercises/<slug>/solutions.json`: solution folder name -> expectation. */
export const SolutionExpectations = z.record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/), SolutionExpectation);
export type SolutionExpectations = z.infer<typeof SolutionExpectations>;
