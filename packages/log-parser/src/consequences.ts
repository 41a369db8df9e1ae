import type { Finding, Frame } from '@kgrader/schemas';
import type { AnalyzedReport } from './analyze.js';

/**
 * Follow-on reports: the first bug often breaks the kernel so that more reports follow, and these
 * are not bugs of the student's own. A double-free corrupts the slab freelist and the next
 * allocation crashes inside the allocator; a task that oopses while holding a spinlock dies with
 * preemption off and `do_exit` reports sleeping in atomic context. Such a report names its cause
 * (`consequenceOf`) instead of standing as a second bug.
 */

/** Reports after which the heap can no longer be trusted. */
function corruptsTheHeap(report: AnalyzedReport): boolean {
  const { finding, formatId } = report;
  if (finding.kind === 'kasan') return formatId === 'kasan-invalid-free' || finding.access?.type === 'write';
  if (finding.kind === 'kfence' || finding.kind === 'list-corruption') return true;
  return formatId === 'bad-page' || formatId === 'object-already-free';
}

/** Functions of the allocator and of KASAN's bookkeeping: a crash there is the heap's, not the caller's. */
const ALLOCATOR_INTERNALS =
  /^_*(?:kmem_cache_|kmalloc|kfree|kzalloc|krealloc|slab_|___?slab_|__slab|new_slab|allocate_slab|discard_slab|deactivate_slab|get_partial|get_freepointer|set_freepointer|freelist_|virt_to_(?:slab|folio|head_page|page)|qlist_|qlink_|kasan_|kmemleak_|create_object|__create_object|delete_object|(?:__)?lookup_object|find_and_(?:get|remove)_object|__find_and_remove_object|put_object|(?:__)?paint_it|scan_block|scan_object|update_checksum|free_debug_processing|alloc_debug_processing|check_(?:slab|object|bytes)|on_freelist|rmqueue|free_pcppages_bulk|free_unref_page|free_one_page|__free_pages|alloc_pages|get_page_from_freelist|memcg_slab_|obj_cgroup_|setup_object|shuffle_freelist|put_cpu_partial|unfreeze_partials|do_slab_free|kvfree|vfree|vmalloc)/;

/** Frames only a task dying of an oops has (a plain `do_exit` is any task's exit). */
const DYING_TASK = /^(?:make_task_dead|rewind_stack_do_exit|rewind_stack_and_make_dead)$/;

/** KASAN's report printer: what fires while it runs comes from printing that report. */
const KASAN_REPORTING = /^(?:print_report|kasan_report|__kasan_report|kasan_report_invalid_free|print_address_description)$/;

function crashesInAllocator(frames: readonly Frame[]): boolean {
  const innermost = frames.find((f) => !f.inlined);
  return innermost !== undefined && innermost.module === undefined && ALLOCATOR_INTERNALS.test(innermost.function.split('.')[0]!);
}

const firstFrame = (frames: readonly Frame[]): Frame | undefined => frames.find((f) => !f.inlined);
const moduleFrame = (frames: readonly Frame[]): Frame | undefined => frames.find((f) => !f.inlined && f.module !== undefined);

/** Whether no stack of the report (its own, nor an object's allocation or free) passes through a module. */
function outsideEveryModule(finding: Finding): boolean {
  return [finding.frames, ...(finding.stacks ?? []).map((s) => s.frames)].every((frames) => frames.every((f) => f.module === undefined));
}

function isCrash(finding: Finding): boolean {
  return ['oops', 'bug', 'kasan', 'kfence', 'list-corruption', 'warning', 'panic'].includes(finding.kind);
}

/**
 * For each report (in log order) the index of the earlier report that caused it, or undefined.
 */
export function findCauses(reports: readonly AnalyzedReport[]): (number | undefined)[] {
  const causes: (number | undefined)[] = [];
  let lastHeapCorruption: number | undefined;
  let lastOops: number | undefined;
  let lastLockingBug: number | undefined;
  /** the last KASAN report (its root cause when it is a consequence itself) */
  let lastKasan: number | undefined;
  const kasanAt = new Map<string, number>();
  /** module functions of sleeping-in-atomic reports: __might_sleep warns again from the same call */
  const sleptIn = new Map<string, number>();
  reports.forEach((report, i) => {
    const { finding } = report;
    let cause: number | undefined;
    // KASAN reads the object's allocation and free stacks from the stack depot while it prints a
    // report; an overflow that overwrote those handles makes stack_depot_fetch warn from inside
    // the report: part of it, not a bug of its own
    if (lastKasan !== undefined && finding.kind !== 'kasan' && finding.frames.some((f) => KASAN_REPORTING.test(f.function.split('.')[0]!))) cause = lastKasan;
    else if (lastHeapCorruption !== undefined && isCrash(finding) && crashesInAllocator(finding.frames)) cause = lastHeapCorruption;
    // once the module has written past its objects, the objects next to them hold its bytes: a
    // crash in kernel code that never passes through the module (nor touches an object it
    // allocated or freed) is the overwritten neighbour's, i.e. the same bug seen again
    else if (lastHeapCorruption !== undefined && isCrash(finding) && outsideEveryModule(finding)) cause = lastHeapCorruption;
    else if (lastOops !== undefined && finding.frames.some((f) => DYING_TASK.test(f.function.split('.')[0]!))) cause = lastOops;
    // a lock left held (or taken in a deadlocking order) is why tasks then hang waiting for it
    else if (lastLockingBug !== undefined && finding.kind === 'hung-task') cause = lastLockingBug;
    // the page fault KASAN saw coming: the same address, just reported by KASAN
    else if (finding.kind === 'oops' && finding.access?.address && kasanAt.has(finding.access.address)) cause = kasanAt.get(finding.access.address);
    // `do not call blocking ops when !TASK_RUNNING`: the sleeping call of an earlier report, made
    // again while the task it interrupted (a timer callback in softirq) was going to sleep
    else if (finding.kind === 'warning' && firstFrame(finding.frames)?.function === '__might_sleep') cause = sleptIn.get(moduleFrame(finding.frames)?.function ?? '');
    causes.push(cause);
    if (finding.kind === 'kasan') lastKasan = cause ?? i;
    // A consequence does not become the cause of what follows: the first report stays the cause.
    if (cause !== undefined) return;
    if (corruptsTheHeap(report)) lastHeapCorruption = i;
    if (finding.kind === 'oops' || finding.kind === 'bug') lastOops = i;
    if (finding.kind === 'kasan' && finding.access?.address && !kasanAt.has(finding.access.address)) kasanAt.set(finding.access.address, i);
    const sleeper = finding.kind === 'atomic-sleep' ? moduleFrame(finding.frames) : undefined;
    if (sleeper && !sleptIn.has(sleeper.function)) sleptIn.set(sleeper.function, i);
    if (finding.kind === 'lockdep' && /lock held when returning|held lock freed|possible (?:circular|recursive) locking|deadlock/i.test(finding.title)) lastLockingBug = i;
  });
  return causes;
}
