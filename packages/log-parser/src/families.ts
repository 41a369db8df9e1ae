import type { FindingKind } from '@kgrader/schemas';

/**
 * How a report's end is recognised:
 *  - `separator`: a line of `=` (KASAN, KCSAN, KFENCE, UBSAN print one after the report)
 *  - `end-trace`: `---[ end trace ... ]---` (oops, WARNING, BUG: everything going through oops_end/__warn)
 *  - `trace`:     the end of the main `Call Trace:` (`</TASK>`): lockdep, hung task, stalls, might_sleep
 *  - `panic`:     `---[ end Kernel panic - not syncing: ... ]---`
 *  - `kmemleak`:  the end of the `backtrace:` frame list
 *  - `lock-list`: the end of the `#N: lock` list (lockdep reports printed without a stack)
 */
export type EndRule = 'separator' | 'end-trace' | 'trace' | 'panic' | 'kmemleak' | 'lock-list';

export type FamilyId =
  | 'kasan'
  | 'kfence'
  | 'kcsan'
  | 'ubsan'
  | 'kmemleak'
  | 'lockdep-acquire'
  | 'lockdep-inconsistent'
  | 'lockdep-irq-inversion'
  | 'lockdep-bad-unlock'
  | 'lockdep-held-lock-freed'
  | 'lockdep-lock-held-return'
  | 'lockdep-still-holding'
  | 'lockdep-rcu'
  | 'lockdep-non-static-key'
  | 'lockdep-workqueue-leak'
  | 'spinlock'
  | 'might-sleep'
  | 'scheduling-while-atomic'
  | 'preemptible-percpu'
  | 'warning'
  | 'kernel-bug'
  | 'bad-page'
  | 'page-fault'
  | 'gpf'
  | 'trap'
  | 'stack-guard'
  | 'stack-protector'
  | 'panic'
  | 'hung-task'
  | 'soft-lockup'
  | 'rcu-stall'
  | 'list-corruption'
  | 'refcount';

export interface FamilyDef {
  id: FamilyId;
  kind: FindingKind;
  end: EndRule;
  header: RegExp;
  /** only starts a report when no report of the same caller is open (else it is part of that one) */
  continuationWhenOpen?: boolean;
  /** lines from other CPUs' NMI backtraces belong to this report too */
  acceptsOtherCpus?: boolean;
}

/** Ordered: the first match wins, so specific headers precede generic ones. */
export const FAMILIES: readonly FamilyDef[] = [
  { id: 'kasan', kind: 'kasan', end: 'separator', header: /^BUG: KASAN: (.+?)(?: in (\S.*))?$/ },
  { id: 'kfence', kind: 'kfence', end: 'separator', header: /^BUG: KFENCE: (.+?)(?: in (\S.*))?$/ },
  { id: 'kcsan', kind: 'kcsan', end: 'separator', header: /^BUG: KCSAN: (.*)$/ },
  { id: 'ubsan', kind: 'ubsan', end: 'separator', header: /^UBSAN: (?:Undefined behaviour in (\S+)|([\w-]+) in (\S+))/ },
  { id: 'kmemleak', kind: 'kmemleak', end: 'kmemleak', header: /^unreferenced object 0x([0-9a-f]+) \(size (\d+)\):/ },
  {
    id: 'lockdep-acquire',
    kind: 'lockdep',
    end: 'trace',
    header:
      /^(?:WARNING|INFO): (possible circular locking dependency detected|possible recursive locking detected|(?:SOFT|HARD)IRQ-safe -> (?:SOFT|HARD)IRQ-unsafe lock order detected)/,
  },
  { id: 'lockdep-inconsistent', kind: 'lockdep', end: 'trace', header: /^(?:WARNING|INFO): inconsistent lock state/ },
  {
    id: 'lockdep-irq-inversion',
    kind: 'lockdep',
    end: 'trace',
    header: /^(?:WARNING|INFO): possible irq lock inversion dependency detected/,
  },
  { id: 'lockdep-bad-unlock', kind: 'lockdep', end: 'trace', header: /^(WARNING|BUG): bad unlock balance detected!/ },
  { id: 'lockdep-held-lock-freed', kind: 'lockdep', end: 'trace', header: /^(WARNING|BUG): held lock freed!/ },
  {
    id: 'lockdep-lock-held-return',
    kind: 'lockdep',
    end: 'lock-list',
    header: /^(WARNING|BUG): lock held when returning to user space!/,
  },
  { id: 'lockdep-still-holding', kind: 'lockdep', end: 'trace', header: /^(WARNING|BUG): .*still has locks held!/ },
  { id: 'lockdep-rcu', kind: 'lockdep', end: 'trace', header: /^(WARNING|INFO): suspicious RCU usage/ },
  { id: 'lockdep-non-static-key', kind: 'lockdep', end: 'trace', header: /^INFO: trying to register non-static key/ },
  { id: 'lockdep-workqueue-leak', kind: 'lockdep', end: 'trace', header: /^BUG: workqueue leaked lock or atomic/ },
  {
    id: 'spinlock',
    kind: 'lockdep',
    end: 'trace',
    header: /^BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|bad magic|wrong owner|wrong CPU)/,
  },
  { id: 'might-sleep', kind: 'atomic-sleep', end: 'trace', header: /^BUG: sleeping function called from invalid context(?: at (\S+))?/ },
  { id: 'scheduling-while-atomic', kind: 'atomic-sleep', end: 'trace', header: /^BUG: scheduling while atomic/ },
  {
    id: 'preemptible-percpu',
    kind: 'bug',
    end: 'trace',
    header: /^BUG: using (smp_processor_id\(\)|__this_cpu_\w+\(\)) in preemptible/,
  },
  { id: 'warning', kind: 'warning', end: 'end-trace', header: /^WARNING: CPU: \d+ PID: \d+ at (\S+)(?: (\S.*))?$/ },
  { id: 'kernel-bug', kind: 'bug', end: 'end-trace', header: /^kernel BUG at (\S+?)!?$/ },
  { id: 'bad-page', kind: 'bug', end: 'trace', header: /^BUG: Bad page (state|map)/ },
  {
    id: 'page-fault',
    kind: 'oops',
    end: 'end-trace',
    header:
      /^BUG: (?:(kernel NULL pointer dereference|unable to handle kernel NULL pointer dereference)|unable to handle (?:page fault for address|kernel paging request at))(?:[:,]? (?:address: ?)?([0-9a-f]+))?/,
  },
  { id: 'gpf', kind: 'oops', end: 'end-trace', header: /^general protection fault/ },
  {
    id: 'trap',
    kind: 'oops',
    end: 'end-trace',
    header: /^(divide error|invalid opcode|stack segment|PANIC: double fault)(?::|,| )/,
    continuationWhenOpen: true,
  },
  { id: 'stack-guard', kind: 'stack-corruption', end: 'end-trace', header: /^BUG: stack guard page was hit at/ },
  {
    id: 'stack-protector',
    kind: 'stack-corruption',
    end: 'panic',
    header: /^Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: (\S+)/,
  },
  { id: 'panic', kind: 'panic', end: 'panic', header: /^Kernel panic - not syncing: ?(.*)$/ },
  { id: 'hung-task', kind: 'hung-task', end: 'trace', header: /^INFO: task (\S+?):(\d+) blocked for more than (\d+) seconds/ },
  { id: 'soft-lockup', kind: 'soft-lockup', end: 'trace', header: /^BUG: soft lockup - CPU#(\d+) stuck for (\d+)s!/ },
  {
    id: 'rcu-stall',
    kind: 'rcu-stall',
    end: 'trace',
    header: /^INFO: rcu_(?:preempt|sched|bh|tasks\w*) (?:self-)?detected (?:expedited )?stalls?/,
    acceptsOtherCpus: true,
  },
  {
    id: 'list-corruption',
    kind: 'list-corruption',
    end: 'end-trace',
    header: /^(list_\w+|__list_\w+) (corruption|double add)/,
  },
  { id: 'refcount', kind: 'refcount', end: 'end-trace', header: /^refcount_t: (.*)$/ },
];

const FAMILY_BY_ID = new Map(FAMILIES.map((f) => [f.id, f]));
export function familyById(id: FamilyId): FamilyDef {
  return FAMILY_BY_ID.get(id)!;
}

// A cheap gate so the full table only runs on lines that could possibly be headers.
const HEADER_GATE =
  /^(?:BUG|WARNING|INFO|UBSAN|unreferenced|kernel BUG|Kernel panic|general protection|Oops|watchdog|rcu|list_|__list_|refcount_t|divide error|invalid opcode|stack segment|PANIC|kmemleak)/;

// Subsystem tags the kernel puts in front of some headers (pr_fmt of the printing file).
const SUBSYSTEM_TAG_RE = /^(?:kmemleak|watchdog|rcu|Oops): (?=\S)/;

export interface HeaderMatch {
  family: FamilyDef;
  match: RegExpExecArray;
  /** the header text without subsystem tag */
  text: string;
}

/** Removes the `kmemleak: ` / `watchdog: ` / `rcu: ` tag some subsystems print. */
export function withoutSubsystemTag(text: string): string {
  return text.replace(SUBSYSTEM_TAG_RE, '');
}

export function matchReportHeader(text: string): HeaderMatch | undefined {
  if (!HEADER_GATE.test(text)) return undefined;
  const headerText = withoutSubsystemTag(text);
  for (const family of FAMILIES) {
    const match = family.header.exec(headerText);
    if (match) return { family, match, text: headerText };
  }
  return undefined;
}

/**
 * Messages of a `Kernel panic - not syncing:` that only exist because an earlier report asked
 * for a panic (panic_on_oops, panic_on_warn, hung_task_panic, softlockup_panic, kasan.fault=panic).
 */
const CONSEQUENCE_PANIC_RE =
  /^(?:Fatal exception(?: in interrupt)?|.*panic_on_warn set|.*kasan\.fault=panic|hung_task: blocked tasks|softlockup: hung tasks|hardlockup: |RCU Stall|Attempted to kill (?:init|the idle task)|Oops|Fatal Machine check)/;

export function isConsequencePanic(message: string): boolean {
  return CONSEQUENCE_PANIC_RE.test(message);
}
