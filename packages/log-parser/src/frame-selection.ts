import type { Frame } from '@kgrader/schemas';
import { titleName } from './frames.js';

/**
 * Picking the "interesting" frame for a title, after syzkaller's pkg/report/linux.go: skip the
 * report machinery (dump_stack, kasan_report, lockdep internals) and generic helpers (memcpy,
 * copy_to_user, lock primitives, printk) so the title names the code that did the bad thing.
 *
 * Unlike syzkaller's substring patterns these are anchored, and frames from a loadable module are
 * never skipped: the module is the student's code, and `msgbuf_string_lock` must not be lost
 * because it contains "string" or "lock".
 */
const REPORTING_MACHINERY: RegExp[] = [
  /^_*dump_stack/, /^show_stack/, /^show_trace_log_lvl/, /^show_regs/, /^print_report$/,
  /^print_address_description/, /^describe_object/, /^print_error_description/,
  /^_*kasan_/, /^_*asan_/, /^__hwasan/, /^_*kcsan_/, /^__tsan_/, /^_*kfence_/, /^_*kmsan_/,
  /^__msan/, /^__sanitizer/, /^_*ubsan_/, /^check_memory_region/, /^check_region_inline/,
  /^read_word_at_a_time/, /^instrument_/,
  /^panic$/, /^check_panic_on_warn/, /^nmi_cpu_backtrace/, /^nmi_trigger_cpumask_backtrace/,
  /^arch_trigger_cpumask_backtrace/, /^trigger_single_cpu_backtrace/, /^rcu_dump_cpu_stacks/,
  /^__warn$/, /^__warn_printk/, /^warn_slowpath/, /^warn_alloc/, /^report_bug/, /^handle_bug/,
  /^fixup_bug/, /^do_error_trap/, /^do_trap/, /^die$/, /^__die/, /^oops_/, /^exc_/, /^asm_exc_/,
  /^do_user_addr_fault/, /^page_fault_oops/, /^kernelmode_fixup_or_oops/, /^_*bad_area/,
  /^handle_page_fault/, /^no_context$/, /^__stack_chk_fail/,
  /^_*sysvec_/, /^asm_sysvec_/, /^_*apic_timer_interrupt/, /^irq_exit/, /^__irq_exit_rcu/,
  /^debug_object/, /^timer_is_static_object/, /^work_is_static_object/,
  // lockdep internals
  /^lockdep_/, /^_*lock_acquire/, /^_*lock_release/, /^lock_acquired/, /^lock_contended/,
  /^lock_is_held/, /^mark_lock/, /^mark_usage/, /^mark_held_locks/, /^validate_chain/,
  /^check_prevs?_add/, /^check_noncircular/, /^check_deadlock/, /^check_irq_usage/,
  /^check_usage/, /^valid_state/, /^print_\w*bug/, /^print_usage_bug/, /^print_circular/,
  /^print_lock/, /^debug_check_no_locks/, /^reacquire_held_locks/, /^register_lock_class/,
  /^assign_lock_key/, /^look_up_lock_class/, /^hlock_class/, /^lock_class/,
  // sleep checks
  /^_*might_sleep/, /^__might_resched/, /^_*might_fault/, /^__cant_sleep/, /^__schedule_bug/,
];

const GENERIC_HELPERS: RegExp[] = [
  // lock primitives
  /^_*raw_(spin|read|write)_/, /^do_raw_(spin|read|write)_/, /^(raw_)?spin_(lock|unlock|trylock)/,
  /^(read|write)_(lock|unlock|trylock)/, /^queued_(spin|read|write)_/, /^_*pv_queued_spin/,
  /^native_queued_spin_lock_slowpath/, /^_*mutex_(lock|unlock|trylock)/, /^mutex_remove_waiter/,
  /^__mutex_/, /^_*rt_mutex/, /^osq_(lock|unlock)/, /^_*rwsem_/,
  /^_*down(_read|_write)?(_interruptible|_killable|_timeout|_trylock|_nested)?(_common|_slowpath)?$/,
  /^_*up(_read|_write)?$/, /^_*refcount_/, /^_*wake_up/,
  // memory and string helpers
  /^_*mem(cpy|move|set|cmp|chr|dup|scan)/, /^str(n?cpy|lcpy|scpy|n?cmp|n?len|r?chr|n?cat|n?str|n?dup)/,
  /^__str/, /^_*k(v)?strdup/, /^_*kmemdup/, /^string(_nocheck)?$/, /^pointer$/, /^_*v?sn?printf$/,
  /^_*v?scnprintf$/, /^_*k(v)?asprintf$/, /^format_decode$/,
  // user copies
  /^_*copy_(to|from)_user/, /^copy_user_/, /^rep_movs/, /^_*(get|put)_user/, /^_*check_object_size/,
  /^_*check_heap_object/, /^usercopy_/, /^simple_(read_from|write_to)_buffer$/, /^_*copy_(to|from)_iter/,
  /^copy_page_(to|from)_iter/, /^_*copy_mc_/,
  // list debugging
  /^_*list_(add|del|replace|move|splice)/,
  // printk
  /^_*v?printk/, /^_printk/, /^_*dev_(info|notice|warn|err|alert|crit|emerg|printk)/,
  // frees: a use-after-free is never "in kfree"
  /^kfree$/, /^kvfree/, /^kfree_sensitive/, /^_*kmem_cache_free/, /^_*slab_free/, /^do_slab_free/,
  /^free_debug_processing/, /^_*free_object/,
  // retpolines and return thunks
  /^_*x86_indirect_thunk/, /^_*x86_return_thunk/, /^_indirect_thunk_/, /^srso_/,
];

/** Allocation wrappers: a kmemleak title names the caller of the allocator. */
export const ALLOCATORS: RegExp[] = [
  /^kmemleak/, /^create_object/, /^_*kmalloc/, /^_*kzalloc/, /^_*kcalloc/, /^_*krealloc/,
  /^_*kvmalloc/, /^_*kvzalloc/, /^_*kvcalloc/, /^_*vmalloc/, /^_*vzalloc/, /^_*vmap/,
  /^_*kmem_cache_alloc/, /^_*kmem_cache_zalloc/, /^_*slab_/, /^_*slab_alloc/, /^_*do_kmalloc/,
  /^_*kmem_cache_alloc_node/, /^_*alloc_pages/, /^_*get_free_pages/, /^alloc_slab_page/,
  /^allocate_slab/, /^new_slab/, /^_*kasan_/, /^_*kstrn?dup/, /^_*kmemdup/, /^_*kasprintf/,
  /^_*kvasprintf/, /^_*alloc_percpu/, /^pcpu_alloc/, /^_*devm_kmalloc/, /^devm_kzalloc/,
  /^_*idr_get/, /^list_lru_init/, /^mmap/, /^_*kmalloc_trace/, /^_*kmalloc_node/,
  /^kmalloc_large/, /^kmalloc_order/, /^__kmem_cache_alloc_node/, /^slab_pre_alloc_hook/,
  /^slab_post_alloc_hook/, /^might_alloc/, /^prepare_alloc_pages/, /^_*alloc_skb/,
  /^krealloc/, /^memdup_user/, /^strndup_user/, /^_*vmalloc_node/, /^_*get_vm_area/,
];

const SCHEDULER: RegExp[] = [
  /^_*schedule/, /^preempt_schedule/, /^_*cond_resched/, /^msleep/, /^usleep_range/, /^ssleep/,
  /^do_nanosleep/, /^hrtimer_nanosleep/, /^io_schedule/, /^_*wait_for_common/,
  /^wait_for_completion/, /^do_wait_for_common/, /^_*synchronize_/, /^_*flush_work/,
  /^_*cancel_work/, /^_*cancel_delayed_work/, /^_*flush_workqueue/, /^context_switch/,
  /^__switch_to/, /^finish_task_switch/, /^_*wait_event/, /^prepare_to_wait/, /^finish_wait/,
  /^kthread_stop/, /^_*down/,
];

export type SkipProfile =
  | 'default'
  | 'kmemleak'
  | 'invalid-free'
  | 'atomic-sleep'
  | 'scheduling'
  | 'rcu'
  | 'refcount'
  | 'spinlock'
  | 'none';

const PROFILE_EXTRAS: Record<SkipProfile, RegExp[]> = {
  default: [],
  none: [],
  kmemleak: ALLOCATORS,
  'invalid-free': [/^_*kmem_/, /^_*slab_/, /^kfree/, /^_*vfree/, /^_*vunmap/, /^_*free_/],
  'atomic-sleep': [...ALLOCATORS, ...SCHEDULER],
  scheduling: SCHEDULER,
  rcu: [/^_*rcu/, /rcu_read_(un)?lock/, /^_*srcu/, ...ALLOCATORS],
  refcount: [/^_*refcount/, /^kobject_(put|get)/, /^kref_/],
  spinlock: [/spin_/, /^spin_bug/, /^do_raw_spin/],
};

export function isSkippedFrame(frame: Frame, profile: SkipProfile = 'default'): boolean {
  if (frame.module !== undefined) return false;
  if (profile === 'none') return false;
  const name = titleName(frame);
  if (REPORTING_MACHINERY.some((re) => re.test(name))) return true;
  if (GENERIC_HELPERS.some((re) => re.test(name))) return true;
  return PROFILE_EXTRAS[profile].some((re) => re.test(name));
}

/** The first frame worth naming in a title, or undefined when every frame is machinery. */
export function pickTitleFrame(
  candidates: readonly (Frame | undefined)[],
  profile: SkipProfile = 'default',
): Frame | undefined {
  for (const frame of candidates) {
    if (frame && !frame.inlined && !isSkippedFrame(frame, profile)) return frame;
  }
  return undefined;
}

/**
 * Stalls (soft lockups, RCU stalls) catch a CPU at a random point of a loop. Like syzkaller's
 * linuxStallFrameExtractor, name the frame just above a dispatch point (syscall entry, vfs_write,
 * workqueue, kthread) so every sample of the same loop gets the same title.
 */
const STALL_ANCHORS: RegExp[] = [
  /^process_one_work/, /^worker_thread/, /^do_syscall_/, /^do_fast_syscall_/, /^entry_SYSCALL/,
  /^do_softirq/, /^_*do_softirq/, /^call_timer_fn/, /^_*run_timers/, /^run_timer_softirq/,
  /^run_ksoftirqd/, /^smpboot_thread_fn/, /^kthread$/, /^ret_from_fork/, /^start_secondary/,
  /^cpu_startup_entry/, /^vfs_(read|write|ioctl|iter_read|iter_write|open)$/, /^do_iter_(read|write)/,
  /^call_(read|write)_iter/, /^call_mmap/, /^mmap_region/, /^do_mmap/, /^do_dentry_open/,
  /^_*sys_ioctl/, /^__x64_sys_/, /^__do_sys_/, /^__se_sys_/, /^ksys_/, /^_*fput/, /^task_work_run/,
  /^exit_to_user_mode/, /^handle_mm_fault/, /^_*do_fault/, /^do_init_module/, /^do_one_initcall/,
  /^load_module/, /^_*do_sys_finit_module/, /^_*do_sys_init_module/,
];

export function pickStallFrame(frames: readonly Frame[], profile: SkipProfile = 'default'): Frame | undefined {
  const interesting = frames.filter((f) => !f.inlined && !isSkippedFrame(f, profile));
  let previous: Frame | undefined;
  for (const frame of interesting) {
    if (frame.module === undefined && STALL_ANCHORS.some((re) => re.test(titleName(frame)))) {
      return previous ?? frame;
    }
    previous = frame;
  }
  return interesting[0];
}

/**
 * Hung tasks are reported at the victim's wait site; syzkaller's linuxHangTaskFrameExtractor
 * buckets RCU and rtnl waits and otherwise skips waiting primitives by substring.
 */
const HANG_SKIP_SUBSTRINGS = [
  'sched', '_lock', '_slowlock', 'down', 'completion', 'kthread', 'wait', 'synchronize',
  'context_switch', '__switch_to', 'cancel_delayed_work', 'mutex', 'rwsem', 'flush_work',
];

export function pickHungTaskFrame(frames: readonly Frame[]): Frame | undefined {
  const usable = frames.filter((f) => !f.inlined);
  for (const frame of usable) {
    const name = titleName(frame);
    if (frame.module !== undefined) continue;
    if (name.startsWith('rtnl_lock')) return frame;
    if (/^synchronize_(rcu|srcu|net|sched)/.test(name)) return { function: 'synchronize_rcu' };
  }
  return usable.find(
    (f) =>
      f.module !== undefined ||
      (!isSkippedFrame(f) && !HANG_SKIP_SUBSTRINGS.some((s) => titleName(f).includes(s))),
  );
}
