import type { Finding, Frame } from '@kgrader/schemas';
import type { LargeFrame } from './diagnostics.js';
import type { Instruction, ModuleInspection, SourcePlace } from './inspect.js';

/**
 * What a submitted module may use. A character driver needs allocation, locking, copies to and
 * from user space, device registration, wait queues, timers and work, printing: that is the
 * default set. Everything else (opening files, sending signals, touching consoles or printk
 * settings, looking up symbols, mapping memory, port I/O...) is refused at build time, before
 * the module ever runs: it has no place in these exercises, and it is how a module running in
 * ring 0 would interfere with its own grading. Exercises widen the set with `policy.symbols`.
 *
 * Patterns are exact names or prefixes ending in `*`.
 */
export const DEFAULT_SYMBOL_GROUPS: ReadonlyArray<{ group: string; symbols: readonly string[] }> = [
  {
    group: 'compiler and sanitizer runtime',
    symbols: ['__fentry__', '__stack_chk_fail', '__x86_return_thunk', '__x86_indirect_thunk_*', '__x86_indirect_call_thunk_*', '__asan_*', '__kasan_*', '__ubsan_handle_*', '__tsan_*', '__kcsan_*', '__sanitizer_*', '__SCT__*', '__tracepoint_*', '__traceiter_*', '__this_module', '__fortify_panic', 'fortify_panic', '__warn_printk', 'warn_slowpath_fmt', '__might_sleep', '__might_resched', '__might_fault', '__cond_resched', 'preempt_schedule', 'preempt_schedule_notrace', 'preempt_schedule_thunk', 'preempt_schedule_notrace_thunk', '__preempt_count', 'pcpu_hot', 'current_task', 'cpu_number', '__per_cpu_offset', 'this_cpu_off', 'debug_smp_processor_id', 'refcount_warn_saturate', '__list_add_valid', '__list_del_entry_valid', '__check_object_size', '__virt_addr_valid', '__phys_addr', 'page_offset_base', 'vmemmap_base', 'phys_base', 'kasan_flag_enabled', 'module_put', 'try_module_get', '__module_get', 'module_refcount'],
  },
  {
    group: 'memory allocation',
    symbols: ['__kmalloc', '__kmalloc_node', 'kmalloc_caches', 'kmalloc_trace', 'kmalloc_node_trace', 'kmalloc_large', 'kmalloc_large_node', 'kmalloc_size_roundup', 'kmem_cache_alloc', 'kmem_cache_alloc_lru', 'kmem_cache_alloc_node', 'kmem_cache_alloc_trace', 'kmem_cache_create', 'kmem_cache_create_usercopy', 'kmem_cache_destroy', 'kmem_cache_free', 'kfree', 'kfree_sensitive', 'kzfree', 'krealloc', 'kmemdup', 'kmemdup_nul', 'kstrdup', 'kstrndup', 'kstrdup_const', 'kfree_const', 'kasprintf', 'kvasprintf', 'ksize', 'vmalloc', 'vzalloc', 'vmalloc_node', 'vzalloc_node', 'vfree', 'vmalloc_array', 'vcalloc', '__vmalloc', 'kvmalloc_node', 'kvfree', 'kvfree_sensitive', 'kvrealloc', '__kvmalloc_node', 'kvmalloc_array', '__get_free_pages', 'get_zeroed_page', 'free_pages', '__free_pages', 'alloc_pages', '__alloc_pages', 'devm_kmalloc', 'devm_kfree', 'kvfree_call_rcu', 'kfree_call_rcu', 'mempool_*'],
  },
  {
    group: 'copying to and from user space',
    symbols: ['_copy_to_user', '_copy_from_user', 'copy_to_user', 'copy_from_user', '__copy_user_nocache', 'copy_user_generic_string', 'copy_user_generic_unrolled', 'copy_user_enhanced_fast_string', 'rep_movs_alternative', '__get_user_*', '__put_user_*', '__get_user_nocheck_*', '__put_user_nocheck_*', 'clear_user', '__clear_user', 'strncpy_from_user', 'strnlen_user', 'memdup_user', 'memdup_user_nul', 'vmemdup_user', 'strndup_user', 'simple_read_from_buffer', 'simple_write_to_buffer', 'check_zeroed_user', '__copy_overflow'],
  },
  {
    group: 'locking and atomics',
    symbols: ['_raw_spin_*', '_raw_read_*', '_raw_write_*', '__raw_spin_lock_init', '__rwlock_init', 'do_raw_spin_*', 'mutex_*', '__mutex_init', '__init_rwsem', 'down_read*', 'up_read', 'down_write*', 'up_write', 'downgrade_write', 'down', 'down_interruptible', 'down_killable', 'down_trylock', 'down_timeout', 'up', 'sema_init', 'lockdep_*', 'lock_acquire', 'lock_release', 'lock_is_held_type', 'lock_sync', 'debug_lockdep_rcu_enabled', '__lockdep_no_validate__', 'rcu_read_lock_held', 'rcu_is_watching', 'rcu_read_lock_bh_held', 'rcu_read_lock_sched_held', 'rcu_read_lock_any_held', '__rcu_read_lock', '__rcu_read_unlock', 'synchronize_rcu', 'synchronize_rcu_expedited', 'call_rcu', 'rcu_barrier', 'rcu_lock_map', 'rcu_bh_lock_map', 'rcu_sched_lock_map', '__seqcount_init', 'seqlock_*', 'atomic_dec_and_mutex_lock', '_atomic_dec_and_lock', '_atomic_dec_and_lock_irqsave', 'percpu_counter_*'],
  },
  {
    group: 'character device and misc device registration',
    symbols: ['misc_register', 'misc_deregister', 'alloc_chrdev_region', 'register_chrdev_region', 'unregister_chrdev_region', '__register_chrdev', '__unregister_chrdev', 'cdev_init', 'cdev_add', 'cdev_del', 'cdev_alloc', 'cdev_device_add', 'cdev_device_del', 'cdev_set_parent', '__class_create', 'class_create', 'class_destroy', 'device_create', 'device_destroy', 'device_create_file', 'device_remove_file', 'dev_set_name', 'get_device', 'put_device', 'noop_llseek', 'no_llseek', 'default_llseek', 'generic_file_llseek', 'generic_file_llseek_size', 'fixed_size_llseek', 'no_seek_end_llseek', 'noop_fsync', 'nonseekable_open', 'stream_open', 'simple_open', 'fasync_helper', 'kill_fasync', 'iminor', 'imajor', 'capable', 'ns_capable', 'file_ns_capable', 'generic_permission', 'seq_*', 'single_open', 'single_release'],
  },
  {
    group: 'wait queues, completions, scheduling',
    symbols: ['__init_waitqueue_head', '__wake_up', '__wake_up_sync', '__wake_up_sync_key', '__wake_up_locked', '__wake_up_locked_key', '__wake_up_pollfree', 'wake_up_bit', 'wake_up_var', 'init_wait_entry', 'init_wait_var_entry', 'prepare_to_wait', 'prepare_to_wait_event', 'prepare_to_wait_exclusive', 'finish_wait', 'add_wait_queue', 'add_wait_queue_exclusive', 'remove_wait_queue', 'autoremove_wake_function', 'default_wake_function', 'woken_wake_function', 'wait_woken', 'schedule', 'schedule_timeout', 'schedule_timeout_interruptible', 'schedule_timeout_killable', 'schedule_timeout_uninterruptible', 'io_schedule', 'yield', 'complete', 'complete_all', 'wait_for_completion', 'wait_for_completion_*', 'try_wait_for_completion', 'completion_done', '__init_completion', 'wake_up_process', 'set_user_nice', '__set_current_state', 'kthread_create_on_node', 'kthread_stop', 'kthread_should_stop', 'kthread_park', 'kthread_unpark', 'kthread_bind', '__kthread_should_park', 'kthread_should_park'],
  },
  {
    group: 'time, timers, deferred work',
    symbols: ['jiffies', 'jiffies_64', 'get_jiffies_64', '__msecs_to_jiffies', '__usecs_to_jiffies', 'jiffies_to_msecs', 'jiffies_to_usecs', 'msecs_to_jiffies', 'ktime_get', 'ktime_get_ns', 'ktime_get_mono_fast_ns', 'ktime_get_raw', 'ktime_get_raw_ns', 'ktime_get_real_ts64', 'ktime_get_ts64', 'ktime_get_with_offset', 'ktime_get_coarse_real_ts64', 'ktime_get_real_seconds', 'ktime_get_seconds', 'ktime_get_boottime', 'ktime_get_boot_fast_ns', 'ns_to_timespec64', 'init_timer_key', 'mod_timer', 'mod_timer_pending', 'timer_reduce', 'add_timer', 'add_timer_on', 'del_timer', 'del_timer_sync', 'try_to_del_timer_sync', 'timer_delete', 'timer_delete_sync', 'timer_shutdown', 'timer_shutdown_sync', 'round_jiffies', 'round_jiffies_relative', 'hrtimer_init', 'hrtimer_start_range_ns', 'hrtimer_cancel', 'hrtimer_try_to_cancel', 'hrtimer_forward', 'hrtimer_active', '__hrtimer_get_remaining', 'hrtimer_sleeper_start_expires', 'hrtimer_init_sleeper', 'msleep', 'msleep_interruptible', 'usleep_range', 'usleep_range_state', '__udelay', '__const_udelay', '__ndelay', '__delay', 'queue_work_on', 'queue_delayed_work_on', 'mod_delayed_work_on', 'flush_work', 'flush_delayed_work', 'cancel_work', 'cancel_work_sync', 'cancel_delayed_work', 'cancel_delayed_work_sync', 'delayed_work_timer_fn', '__flush_workqueue', 'flush_workqueue', 'drain_workqueue', 'alloc_workqueue', 'destroy_workqueue', 'system_wq', 'system_highpri_wq', 'system_long_wq', 'system_unbound_wq', 'system_freezable_wq', 'tasklet_init', 'tasklet_setup', '__tasklet_schedule', '__tasklet_hi_schedule', 'tasklet_kill', 'tasklet_unlock_wait', 'irq_work_queue', 'irq_work_sync'],
  },
  {
    group: 'printing, strings, small helpers',
    symbols: ['_printk', 'printk', '__printk_ratelimit', '___ratelimit', 'printk_timed_ratelimit', '_dev_info', '_dev_err', '_dev_warn', '_dev_notice', '_dev_crit', '_dev_alert', '_dev_emerg', '_dev_printk', 'dev_driver_string', 'dump_stack', 'dump_stack_lvl', 'print_hex_dump', 'hex_dump_to_buffer', 'hex_to_bin', 'hex2bin', 'bin2hex', 'memcpy', 'memset', 'memmove', 'memcmp', 'memchr', 'memchr_inv', 'memscan', 'strlen', 'strnlen', 'strcmp', 'strncmp', 'strcasecmp', 'strncasecmp', 'strcpy', 'strncpy', 'strlcpy', 'strscpy', 'strscpy_pad', 'strcat', 'strncat', 'strlcat', 'strchr', 'strrchr', 'strnchr', 'strstr', 'strnstr', 'strsep', 'strpbrk', 'strspn', 'strcspn', 'strim', 'skip_spaces', 'sprintf', 'snprintf', 'scnprintf', 'vsprintf', 'vsnprintf', 'vscnprintf', 'sscanf', 'vsscanf', 'kstrto*', 'simple_strto*', '_kstrto*', 'memparse', 'get_option', 'sort', 'sort_r', 'bsearch', 'list_sort', 'crc32_le', 'crc32_be', 'crc16', 'get_random_u8', 'get_random_u16', 'get_random_u32', 'get_random_u64', 'get_random_bytes', 'get_random_u32_below', 'prandom_u32_state', 'prandom_seed_state', 'prandom_bytes_state', 'param_ops_*', 'param_array_ops', 'param_get_*', 'param_set_*', 'bitmap_*', '__bitmap_*', 'find_first_bit', 'find_next_bit', '_find_*', 'idr_*', 'ida_alloc_range', 'ida_free', 'ida_destroy', 'xa_*', '__xa_*', 'rb_insert_color', 'rb_erase', 'rb_first', 'rb_last', 'rb_next', 'rb_prev', 'rb_replace_node', 'kobject_uevent', 'kref_*', 'llist_add_batch', 'llist_del_first', 'llist_reverse_order', '__kfifo_*', 'gcd', 'lcm', 'int_sqrt', 'int_pow', 'errseq_*', 'strreplace', 'match_string', '__sysfs_match_string', 'kvasprintf_const'],
  },
];

/** Instructions a driver has no use for and a hostile module would (by mnemonic, AT&T syntax as objdump prints it). */
export const PRIVILEGED_INSTRUCTIONS: ReadonlyArray<{ pattern: RegExp; what: string }> = [
  { pattern: /^(in|ins|out|outs)[bwl]?$/, what: 'port I/O' },
  { pattern: /^(rdmsr|wrmsr|rdmsrq|wrmsrq|wrmsrns)$/, what: 'model-specific register access' },
  { pattern: /^(cli|sti|popf[wlq]?)$/, what: 'changing the interrupt flag (use spin_lock_irqsave instead)' },
  { pattern: /^(hlt|monitor|mwait|umonitor|umwait|tpause)$/, what: 'halting or parking the CPU' },
  { pattern: /^(lgdt|lidt|lldt|ltr|lmsw|clts|invd|wbinvd|wbnoinvd|invlpg|invlpga|invpcid|swapgs|sysret[lq]?|sysexit[lq]?|iret[wlq]?|syscall|sysenter|xsetbv|xrstors|xsaves|wrfsbase|wrgsbase|wrpkru|rsm|pconfig|encls|enclu|enclv)$/, what: 'system instruction' },
  { pattern: /^(sgdt|sidt|sldt|str|smsw)$/, what: 'reading descriptor tables (defeats address randomisation)' },
  { pattern: /^(vm\w+|vmcall|vmmcall|vmfunc|getsec|int1|icebp)$/, what: 'hypervisor or debug instruction' },
];
const CONTROL_OR_DEBUG_REGISTER = /%(cr\d+|db\d+|dr\d+)\b/;

export interface PolicyOptions {
  /** extra symbols the exercise allows (exact names or `prefix*`) */
  symbols?: readonly string[];
  /** privileged mnemonics the exercise allows (e.g. `cli` for an interrupt exercise) */
  instructions?: readonly string[];
}

function matcher(patterns: readonly string[]): (name: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

const defaultAllowed = matcher(DEFAULT_SYMBOL_GROUPS.flatMap((g) => g.symbols));

/** Whether a symbol is in the default set or the exercise's additions. */
export function symbolAllowed(name: string, extra: readonly string[] = []): boolean {
  return defaultAllowed(name) || (extra.length > 0 && matcher(extra)(name));
}

/** A privileged instruction's description, or undefined when the instruction is fine. */
export function privilegedInstruction(insn: Pick<Instruction, 'mnemonic' | 'operands'>, allowed: readonly string[] = []): string | undefined {
  const mnemonic = insn.mnemonic.replace(/^(lock|rep|repz|repnz|repe|repne|notrack|bnd|data16|addr32|rex\.?\w*)\s*/, '');
  if (allowed.includes(mnemonic)) return undefined;
  for (const { pattern, what } of PRIVILEGED_INSTRUCTIONS) if (pattern.test(mnemonic)) return what;
  if (/^mov/.test(mnemonic) && CONTROL_OR_DEBUG_REGISTER.test(insn.operands)) return 'control or debug register access';
  return undefined;
}

/**
 * The policy findings for a built module: one per forbidden symbol and per kind of forbidden
 * instruction (with the first source place using it), and one for branches into the middle
 * of an instruction. Empty when the module may be loaded. Pure.
 */
export function checkModulePolicy(inspection: ModuleInspection, policy: PolicyOptions = {}): Finding[] {
  const findings: Finding[] = [];
  for (const symbol of inspection.undefinedSymbols) {
    if (symbolAllowed(symbol, policy.symbols)) continue;
    const where = inspection.symbolUses[symbol];
    findings.push(policyFinding(`policy: the module uses kernel symbol ${symbol}, which this exercise does not allow`, where, `${symbol} is not in the exercise's allowed set of kernel symbols`));
  }
  const seen = new Set<string>();
  for (const insn of inspection.instructions) {
    const what = privilegedInstruction(insn, policy.instructions);
    if (!what) continue;
    const key = `${insn.mnemonic}|${insn.function}`;
    if (seen.has(key)) continue;
    seen.add(key);
    findings.push(policyFinding(`policy: privileged instruction ${insn.mnemonic} (${what}) in ${insn.function ?? insn.section}`, insn, `${insn.section}+0x${insn.address.toString(16)}: ${insn.mnemonic} ${insn.operands}`.trim()));
  }
  const branch = inspection.misalignedBranches[0];
  if (branch) {
    findings.push(policyFinding(`policy: a jump into the middle of an instruction in ${branch.function ?? branch.section}`, branch, `${inspection.misalignedBranches.length} direct branch(es) land inside another instruction, which hides code from inspection; first at ${branch.section}+0x${branch.address.toString(16)} -> 0x${branch.target.toString(16)}`));
  }
  return findings;
}

function policyFinding(title: string, where: SourcePlace | undefined, raw: string): Finding {
  const frame: Frame | undefined = where?.function ? { function: where.function, ...(where.file ? { file: where.file } : {}), ...(where.line ? { line: where.line } : {}) } : undefined;
  return { kind: 'policy', title, frames: frame ? [frame] : [], raw, count: 1 };
}

/** A `stack-frame` finding for each function whose frame is larger than the exercise allows. */
export function stackFrameFindings(frames: readonly LargeFrame[]): Finding[] {
  return frames.map((f) => ({
    kind: 'stack-frame' as const,
    title: `stack frame of ${f.function} is ${f.bytes} bytes (limit ${f.limit})`,
    frames: [{ function: f.function, file: f.file, line: f.line }],
    raw: `${f.file}:${f.line}: the frame size of ${f.bytes} bytes is larger than ${f.limit} bytes`,
    count: 1,
  }));
}
