import type { Frame } from '@kgrader/schemas';
import { titleName } from './frames.js';

/**
 * Which function a title names, after syzkaller's pkg/report/linux.go (`linuxStackParams`): the
 * first frame of the chosen stack that is not report machinery (dump_stack, kasan_report, lockdep
 * internals, panic), an allocator, a lock primitive, printk or a generic helper (memcpy,
 * copy_to_user, list debugging...), so that the title names the code that did the bad thing.
 *
 * Patterns are syzkaller's: unanchored regexes matched against the function name, so `kasan`
 * skips `__kasan_check_write` and `kasan_report` alike. One kgrader rule on top: a frame printed
 * with a module (`msgbuf_write+0x45/0x120 [msgbuf]`) is never skipped. Modules are the student's
 * code, and `msgbuf_string_lock` must not be lost because it contains "string" or "lock".
 */
const ALWAYS_SKIPPED: readonly string[] = [
  // sanitizers and their report paths
  '__sanitizer', '__asan', 'kasan', 'hwasan', '__msan', 'kmsan', 'kcsan_setup_watchpoint', 'check_memory_region',
  'check_heap_object', 'check_object', 'read_word_at_a_time', '(read|write)_once_.*nocheck',
  'print_address_description', 'print_report', 'print_usage_bug', 'print_tainted', '__fortify_report',
  // oops, BUG and WARN machinery
  'panic', 'invalid_op', 'report_bug', 'fixup_bug', 'do_error', '_trap$|do_trap', 'program_check_exception',
  'program_check_common', 'warn_slowpath', 'warn_alloc', 'warn_bogus', '__warn', 'assertfail', '^get_taint$',
  // stack dumping
  'show_stack', 'dump_stack', 'walk_stack', 'dump_backtrace', 'stack_trace_consume_entry', 'arch_stack_walk',
  'stack_trace_save',
  // allocators
  'alloc_page', 'k?v?(?:m|z|c)alloc', 'krealloc', 'kmem_cache', 'allocate_slab', '__alloc_frozen_pages_noprof',
  'folio_(?:alloc|unlock)', 'filemap_alloc_folio', '__filemap_get_folio', 'find_or_create_page',
  'do_read_cache_folio', 'read_cache_page', 'pagecache_get_page', 'grab_cache_page_write_begin', 'slab_',
  '^kv?free$', 'kfree_skb', 'ida_free',
  // debug objects and lockdep
  'debug_object', 'timer_is_static_object', 'work_is_static_object', 'print_unlock', 'imbalance_bug', 'lockdep',
  'lock_acquire', 'lock_release', 'lock_class', 'mark_lock', '(reacquire|mark)_held_locks',
  '(trace|lockdep)_(hard|soft)irq', 'bh_enable', 'bh_disable', 'perf_trace',
  // lock primitives
  'raw_spin_rq', 'spin_lock', 'spin_trylock', 'spin_unlock', 'read_lock', 'read_trylock', 'write_lock',
  'write_trylock', 'read_unlock', 'write_unlock', '^down$', 'down_read', 'down_write', 'down_read_trylock',
  'down_write_trylock', 'down_trylock', 'up_read', 'up_write', '^mutex_', '^__mutex_', '^rt_mutex_',
  'owner_on_cpu', 'osq_lock', 'osq_unlock', '^(un)?lock_page', 'seqprop_assert',
  // atomics, bit operations, reference counts
  'atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)', '(set|clear|change|test)_bit',
  '^refcount_', '^kref_', 'ref_tracker', '__wake_up', '^complete$',
  // memory and string helpers, formatting, printk
  'memcpy', 'memcmp', 'memset', 'memchr', 'memmove', 'memdup', 'strcmp', 'strncmp', 'strcpy', 'strlcpy',
  'strncpy', 'strscpy', 'strlen', 'strstr', 'strnstr', 'strnlen', 'strchr', 'strdup', 'strndup', 'string',
  'pointer', 'snprintf', 'scnprintf', 'kasprintf', 'kvasprintf', 'printk', 'va_format', 'dev_info',
  'dev_notice', 'dev_warn', 'dev_err', 'dev_alert', 'dev_crit', 'dev_emerg', 'hex_dump_to_buffer',
  'print_hex_dump', '^crc\\d+', 'crc_itu_t',
  // user copies and fault annotations
  'copy_to_user', 'copy_from_user', 'copy_to_iter', 'copy_from_iter', 'copy_page_to_iter',
  'copy_page_from_iter', 'copy_folio_to_iter', '^copyin$', '^copyout$', 'put_user', 'get_user', 'might_fault',
  // libfs helpers drivers call to copy their buffer: the bug is the driver's (kgrader, not in syzkaller's list)
  '^simple_read_from_buffer$', '^simple_write_to_buffer$', '^memory_read_from_buffer$',
  '__might_fault', 'might_sleep', '__might_resched', 'extract_(user|iter)_to_sg',
  // data structures
  'list_add', 'list_del', 'list_replace', 'list_move', 'list_splice', '^rb_', '^__rb_', '^klist_',
  'xas_(?:start|load|find)', 'rhashtable_lookup', '_indirect_thunk_',
  // MMIO accessors
  'readb$', 'readw$', 'readl$', 'readq$', 'writeb$', 'writew$', 'writel$', 'writeq$', 'logic_in', 'logic_out',
  // timers and workqueues
  'del_timer', 'lock_timer_base', '__timer_delete_sync', 'sk_stop_timer_sync', '__mod_timer', 'flush_work',
  '__cancel_work_timer', 'cancel_work_sync', 'try_to_grab_pending', 'flush_workqueue', 'drain_workqueue',
  'destroy_workqueue', 'queue_work', 'insert_work', '__queue_delayed_work', 'queue_delayed_work_on',
  'finish_wait', 'kthread_stop', 'wait_for_completion', 'cleanup_srcu_struct',
  // the device model and other generic teardown paths
  'kobject_', 'add_uevent_var', 'get_device_parent', 'device_add', 'device_del', 'device_unregister',
  'device_destroy', 'device_release', 'devres_release_all', 'hwrng_unregister', 'i2c_del_adapter',
  '__unregister_client', 'device_for_each_child', 'rollback_registered', 'unregister_netdev', 'sysfs_remove',
  'device_remove_file', 'tty_unregister_device', '^put_device$', 'dummy_urb_enqueue', 'usb_kill_urb',
  'usb_kill_anchored_urbs', 'usb_control_msg', 'usb_hcd_submit_urb', 'usb_submit_urb',
  // VFS reference drops and page cache
  '^iput$', '^iput_final$', '^ihold$', 'drop_nlink', 'fast_dput', 'dput', 'find_lock_entries',
  'truncate_inode_pages_range', '__phys_addr',
  // arm64 fault entry
  'do_(kernel|translation)_fault', 'do_mem_abort', 'el1_abort', 'el1h_64_sync(?:_handler)?',
];

/**
 * Syscall wrappers differ by architecture and kernel version (`__x64_sys_ioctl`, `SyS_ioctl`,
 * `__do_sys_ioctl`, `ksys_ioctl`): the title uses the name with the longest of these removed.
 */
const SYSCALL_PREFIXES: readonly string[] = [
  'SYSC_', 'SyS_', 'sys_', '__x64_', '__ia32_', '__arm64_', '____sys_', '___sys_', '__sys_', '__se_',
  '__se_sys_', '__do_sys_', 'compat_SYSC_', 'compat_SyS_', 'ksys_',
];

export function withoutSyscallPrefix(name: string): string {
  let shortest = name;
  for (const prefix of SYSCALL_PREFIXES) {
    if (name.startsWith(prefix) && name.length - prefix.length < shortest.length) shortest = name.slice(prefix.length);
  }
  return shortest;
}

const skipRegexCache = new Map<string, RegExp>();

/** The unanchored skip regex of a family: the always-skipped patterns plus its own. */
export function skipRegex(extra: readonly string[] = []): RegExp {
  const key = extra.join('|');
  let re = skipRegexCache.get(key);
  if (!re) {
    re = new RegExp([...ALWAYS_SKIPPED, ...extra].join('|'));
    skipRegexCache.set(key, re);
  }
  return re;
}

/** A frame as the title engine sees it: a function name and whether a module printed it. */
export interface NamedFrame {
  name: string;
  inModule: boolean;
}

export function isSkippedName(frame: NamedFrame, skip: RegExp): boolean {
  return !frame.inModule && skip.test(frame.name);
}

/**
 * Whether a parsed frame is report machinery or a generic helper that a title never names.
 * `extra` adds a family's own patterns (e.g. `['refcount']` for refcount warnings).
 */
export function isSkippedFrame(frame: Frame, extra: readonly string[] = []): boolean {
  return isSkippedName({ name: frame.function, inModule: frame.module !== undefined }, skipRegex(extra));
}

/** The first frame worth naming in a title, or undefined when every frame is machinery. */
export function pickTitleFrame(candidates: readonly (Frame | undefined)[], extra: readonly string[] = []): Frame | undefined {
  for (const frame of candidates) {
    if (frame && !frame.inlined && !isSkippedFrame(frame, extra)) return frame;
  }
  return undefined;
}

/**
 * Chooses the frame a title names among the non-skipped frames of a stack (names already without
 * syscall prefixes): its index and the name to use, or `undefined` when none fits.
 */
export type FramePicker = (frames: readonly NamedFrame[]) => { index: number; name: string } | undefined;

export const firstFrame: FramePicker = (frames) => (frames.length > 0 ? { index: 0, name: frames[0]!.name } : undefined);

/**
 * Stalls (soft lockups, RCU stalls, stack overflows) catch a CPU at a random point of a loop, so
 * the innermost frame differs between samples of the same bug. Like syzkaller's
 * linuxStallFrameExtractor, name the frame just above a dispatch point (syscall entry, vfs_write,
 * workqueue, timer, kthread): the syscall for most, the device's own operation for read/write/ioctl.
 */
const STALL_DISPATCH_POINTS: readonly RegExp[] = [
  /process_one_work/, /do_syscall_/, /do_fast_syscall_/, /sysenter_dispatch/, /tracesys_phase2/,
  /el0_svc_handler/, /invoke_syscall/, /ret_fast_syscall/, /netif_receive_skb/, /do_softirq/, /call_timer_fn/,
  /_run_timers/, /run_timer_softirq/, /hrtimer_run/, /run_ksoftirqd/, /smpboot_thread_fn/, /^kthread$/,
  /start_secondary/, /cpu_startup_entry/, /ret_from_fork/,
  // file operations whose callers are too generic to name
  /vfs_write/, /vfs_read/, /vfs_iter_read/, /vfs_iter_write/, /do_iter_read/, /do_iter_write/,
  /call_read_iter/, /call_write_iter/, /new_sync_read/, /new_sync_write/, /vfs_ioctl/, /ksys_ioctl/,
  /compat_ioctl/, /compat_sys_ioctl/, /blkdev_driver_ioctl/, /blkdev_ioctl/, /do_iter_readv_writev/,
  /^call_mmap/, /mmap_region/, /do_mmap/, /do_dentry_open/, /vfs_open/,
  // sockets
  /^sock_sendmsg/, /^sock_recvmsg/, /^sock_release/, /^__sock_release/, /^setsockopt$/, /kernel_setsockopt/,
  /sock_common_setsockopt/, /^listen$/, /kernel_listen/, /sk_common_release/, /^sock_mmap/, /^accept$/,
  /kernel_accept/, /^sock_do_ioctl/, /^sock_ioctl/, /^compat_sock_ioctl/, /^nfnetlink_rcv_msg/,
  /^rtnetlink_rcv_msg/, /^netlink_dump/, /^(sys_)?(socketpair|connect|ioctl)/,
  // page faults and return to user space
  /__do_fault/, /do_page_fault/, /^page_fault$/, /__fput/, /task_work_run/, /exit_to_usermode/,
  /smp_call_function/, /tasklet_action/, /tasklet_hi_action/,
];

export const stallFrame: FramePicker = (frames) => {
  let previous = 0;
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i]!;
    if (!frame.inModule && STALL_DISPATCH_POINTS.some((re) => re.test(frame.name))) {
      // Cross-CPU calls have many entry variants: the call itself is the common name.
      if (frame.name.includes('smp_call_function')) return { index: i, name: 'smp_call_function' };
      return { index: previous, name: frames[previous]!.name };
    }
    previous = i;
  }
  return undefined;
};

/**
 * Hung tasks show the victim's wait site, not the culprit. Like syzkaller's
 * linuxHangTaskFrameExtractor: hangs in RCU grace periods are bucketed as `synchronize_rcu`,
 * rtnl waits as `rtnl_lock`, and otherwise waiting primitives are skipped by substring (never a
 * module's own function, even if it is called `msgbuf_wait_data`).
 */
const HANG_BUCKETS: readonly (readonly [string, string | undefined])[] = [
  ['rtnl_lock', undefined],
  ['synchronize_rcu', 'synchronize_rcu'],
  ['synchronize_srcu', 'synchronize_rcu'],
  ['synchronize_net', 'synchronize_rcu'],
  ['synchronize_sched', 'synchronize_rcu'],
];
const HANG_WAIT_SUBSTRINGS: readonly string[] = [
  'sched', '_lock', '_slowlock', 'down', 'rwsem', 'completion', 'kthread', 'wait', 'synchronize',
  'context_switch', '__switch_to', 'cancel_delayed_work', 'rcu_barrier',
];

export const hangFrame: FramePicker = (frames) => {
  for (let i = 0; i < frames.length; i++) {
    const frame = frames[i]!;
    if (frame.inModule) continue;
    for (const [anchor, bucket] of HANG_BUCKETS) {
      if (frame.name.includes(anchor)) return { index: i, name: bucket ?? frame.name };
    }
  }
  const index = frames.findIndex((f) => f.inModule || !HANG_WAIT_SUBSTRINGS.some((s) => f.name.includes(s)));
  return index >= 0 ? { index, name: frames[index]!.name } : undefined;
};

/** The title name of a frame: compiler suffixes dropped, syscall wrappers unified. */
export function canonicalFrameName(frame: Frame): string {
  return withoutSyscallPrefix(titleName(frame));
}
