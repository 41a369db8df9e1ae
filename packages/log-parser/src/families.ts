import type { FindingKind } from '@kgrader/schemas';
import { hangFrame, stallFrame, type FramePicker } from './guilty-frame.js';

/**
 * The family table: every kernel report kgrader recognises, in the shape of syzkaller's
 * pkg/report (`linuxOopses`): a group per header marker, and in each group the title formats, tried
 * in order, each saying which lines make the report, how its title reads, which stack and which
 * frame of it the title names, what to skip there, and where the report ends.
 *
 * Regexes here are written for single lines (the kernel prints at most ~1 KiB per line and the
 * parser caps lines at that length), start with a literal where they can, and nest no quantifiers,
 * so a hostile console cannot make them backtrack for long.
 */

/** How the collector sees a report's end (the title never depends on it). */
export type EndRule =
  /** a line of `=` (KASAN, KCSAN, KFENCE, UBSAN print one after the report) */
  | 'separator'
  /** `---[ end trace ... ]---` (oops, WARNING, BUG: everything going through oops_end/__warn) */
  | 'end-trace'
  /** the end of the main `Call Trace:` (`</TASK>`): lockdep, hung task, stalls, might_sleep */
  | 'trace'
  /** `---[ end Kernel panic - not syncing: ... ]---` */
  | 'panic'
  /** the end of kmemleak's `backtrace:` frame list */
  | 'kmemleak'
  /** the end of lockdep's `#N: lock` list (reports printed without a stack) */
  | 'lock-list'
  /** a one-line message */
  | 'line';

/**
 * What the analyzer extracts besides the title: the access, the extra stacks, and which stack is
 * the finding's main one (`frames`).
 */
export type DetailsRule =
  | 'kasan'
  | 'kfence'
  | 'kcsan'
  | 'kmsan'
  | 'oops'
  | 'page-fault'
  | 'lockdep'
  | 'atomic-sleep'
  | 'stall'
  | 'rcu-stall'
  | 'kmemleak'
  | 'trace';

/**
 * One step of finding the title's frame (syzkaller's stackFmt parts): `find` advances to the first
 * following line the regex matches and takes its capture groups as frames; `'trace'` reads stack
 * frames until the next stack starts (`Allocated by task`, `Call Trace:`...) or the next step's
 * line appears.
 */
export type StackStep = { find: RegExp } | 'trace';

export interface StackRule {
  steps: readonly StackStep[];
  /** tried when `steps` yield no frame (e.g. a WARNING printed without a `RIP:` line) */
  fallback?: readonly StackStep[];
  /** unanchored patterns of functions to skip, on top of the always-skipped ones */
  skip?: readonly string[];
  /** which of the remaining frames to name (default: the first) */
  pick?: FramePicker;
  /**
   * kgrader: a frame printed as a bare address (`[<..>] 0xffffffffa0000028`) is a frame too. kmemleak
   * prints the frames of a module unloaded since the allocation that way, and the symbolizer can
   * still name them; elsewhere a bare address is a garbage PC.
   */
  rawAddresses?: boolean;
}

export interface TitleFormat {
  /** stable name, used in tests and in the corpus statistics */
  id: string;
  kind: FindingKind;
  /**
   * Where the title is: the first pattern matches the report's title line (it starts with the
   * group's marker); more patterns must then match later lines, in order (syzkaller's title regex).
   */
  match: readonly RegExp[];
  /**
   * Lines the report must also contain, from the title line on and in order, for this format to
   * apply (syzkaller's report regex); their capture groups replace those of `match`.
   */
  report?: readonly RegExp[];
  /** `{1}`, `{2}`...: capture groups; `{frame}`: the frame chosen by `stack` */
  title: string;
  stack?: StackRule;
  /** the report normally has no stack trace, so a missing one does not make it corrupted */
  noStackTrace?: boolean;
  /** only a damaged report looks like this (e.g. `Kernel panic - not syncing: Fatal exception` alone) */
  corrupted?: boolean;
  /** lines other CPUs print (`[    C1]`, NMI backtraces) while this report is open belong to it */
  acceptsOtherCpus?: boolean;
  end?: EndRule;
  details?: DetailsRule;
}

export interface ReportGroup {
  /** a line containing this text (anywhere, as syzkaller matches) may start a report */
  marker: string;
  /** refines `marker` for kgrader's own groups, whose markers are common words */
  header?: RegExp;
  /** lines with the marker that are not reports (`ODEBUG:` contains `BUG:`...) */
  notReports?: readonly RegExp[];
  /** inside an open report this line continues it (`Kernel panic` after an oops, `invalid opcode`...) */
  continuesOpenReport?: boolean;
  /**
   * kgrader's own groups for lines that come before the header syzkaller titles (`list_del
   * corruption.` before `kernel BUG at lib/list_debug.c`): the report starts here but is titled by
   * the first line of another group inside it, when there is one.
   */
  prologue?: boolean;
  /** a header syzkaller does not know (kgrader reads it for our kernel's own output) */
  kgraderOnly?: boolean;
  formats: readonly TitleFormat[];
  /** defaults for the group's formats, and what a report none of them fits is */
  kind: FindingKind;
  end: EndRule;
  details: DetailsRule;
}

// Building blocks, as syzkaller names them.
/** a function in a frame: `name+0x..` or `name.isra.0+0x..`; group 1 is the name */
const FUNC = String.raw`([A-Za-z0-9_]+)[.+]`;
/** `[<ffffffff81234567>]` */
const PC = String.raw`\[<?(?:0x)?[0-9a-f]+>?\]`;
/** `kernel/locking/lockdep.c:123` (starting at a word boundary, which keeps the search linear) */
const SRC = String.raw`(?<![A-Za-z0-9_/.-])([A-Za-z0-9_/.-]+\.[a-z]+:[0-9]+)`;
/** The faulting PC line: `RIP: 0010:foo+0x1/0x2`, `IP: [<..>] foo+..`, arm64 `pc : foo+..`, ppc `NIP:` */
const RIP_FRAME = new RegExp(
  String.raw`(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:${PC} +){0,2}${FUNC}|(?:[0-9]+:)?0x[0-9a-f]+|(?:[0-9]+:)?${PC} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))`,
);
const CALL_TRACE = /Call [Tt]race:|Backtrace:/;
const AT_FUNC = new RegExp(String.raw`at: (?:${PC} +)?${FUNC}`);
const PC_FUNC = new RegExp(String.raw`${PC} +${FUNC}`);

const rip = { find: RIP_FRAME } as const;
const callTrace = { find: CALL_TRACE } as const;
const find = (re: RegExp): StackStep => ({ find: re });
const re = (source: string): RegExp => new RegExp(source);

/** The stack of a report whose title frame is its faulting PC: `RIP:` line, then the call trace. */
const ripThenTrace = (skip?: readonly string[], pick?: FramePicker): StackRule => ({
  steps: [rip, callTrace, 'trace'],
  ...(skip ? { skip } : {}),
  ...(pick ? { pick } : {}),
});
const callTraceOnly = (skip?: readonly string[], pick?: FramePicker): StackRule => ({
  steps: [callTrace, 'trace'],
  ...(skip ? { skip } : {}),
  ...(pick ? { pick } : {}),
});
/**
 * WARNINGs: newer kernels trap (`RIP:` line, then the stack), older ones print the stack after
 * `__warn`/`warn_slowpath_*` frames; powerpc says `--- interrupt: 700 at foo+0x..`.
 */
const warningStack = (...skip: string[]): StackRule => ({
  steps: [{ find: new RegExp(String.raw`(?:${RIP_FRAME.source}|--- interrupt: [0-9]+ at ${FUNC})`) }, 'trace'],
  fallback: [callTrace, 'trace'],
  skip,
});

/**
 * What a task calls to sleep: `scheduling while atomic` names the caller (syzkaller skips only
 * `schedule`; kgrader also the sleeping helpers a driver calls, so `msleep()` in a timer callback
 * is titled after the callback).
 */
const SLEEPING_PRIMITIVES = ['schedule', '^msleep', '^usleep_range', '^ssleep', 'nanosleep', '^_*cond_resched', '^_*wait_event', '^_*down$', '^down_(?:interruptible|killable|timeout)'];
const KMSAN_SKIP = ['alloc_skb', 'netlink_ack', 'netlink_rcv_skb', '_encrypt$', '^(?:crypto|cipher|drbg|rng)_'];
const KMSAN_STACK = (skip: readonly string[]): StackRule => ({
  steps: ['trace', find(/Local variable .* created at:|Uninit was created at:/), 'trace'],
  skip,
});
/** kmemleak's allocation stack names the allocator's caller. */
const LEAK_STACK: StackRule = {
  steps: [find(/backtrace(?: \(crc [0-9a-f]*\))?:/), 'trace'],
  skip: [
    'kmemleak', 'mmap', 'kmem', 'slab', 'alloc', 'create_object', 'idr_get', 'list_lru_init', 'kasprintf',
    'kvasprintf', 'pcpu_create', 'strdup', 'strndup', 'memdup',
  ],
  rawAddresses: true,
};

export const REPORT_GROUPS: readonly ReportGroup[] = [
  {
    marker: 'BUG:',
    kind: 'bug',
    notReports: [/ODEBUG:/, /Boot_DEBUG:/, /xlog_status:/, /DEBUG:/, /BUG: no syscalls can create resource/],
    end: 'end-trace',
    details: 'trace',
    formats: [
      {
        id: 'kasan',
        kind: 'kasan',
        match: [/BUG: KASAN:/],
        report: [re(String.raw`BUG: KASAN: ([a-z-]+) in ${FUNC}`), /(Read|Write) (?:of size|at addr) [0-9a-f]+/],
        title: 'KASAN: {1} {3} in {frame}',
        stack: {
          steps: [find(re(String.raw`BUG: KASAN: [a-z-]+ in ${FUNC}`)), callTrace, 'trace'],
          // frames of hardware tag-based KASAN's fault path (arm64)
          skip: ['kernel_fault', 'tag_check', 'mem_abort', '^el1_', '^el1h_'],
        },
        end: 'separator',
        details: 'kasan',
      },
      {
        id: 'kasan-invalid-free',
        kind: 'kasan',
        match: [/BUG: KASAN:/],
        report: [re(String.raw`BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in ${FUNC}`)],
        title: 'KASAN: invalid-free in {frame}',
        stack: {
          steps: [find(re(String.raw`BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in ${FUNC}`)), callTrace, 'trace'],
          skip: ['slab_', 'kfree', 'vunmap', 'vfree'],
        },
        end: 'separator',
        details: 'kasan',
      },
      {
        id: 'kasan-on-address',
        kind: 'kasan',
        match: [/BUG: KASAN: ([a-z-]+) on address/, /(Read|Write) of size ([0-9]+)/],
        title: 'KASAN: {1} {2}',
        end: 'separator',
        details: 'kasan',
      },
      { id: 'kasan-corrupted', kind: 'kasan', match: [/BUG: KASAN: (.*)/], title: 'KASAN: {1}', corrupted: true, end: 'separator', details: 'kasan' },
      {
        id: 'kmsan-usb-infoleak',
        kind: 'bug',
        match: [/BUG: KMSAN: kernel-usb-infoleak/],
        report: [re(String.raw`BUG: KMSAN: kernel-usb-infoleak in ${FUNC}`)],
        title: 'KMSAN: kernel-usb-infoleak in {frame}',
        stack: KMSAN_STACK(['alloc_skb', 'usb_submit_urb', 'usb_start_wait_urb', 'usb_bulk_msg', 'usb_interrupt_msg', 'usb_control_msg']),
        noStackTrace: true,
        end: 'separator',
        details: 'kmsan',
      },
      {
        id: 'kmsan',
        kind: 'bug',
        match: [/BUG: KMSAN:/],
        report: [re(String.raw`BUG: KMSAN: ([a-z-]+) in ${FUNC}`)],
        title: 'KMSAN: {1} in {frame}',
        stack: KMSAN_STACK(KMSAN_SKIP),
        noStackTrace: true,
        end: 'separator',
        details: 'kmsan',
      },
      { id: 'kcsan', kind: 'kcsan', match: [/BUG: KCSAN:/], report: [/BUG: KCSAN: (.*)/], title: 'KCSAN: {1}', noStackTrace: true, end: 'separator', details: 'kcsan' },
      {
        id: 'kfence',
        kind: 'kfence',
        match: [re(String.raw`BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in ${FUNC}`)],
        title: 'KFENCE: {1} {2} in {frame}',
        stack: { steps: [find(re(String.raw`BUG: KFENCE: [a-z -]+ in ${FUNC}`)), 'trace'] },
        end: 'separator',
        details: 'kfence',
      },
      {
        id: 'kfence-invalid-free',
        kind: 'kfence',
        match: [re(String.raw`BUG: KFENCE: invalid free in ${FUNC}`)],
        title: 'KFENCE: invalid free in {frame}',
        stack: { steps: [find(re(String.raw`BUG: KFENCE: [a-z -]+ in ${FUNC}`)), 'trace'] },
        noStackTrace: true,
        end: 'separator',
        details: 'kfence',
      },
      {
        id: 'kfence-invalid-access',
        kind: 'kfence',
        match: [re(String.raw`BUG: KFENCE: invalid (read|write) in ${FUNC}`)],
        title: 'KFENCE: invalid {1} in {frame}',
        stack: { steps: [find(re(String.raw`BUG: KFENCE: [a-z -]+ in ${FUNC}`)), 'trace'] },
        end: 'separator',
        details: 'kfence',
      },
      {
        id: 'kfence-corruption',
        kind: 'kfence',
        match: [re(String.raw`BUG: KFENCE: memory corruption in ${FUNC}`)],
        title: 'KFENCE: memory corruption in {frame}',
        stack: { steps: [find(re(String.raw`BUG: KFENCE: [a-z -]+ in ${FUNC}`)), 'trace'] },
        noStackTrace: true,
        end: 'separator',
        details: 'kfence',
      },
      {
        id: 'paging-request',
        kind: 'oops',
        match: [/BUG: (?:unable to handle kernel paging request|unable to handle page fault for address|Unable to handle kernel data access)/],
        title: 'BUG: unable to handle kernel paging request in {frame}',
        stack: ripThenTrace(),
        details: 'page-fault',
      },
      {
        id: 'null-deref',
        kind: 'oops',
        match: [/BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference|Kernel NULL pointer dereference)/],
        title: 'BUG: unable to handle kernel NULL pointer dereference in {frame}',
        stack: ripThenTrace(),
        details: 'page-fault',
      },
      // The kernel prints this header in two printk calls; the second half can be lost.
      { id: 'unable-to-handle-corrupted', kind: 'oops', match: [/BUG: (?:unable to handle kernel|Unable to handle kernel)/], title: 'BUG: unable to handle kernel', corrupted: true, details: 'page-fault' },
      {
        id: 'spinlock',
        kind: 'lockdep',
        match: [/BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)/],
        title: 'BUG: {1} {2} in {frame}',
        stack: callTraceOnly(['spin_', '_lock', '_unlock']),
        end: 'trace',
      },
      { id: 'soft-lockup', kind: 'soft-lockup', match: [/BUG: soft lockup/], title: 'BUG: soft lockup in {frame}', stack: ripThenTrace(undefined, stallFrame), end: 'trace', details: 'stall' },
      { id: 'bug-still-holding', kind: 'lockdep', match: [/BUG: .*still has locks held!/], report: [/BUG: .*still has locks held!/, PC_FUNC], title: 'BUG: still has locks held in {1}', end: 'trace', details: 'lockdep' },
      { id: 'scheduling-while-atomic', kind: 'atomic-sleep', match: [/BUG: scheduling while atomic/], title: 'BUG: scheduling while atomic in {frame}', stack: callTraceOnly(SLEEPING_PRIMITIVES), end: 'trace', details: 'atomic-sleep' },
      {
        id: 'bug-lock-held-return',
        kind: 'lockdep',
        match: [/BUG: lock held when returning to user space/],
        report: [/BUG: lock held when returning to user space/, /leaving the kernel with locks still held/, re(String.raw`at: (?:${PC} +)?${FUNC}`)],
        title: 'BUG: lock held when returning to user space in {1}',
        noStackTrace: true,
        end: 'lock-list',
        details: 'lockdep',
      },
      {
        id: 'bug-bad-unlock',
        kind: 'lockdep',
        match: [/BUG: bad unlock balance detected!/],
        title: 'BUG: bad unlock balance in {frame}',
        stack: { steps: [find(PC_FUNC), callTrace, 'trace'] },
        end: 'trace',
        details: 'lockdep',
      },
      { id: 'bug-held-lock-freed', kind: 'lockdep', match: [/BUG: held lock freed!/], report: [/BUG: held lock freed!/, PC_FUNC], title: 'BUG: held lock freed in {1}', end: 'trace', details: 'lockdep' },
      { id: 'bad-rss-counter', kind: 'bug', match: [/BUG: Bad rss-counter state/], title: 'BUG: Bad rss-counter state', noStackTrace: true, end: 'line' },
      { id: 'nr-ptes', kind: 'bug', match: [/BUG: non-zero nr_ptes on freeing mm/], title: 'BUG: non-zero nr_ptes on freeing mm', noStackTrace: true, end: 'line' },
      { id: 'nr-pmds', kind: 'bug', match: [/BUG: non-zero nr_pmds on freeing mm/], title: 'BUG: non-zero nr_pmds on freeing mm', noStackTrace: true, end: 'line' },
      {
        // The file system type and block device of the message would split one bug into many.
        id: 'dentry-in-use',
        kind: 'bug',
        match: [/BUG: Dentry .* still in use/],
        report: [/BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ([^\]]+)\]/],
        title: 'BUG: Dentry still in use in {1}',
      },
      {
        id: 'bad-page',
        kind: 'bug',
        match: [/BUG: Bad page (state|cache)/],
        title: 'BUG: Bad page {1} in {frame}',
        stack: {
          steps: [find(/page last allocated/), 'trace'],
          skip: ['(free|put|get|update|release)_page', 'free_unref', '^_*folio', 'truncate_inode_pages', 'page_frag_free', 'alloc', 'vmap', 'page_owner'],
        },
        end: 'trace',
      },
      { id: 'bad-page-map', kind: 'bug', match: [/BUG: Bad page map/], title: 'BUG: Bad page map', end: 'trace' },
      { id: 'workqueue-lockup', kind: 'hung-task', match: [/BUG: workqueue lockup/], title: 'BUG: workqueue lockup', noStackTrace: true, end: 'line' },
      {
        id: 'might-sleep',
        kind: 'atomic-sleep',
        match: [/BUG: sleeping function called from invalid context at (.*)/],
        title: 'BUG: sleeping function called from invalid context in {frame}',
        // kgrader: kmemleak's bookkeeping allocates too, and is never the culprit.
        stack: callTraceOnly(['create_object', 'kmemleak']),
        end: 'trace',
        details: 'atomic-sleep',
      },
      {
        id: 'preemptible',
        kind: 'bug',
        match: [/BUG: using ([a-z_]+)\(\) in preemptible/],
        title: 'BUG: using {1}() in preemptible code in {frame}',
        stack: callTraceOnly(['dump_stack', 'preemption', 'preempt', 'debug_', 'processor_id', 'this_cpu']),
        end: 'trace',
      },
      {
        id: 'workqueue-leak',
        kind: 'lockdep',
        match: [/BUG: workqueue leaked lock or atomic/],
        report: [/BUG: workqueue leaked lock or atomic/, /last function: ([a-zA-Z0-9_]+)$/],
        title: 'BUG: workqueue leaked lock or atomic in {1}',
        noStackTrace: true,
        end: 'trace',
      },
      { id: 'memory-leak', kind: 'kmemleak', match: [/BUG: memory leak/], title: 'memory leak in {frame}', stack: LEAK_STACK, end: 'kmemleak', details: 'kmemleak' },
      { id: 'stack-guard', kind: 'stack-corruption', match: [/BUG: .*stack guard page was hit at/], title: 'BUG: stack guard page was hit in {frame}', stack: ripThenTrace(undefined, stallFrame) },
      {
        // arm64's report of what x86 prints as a lockdep WARNING: titled the same way.
        id: 'invalid-wait-context',
        kind: 'lockdep',
        match: [/BUG: Invalid wait context/],
        title: 'WARNING: locking bug in {frame}',
        stack: callTraceOnly(['lock_sock', 'release_sock']),
        end: 'trace',
        details: 'lockdep',
      },
      { id: 'bug-corrupted', kind: 'bug', match: [/BUG:\s*$/], title: 'BUG: corrupted', corrupted: true },
    ],
  },
  {
    // Several titles depend on the file a WARNING names. `WARNING: .*file.* func` is written
    // `WARNING: (?=(.*?file))\1.* func`: the first occurrence of the file is taken atomically
    // (lookahead, then backreference), which finds the same lines and stays linear on a line
    // repeating the file name.
    marker: 'WARNING:',
    kind: 'warning',
    notReports: [
      /WARNING: \/etc\/ssh\/moduli does not exist, using fixed modulus/,
      /WARNING: workqueue cpumask: online intersect > possible intersect/,
      /WARNING: [Tt]he mand mount option/,
      /WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1/,
      /WARNING: Unprivileged eBPF is enabled with eIBRS/,
      /WARNING: fbcon: Driver '.*' missed to adjust virtual screen size/,
      /WARNING: See https.* for mitigation options\./,
      /WARNING: kernel not compiled with CPU_SRSO/,
      /EXT4-[Ff][Ss](?: \(.*\))?:/,
      /warning: .* uses (?:deprecated v2 capabilities|wireless extensions)/i,
      /XFS \(\w+\): WARNING/,
    ],
    end: 'end-trace',
    details: 'oops',
    formats: [
      {
        id: 'odebug',
        kind: 'warning',
        match: [/WARNING: (?=(.*?lib\/debugobjects\.c))\1.* (?:debug_print|debug_check|at)/],
        title: 'WARNING: ODEBUG bug in {frame}',
        // the users of debug objects (timers, work, RCU...) are not the bug either
        stack: warningStack('debug_', 'rcu', 'hrtimer_', 'timer_', 'work_', 'percpu_', 'vunmap', 'vfree', '__free_', 'debug_check', 'kobject_'),
      },
      { id: 'warning-usercopy', kind: 'warning', match: [/WARNING: (?=(.*?mm\/usercopy\.c))\1.* (?:usercopy_warn|at)/], title: 'WARNING: bad usercopy in {frame}', stack: warningStack('usercopy', '__check') },
      { id: 'kobject', kind: 'warning', match: [/WARNING: (?=(.*?lib\/kobject\.c))\1.* (?:kobject_|at)/], title: 'WARNING: kobject bug in {frame}', stack: warningStack('kobject_') },
      { id: 'proc-registration', kind: 'warning', match: [/WARNING: (?=(.*?fs\/proc\/generic\.c))\1.* (?:proc_register|at)/], title: 'WARNING: proc registration bug in {frame}', stack: warningStack('proc_') },
      { id: 'refcount', kind: 'refcount', match: [/WARNING: (?=(.*?lib\/refcount\.c))\1.* (?:refcount_|at)/], title: 'WARNING: refcount bug in {frame}', stack: warningStack('refcount', 'kobject_') },
      // kgrader: without CONFIG_BUG_ON_DATA_CORRUPTION list_debug WARN()s instead of BUG()ing; same bug, same title
      { id: 'warning-list-debug', kind: 'list-corruption', match: [/WARNING: .*lib\/list_debug\.c/], title: 'BUG: corrupted list in {frame}', stack: warningStack() },
      { id: 'locking-bug', kind: 'lockdep', match: [/WARNING: (?=(.*?kernel\/locking\/lockdep\.c))\1.*lock_/], title: 'WARNING: locking bug in {frame}', stack: warningStack('lock_sock', 'release_sock') },
      { id: 'warning-still-holding', kind: 'lockdep', match: [/WARNING: .*still has locks held!/], report: [/WARNING: .*still has locks held!/, re(String.raw`at: ${FUNC}`)], title: 'WARNING: still has locks held in {1}', end: 'trace', details: 'lockdep' },
      { id: 'nested-lock', kind: 'lockdep', match: [/WARNING: Nested lock was not taken/], title: 'WARNING: nested lock was not taken in {frame}', stack: warningStack(), end: 'trace', details: 'lockdep' },
      {
        id: 'warning-lock-held-return',
        kind: 'lockdep',
        match: [/WARNING: lock held when returning to user space/],
        report: [/WARNING: lock held when returning to user space/, /leaving the kernel with locks still held/, re(String.raw`at: (?:${PC} +)?${FUNC}`)],
        title: 'WARNING: lock held when returning to user space in {1}',
        noStackTrace: true,
        end: 'lock-list',
        details: 'lockdep',
      },
      // `WARNING: .*mm/.*\.c.* k?.?malloc`, with the first `mm/` and the first `.c` after it taken
      // atomically (lookahead and backreference): three nested `.*` would backtrack cubically.
      { id: 'kmalloc-bug', kind: 'warning', match: [/WARNING: (?=(.*?mm\/))\1(?=(.*?\.c))\2.* k?.?malloc/], title: 'WARNING: kmalloc bug in {frame}', stack: warningStack('kmalloc', 'krealloc', 'slab', 'kmem') },
      { id: 'zero-size-vmalloc', kind: 'warning', match: [/WARNING: (?=(.*?mm\/vmalloc.c))\1.*__vmalloc_node/], title: 'WARNING: zero-size vmalloc in {frame}', stack: warningStack() },
      {
        id: 'usb-submit-urb',
        kind: 'warning',
        match: [/WARNING: .* usb_submit_urb/],
        title: 'WARNING in {frame}/usb_submit_urb',
        stack: warningStack('usb_submit_urb', 'usb_start_wait_urb', 'usb_bulk_msg', 'usb_interrupt_msg', 'usb_control_msg'),
      },
      { id: 'warning-new-format', kind: 'warning', match: [re(String.raw`WARNING: ${SRC} at 0x\d+, CPU#\d+`)], title: 'WARNING in {frame}', stack: warningStack() },
      { id: 'warning', kind: 'warning', match: [re(String.raw`WARNING: .* at ${SRC} ${FUNC}`)], title: 'WARNING in {frame}', stack: warningStack() },
      { id: 'warning-short', kind: 'warning', match: [re(String.raw`WARNING: ${SRC} at ${FUNC}`)], title: 'WARNING in {frame}', stack: warningStack() },
      { id: 'warning-bracketed', kind: 'warning', match: [re(String.raw`WARNING: \[.*\] ${SRC} at ${FUNC}`)], title: 'WARNING in {frame}', stack: warningStack() },
      {
        id: 'circular-locking',
        kind: 'lockdep',
        match: [/WARNING: possible circular locking dependency detected/],
        report: [/WARNING: possible circular locking dependency detected/, /is trying to acquire lock/],
        title: 'possible deadlock in {frame}',
        stack: {
          // the lock being taken, then the lock held, then the stack
          steps: [find(AT_FUNC), find(AT_FUNC), 'trace'],
          // workqueue functions take locks of work items: deadlocks seen there belong to the work
          skip: ['process_one_work', 'flush_workqueue', 'drain_workqueue', 'destroy_workqueue'],
        },
        end: 'trace',
        details: 'lockdep',
      },
      {
        id: 'irq-lock-inversion',
        kind: 'lockdep',
        match: [/WARNING: possible irq lock inversion dependency detected/],
        report: [/WARNING: possible irq lock inversion dependency detected/, /just changed the state of lock/, AT_FUNC],
        title: 'possible deadlock in {1}',
        end: 'trace',
        details: 'lockdep',
      },
      {
        id: 'irq-safe-unsafe',
        kind: 'lockdep',
        match: [/WARNING: (?=(.*?-safe -> ))\1.*-unsafe lock order detected/],
        title: 'possible deadlock in {frame}',
        stack: { steps: [find(/which became .* at:/), 'trace'] },
        end: 'trace',
        details: 'lockdep',
      },
      {
        id: 'recursive-locking',
        kind: 'lockdep',
        match: [/WARNING: possible recursive locking detected/],
        report: [/WARNING: possible recursive locking detected/, /is trying to acquire lock/, AT_FUNC],
        title: 'possible deadlock in {1}',
        end: 'trace',
        details: 'lockdep',
      },
      {
        id: 'inconsistent-lock-state',
        kind: 'lockdep',
        match: [/WARNING: inconsistent lock state/],
        report: [/WARNING: inconsistent lock state/, /takes/, AT_FUNC],
        title: 'inconsistent lock state in {frame}',
        // kgrader: 6.1 prints print_usage_bug <- valid_state <- mark_lock; syzkaller's corpus (older
        // kernels, where valid_state is inlined) never shows it, and naming it hides the driver
        stack: callTraceOnly(['^valid_state$']),
        end: 'trace',
        details: 'lockdep',
      },
      {
        id: 'suspicious-rcu',
        kind: 'lockdep',
        match: [/WARNING: suspicious RCU usage/],
        report: [/WARNING: suspicious RCU usage/, re(SRC)],
        title: 'WARNING: suspicious RCU usage in {frame}',
        stack: callTraceOnly(['rcu', 'kmem', 'slab']),
        end: 'trace',
        details: 'lockdep',
      },
      { id: 'stack-regs-bad', kind: 'warning', match: [/WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value/], title: "WARNING: kernel stack regs has bad '{1}' value", noStackTrace: true },
      { id: 'stack-frame-pointer-bad', kind: 'warning', match: [/WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value/], title: 'WARNING: kernel stack frame pointer has bad value', noStackTrace: true },
      {
        id: 'warning-bad-unlock',
        kind: 'lockdep',
        match: [/WARNING: bad unlock balance detected!/],
        title: 'WARNING: bad unlock balance in {frame}',
        // kgrader: the releasing PC of a module already unloaded (a timer it left running) is a bare
        // address; it names the report (the symbolizer can still map it) instead of `corrupted`
        stack: { steps: [find(new RegExp(String.raw`${PC} +(?:${FUNC}|(0x[0-9a-f]+)\s*$)`)), callTrace, 'trace'] },
        end: 'trace',
        details: 'lockdep',
      },
      {
        id: 'warning-held-lock-freed',
        kind: 'lockdep',
        match: [/WARNING: held lock freed!/],
        report: [/WARNING: held lock freed!/, re(String.raw`at:(?: ${PC})? +${FUNC}`)],
        title: 'WARNING: held lock freed in {1}',
        end: 'trace',
        details: 'lockdep',
      },
      { id: 'stack-regs-bad-bp', kind: 'warning', match: [/WARNING: kernel stack regs .* has bad 'bp' value/], title: 'WARNING: kernel stack regs has bad value', noStackTrace: true },
      { id: 'stack-frame-pointer-bad-value', kind: 'warning', match: [/WARNING: kernel stack frame pointer .* has bad value/], title: 'WARNING: kernel stack regs has bad value', noStackTrace: true },
      { id: 'warning-corrupted', kind: 'warning', match: [/WARNING:\s*$/], title: 'WARNING: corrupted', corrupted: true },
    ],
  },
  {
    marker: 'INFO:',
    // an INFO report none of the formats knows is a stack dump, not a crash
    kind: 'warning',
    notReports: [
      /INFO: lockdep is turned off/,
      /INFO: Stall ended before state dump start/,
      /INFO: NMI handler/,
      /INFO: recovery required on readonly filesystem/,
      // (the first `handler`/`interrupt` is taken atomically, so a line full of them stays linear)
      /^(?=(.*?(?:handler|interrupt)))\1.*took too long/,
      /INFO: sys_.* is not present in \/proc\/kallsyms/,
      /INFO: no syscalls can create resource/,
      /rmt_storage:INFO:/,
      /_INFO:/,
    ],
    end: 'trace',
    details: 'lockdep',
    formats: [
      {
        id: 'info-circular-locking',
        kind: 'lockdep',
        match: [/INFO: possible circular locking dependency detected/],
        report: [/INFO: possible circular locking dependency detected \]/, /is trying to acquire lock/, re(String.raw`at: ${PC} +${FUNC}`)],
        title: 'possible deadlock in {1}',
      },
      {
        id: 'info-irq-lock-inversion',
        kind: 'lockdep',
        match: [/INFO: possible irq lock inversion dependency detected/],
        report: [/INFO: possible irq lock inversion dependency detected \]/, /just changed the state of lock/, re(String.raw`at: ${PC} +${FUNC}`)],
        title: 'possible deadlock in {1}',
      },
      {
        id: 'info-softirq-safe-unsafe',
        kind: 'lockdep',
        match: [/INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected/],
        report: [/INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \]/, /is trying to acquire/, re(String.raw`at: ${PC} +${FUNC}`)],
        title: 'possible deadlock in {1}',
      },
      {
        id: 'info-recursive-locking',
        kind: 'lockdep',
        match: [/INFO: possible recursive locking detected/],
        report: [/INFO: possible recursive locking detected \]/, /is trying to acquire lock/, re(String.raw`at: ${PC} +${FUNC}`)],
        title: 'possible deadlock in {1}',
      },
      {
        id: 'info-inconsistent-lock-state',
        kind: 'lockdep',
        match: [/INFO: inconsistent lock state/],
        report: [/INFO: inconsistent lock state \]/, /takes/, re(String.raw`at: ${PC} +${FUNC}`)],
        title: 'inconsistent lock state in {1}',
      },
      {
        id: 'rcu-stall',
        kind: 'rcu-stall',
        match: [/INFO: rcu_(?:preempt|sched|bh) (?:self-)?detected(?: expedited)? stall|INFO: rcu_tasks\w* detected stalls? on tasks/],
        title: 'INFO: rcu detected stall in {frame}',
        stack: {
          // the interrupted code: what follows the timer interrupt that detected the stall
          steps: [find(/apic_timer_interrupt/), rip, 'trace'],
          fallback: [find(/apic_timer_interrupt|Exception stack|el1h_64_irq/), 'trace'],
          skip: ['apic_timer_interrupt', 'rcu'],
          pick: stallFrame,
        },
        acceptsOtherCpus: true,
        details: 'rcu-stall',
      },
      { id: 'non-static-key', kind: 'lockdep', match: [/INFO: trying to register non-static key/], title: 'INFO: trying to register non-static key in {frame}', stack: callTraceOnly(['stack', 'lock', 'IRQ']) },
      {
        id: 'info-suspicious-rcu',
        kind: 'lockdep',
        match: [/INFO: suspicious RCU usage/],
        report: [/INFO: suspicious RCU usage/, re(SRC)],
        title: 'INFO: suspicious RCU usage in {frame}',
        stack: callTraceOnly(['rcu', 'kmem', 'slab']),
      },
      { id: 'hung-task', kind: 'hung-task', match: [/INFO: task .* blocked (?:in I\/O wait )?for more than [0-9]+ seconds/], title: 'INFO: task hung in {frame}', stack: callTraceOnly(undefined, hangFrame), details: 'trace' },
      { id: 'task-cant-die', kind: 'hung-task', match: [/INFO: task .* can't die for more than .* seconds/], title: "INFO: task can't die in {frame}", stack: callTraceOnly(['schedule']), details: 'trace' },
      // What remains of an old-style KASAN report whose header was lost.
      { id: 'info-freed-allocated', kind: 'kasan', match: [/INFO: (Freed|Allocated) in (.*)/], title: 'INFO: {1} in {2}', corrupted: true, details: 'trace' },
      { id: 'info-corrupted', kind: 'bug', match: [/INFO:\s*$/], title: 'INFO: corrupted', corrupted: true, details: 'trace' },
    ],
  },
  {
    marker: 'Unable to handle kernel',
    kind: 'oops',
    end: 'end-trace',
    details: 'page-fault',
    formats: [
      {
        id: 'arm-unable-to-handle',
        kind: 'oops',
        match: [/Unable to handle kernel (paging request|NULL pointer dereference|access to user memory)/],
        title: 'BUG: unable to handle kernel {1} in {frame}',
        stack: ripThenTrace(),
      },
    ],
  },
  {
    marker: 'general protection fault',
    kind: 'oops',
    // a user-space segfault message, not a kernel report
    notReports: [/general protection fault .* error:\d+ in /],
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'gpf', kind: 'oops', match: [/general protection fault.*:/], title: 'general protection fault in {frame}', stack: ripThenTrace() }],
  },
  {
    marker: 'stack segment: ',
    kind: 'oops',
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'stack-segment', kind: 'oops', match: [/stack segment: /], title: 'stack segment fault in {frame}', stack: ripThenTrace() }],
  },
  {
    marker: 'Kernel panic',
    kind: 'panic',
    continuesOpenReport: true,
    end: 'panic',
    details: 'trace',
    formats: [
      // the kernel may fail to print the function of a corrupted stack, and to unwind it
      {
        id: 'stack-protector',
        kind: 'stack-corruption',
        match: [/Kernel panic - not syncing: stack-protector:/],
        report: [re(String.raw`Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: ${FUNC}`)],
        title: 'kernel panic: stack is corrupted in {1}',
        noStackTrace: true,
      },
      {
        id: 'stack-protector-address',
        kind: 'stack-corruption',
        match: [/Kernel panic - not syncing: stack-protector:/],
        report: [/Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: [a-f0-9]+/],
        title: 'kernel panic: stack is corrupted in {frame}',
        stack: callTraceOnly(['stack_chk']),
      },
      {
        id: 'corrupted-stack-end',
        kind: 'stack-corruption',
        match: [/Kernel panic - not syncing: corrupted stack end/],
        report: [/Kernel panic - not syncing: corrupted stack end detected inside scheduler/],
        title: 'kernel panic: corrupted stack end in {frame}',
        stack: callTraceOnly(['schedule', 'retint_kernel'], stallFrame),
      },
      {
        id: 'kernel-stack-overflow',
        kind: 'stack-corruption',
        match: [/Kernel panic - not syncing: kernel stack overflow/],
        title: 'kernel stack overflow in {frame}',
        stack: callTraceOnly(['bad_stack'], stallFrame),
      },
      { id: 'kill-init', kind: 'panic', match: [/Kernel panic - not syncing: Attempted to kill init!/], title: 'kernel panic: Attempted to kill init!' },
      { id: 'n-tty', kind: 'panic', match: [/Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+/], title: "kernel panic: Couldn't open N_TTY ldisc" },
      // These panics follow a report (oops, WARNING, hung task); alone, that report was lost.
      { id: 'panic-fatal-exception', kind: 'panic', match: [/Kernel panic - not syncing: Fatal exception/], title: 'kernel panic: Fatal exception', corrupted: true },
      { id: 'panic-on-warn', kind: 'panic', match: [/Kernel panic - not syncing: panic_on_warn set/], title: 'kernel panic: panic_on_warn set', corrupted: true },
      { id: 'panic-hung-task', kind: 'panic', match: [/Kernel panic - not syncing: hung_task: blocked tasks/], title: 'kernel panic: hung_task: blocked tasks', corrupted: true },
      { id: 'panic', kind: 'panic', match: [/Kernel panic - not syncing: (.*)/], title: 'kernel panic: {1}' },
    ],
  },
  {
    marker: 'PANIC: double fault',
    kind: 'oops',
    continuesOpenReport: true,
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'double-fault', kind: 'oops', match: [/PANIC: double fault/], title: 'PANIC: double fault in {frame}', stack: { steps: [rip] } }],
  },
  {
    marker: 'kernel BUG',
    kind: 'bug',
    end: 'end-trace',
    details: 'oops',
    formats: [
      { id: 'bug-usercopy', kind: 'bug', match: [/kernel BUG at mm\/usercopy\.c/], title: 'BUG: bad usercopy in {frame}', stack: callTraceOnly(['usercopy', '__check']) },
      { id: 'bug-list-debug', kind: 'list-corruption', match: [/kernel BUG at lib\/list_debug\.c/], title: 'BUG: corrupted list in {frame}', stack: callTraceOnly() },
      // skb helpers are full of BUG_ON()s that their callers trigger
      { id: 'kernel-bug', kind: 'bug', match: [/kernel BUG at (.*)/], title: 'kernel BUG in {frame}', stack: ripThenTrace(['^skb_']) },
    ],
  },
  { marker: 'Kernel BUG', kind: 'bug', end: 'end-trace', details: 'oops', formats: [{ id: 'kernel-bug-other', kind: 'bug', match: [/Kernel BUG (.*)/], title: 'kernel BUG {1}' }] },
  {
    // SLUB's own consistency check caught a double free
    marker: 'BUG kmalloc-',
    kind: 'bug',
    end: 'trace',
    details: 'trace',
    formats: [{ id: 'object-already-free', kind: 'bug', match: [/BUG kmalloc-.*: Object already free/], title: 'BUG: Object already free' }],
  },
  { marker: 'divide error:', kind: 'oops', end: 'end-trace', details: 'oops', formats: [{ id: 'divide-error', kind: 'oops', match: [/divide error: /], title: 'divide error in {frame}', stack: { steps: [rip] } }] },
  // a misspelling some kernels print (x86 IDTENTRY conversion)
  { marker: 'divide_error:', kind: 'oops', end: 'end-trace', details: 'oops', formats: [{ id: 'divide-error-underscore', kind: 'oops', match: [/divide_error: /], title: 'divide error in {frame}', stack: { steps: [rip] } }] },
  {
    marker: 'invalid opcode:',
    kind: 'oops',
    continuesOpenReport: true,
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'invalid-opcode', kind: 'oops', match: [/invalid opcode: /], title: 'invalid opcode in {frame}', stack: { steps: [rip] } }],
  },
  {
    // newer x86 kernels report a hit breakpoint (a stray int3 in text) as `Oops: int3: 0000 [#1]`
    marker: 'int3: ',
    kind: 'oops',
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'int3', kind: 'oops', match: [/int3: /], title: 'int3 in {frame}', stack: ripThenTrace() }],
  },
  {
    marker: 'UBSAN:',
    kind: 'ubsan',
    end: 'separator',
    details: 'trace',
    formats: [
      { id: 'ubsan-old', kind: 'ubsan', match: [/UBSAN:/], report: [/UBSAN: Undefined behaviour in/], title: 'UBSAN: undefined-behaviour in {frame}', stack: callTraceOnly(['ubsan', 'overflow']) },
      { id: 'ubsan-array-index', kind: 'ubsan', match: [/UBSAN: array-index-out-of-bounds in/], title: 'UBSAN: array-index-out-of-bounds in {frame}', stack: callTraceOnly(['ubsan', 'overflow']) },
      { id: 'ubsan', kind: 'ubsan', match: [/UBSAN:/], report: [/UBSAN: (.*?) in/], title: 'UBSAN: {1} in {frame}', stack: callTraceOnly(['ubsan', 'overflow']) },
    ],
  },
  {
    marker: 'Booting the kernel.',
    kind: 'panic',
    // the console echoing a boot message back (as a mount option, say) is no reboot
    notReports: [/Parsing ELF|Decompressing Linux|Unknown parameter '/],
    end: 'line',
    details: 'trace',
    formats: [{ id: 'reboot', kind: 'panic', match: [/^Booting the kernel/], title: 'unexpected kernel reboot', noStackTrace: true }],
  },
  {
    marker: 'unregister_netdevice: waiting for',
    kind: 'hung-task',
    continuesOpenReport: true,
    end: 'line',
    details: 'trace',
    formats: [{ id: 'netdev-refcount', kind: 'hung-task', match: [/unregister_netdevice: waiting for .* to become free/], title: 'unregister_netdevice: waiting for DEV to become free', noStackTrace: true }],
  },
  {
    marker: 'VFS: Close: file count is 0',
    kind: 'bug',
    end: 'line',
    details: 'trace',
    formats: [{ id: 'vfs-close-count', kind: 'bug', match: [/VFS: Close: file count is 0/], title: 'VFS: Close: file count is zero (use-after-free)', noStackTrace: true }],
  },
  {
    marker: 'VFS: Busy inodes after unmount',
    kind: 'bug',
    end: 'line',
    details: 'trace',
    formats: [{ id: 'vfs-busy-inodes', kind: 'bug', match: [/VFS: Busy inodes after unmount/], title: 'VFS: Busy inodes after unmount (use-after-free)', noStackTrace: true }],
  },
  {
    marker: 'Internal error:',
    kind: 'oops',
    continuesOpenReport: true,
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'arm-internal-error', kind: 'oops', match: [/Internal error:/], title: 'Internal error in {frame}', stack: ripThenTrace() }],
  },
  {
    marker: 'Unhandled fault:',
    kind: 'oops',
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'arm-unhandled-fault', kind: 'oops', match: [/Unhandled fault:/], title: 'Unhandled fault in {frame}', stack: ripThenTrace() }],
  },
  {
    marker: 'Alignment trap:',
    kind: 'oops',
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'arm-alignment-trap', kind: 'oops', match: [/Alignment trap:/], title: 'Alignment trap in {frame}', stack: ripThenTrace() }],
  },
  {
    marker: 'trusty: panic',
    kind: 'panic',
    end: 'line',
    details: 'trace',
    formats: [
      { id: 'trusty-assert', kind: 'panic', match: [/trusty: panic.* ASSERT FAILED/], report: [/trusty: panic \([^)]*\):(?: DEBUG)? ASSERT FAILED at \([^)]*\): (.+)/], title: 'trusty: ASSERT FAILED: {1}', noStackTrace: true },
      { id: 'trusty-assert-corrupted', kind: 'panic', match: [/trusty: panic.* ASSERT FAILED.*: *(.*)/], title: 'trusty: ASSERT FAILED: {1}', corrupted: true },
      { id: 'trusty-panic', kind: 'panic', match: [/trusty: panic/], report: [/trusty: panic \([^)]*\): (.+)/], title: 'trusty: panic: {1}', noStackTrace: true },
    ],
  },
  // kgrader's own groups: what our kernel prints and syzkaller reads differently.
  {
    // kmemleak's own report, read from /sys/kernel/debug/kmemleak (syzkaller prints `BUG: memory leak` first)
    marker: 'unreferenced object 0x',
    kind: 'kmemleak',
    kgraderOnly: true,
    header: /^(?:kmemleak: )?unreferenced object 0x[0-9a-f]+ \(size \d+\):/,
    end: 'kmemleak',
    details: 'kmemleak',
    formats: [{ id: 'kmemleak', kind: 'kmemleak', match: [/unreferenced object/], title: 'memory leak in {frame}', stack: LEAK_STACK }],
  },
  {
    // list_debug prints its diagnosis, then WARN()s or BUG()s
    marker: 'list_',
    kind: 'list-corruption',
    kgraderOnly: true,
    header: /^(?:__)?list_\w+ (?:corruption|double add)/,
    prologue: true,
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'list-corruption', kind: 'list-corruption', match: [/list_\w+ (?:corruption|double add)/], title: 'BUG: corrupted list in {frame}', stack: callTraceOnly() }],
  },
  {
    // refcount_t prints its diagnosis, then WARN()s
    marker: 'refcount_t: ',
    kind: 'refcount',
    kgraderOnly: true,
    header: /^refcount_t: /,
    prologue: true,
    end: 'end-trace',
    details: 'oops',
    formats: [{ id: 'refcount-message', kind: 'refcount', match: [/refcount_t: /], title: 'WARNING: refcount bug in {frame}', stack: warningStack('refcount', 'kobject_') }],
  },
];

export interface HeaderMatch {
  group: ReportGroup;
  /** the format whose title pattern matches the header line itself, if any (decides kind and end) */
  format?: TitleFormat;
  /** where the group's marker starts in the line */
  at: number;
}

// One pass over each line decides whether any marker is present at all.
const MARKER_GATE = new RegExp(REPORT_GROUPS.map((g) => g.marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));

/**
 * The report group a console line starts, if any: the first group whose marker the line contains
 * and that does not declare the line harmless. `text` is the message without its prefix.
 */
export function matchReportHeader(text: string): HeaderMatch | undefined {
  if (!MARKER_GATE.test(text)) return undefined;
  for (const group of REPORT_GROUPS) {
    const at = text.indexOf(group.marker);
    if (at < 0) continue;
    if (group.header && !group.header.test(text)) continue;
    if (group.notReports?.some((r) => r.test(text))) continue;
    const format = group.formats.find((f) => matchesAt(f.match[0]!, text, at));
    return format ? { group, format, at } : { group, at };
  }
  return undefined;
}

const stickyCopies = new WeakMap<RegExp, RegExp>();

/**
 * Whether `re` matches `text` at `at` exactly. Title patterns start with their group's marker, so
 * they are tried once, where the marker is, instead of at every position of the line.
 */
export function matchesAt(re: RegExp, text: string, at: number): RegExpExecArray | null {
  let sticky = stickyCopies.get(re);
  if (!sticky) {
    sticky = new RegExp(re.source, re.flags.replace('g', '') + 'y');
    stickyCopies.set(re, sticky);
  }
  sticky.lastIndex = at;
  return sticky.exec(text);
}

export function endRuleOf(header: HeaderMatch): EndRule {
  return header.format?.end ?? header.group.end;
}

export function kindOf(header: HeaderMatch): FindingKind {
  return header.format?.kind ?? header.group.kind;
}

/**
 * Messages of a `Kernel panic - not syncing:` that only exist because an earlier report asked for
 * a panic (panic_on_oops, panic_on_warn, hung_task_panic, softlockup_panic, kasan.fault=panic).
 */
const CONSEQUENCE_PANIC_RE =
  /Kernel panic - not syncing: (?:Fatal exception(?: in interrupt)?|.*panic_on_warn set|.*kasan\.fault=panic|hung_task: blocked tasks|softlockup: hung tasks|hardlockup: |RCU Stall|Attempted to kill (?:init|the idle task)|Oops|Fatal Machine check)/;

export function isConsequencePanic(text: string): boolean {
  return CONSEQUENCE_PANIC_RE.test(text);
}

/** Lines that start no report but mean the one before was interrupted by another (syzkaller's infoMessagesWithStack). */
const STACK_DUMPING_MESSAGES = ['vmalloc: allocation failure:', 'FAULT_INJECTION: forcing a failure', 'FAULT_FLAG_ALLOW_RETRY missing'];

export function isStackDumpingMessage(text: string): boolean {
  return STACK_DUMPING_MESSAGES.some((m) => text.includes(m));
}
