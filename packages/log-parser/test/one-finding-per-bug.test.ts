// Issue 16 (parser side): a report caused by an earlier one is marked as its consequence; the same
// bug is one finding, named after the driver's function, not again after allocator internals.
// Issue 14: a report damaged by another CPU printing into it keeps its family and says so.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConsoleLog } from '../src/index.js';
import { fixtureLog } from './helpers.js';

/** Lines as one task prints them with CONFIG_PRINTK_TIME and CONFIG_PRINTK_CALLER. */
const printk = (caller: string, start: number, lines: readonly string[]): string =>
  lines.map((l, i) => `[${(start + i / 1e5).toFixed(6).padStart(12)}][${caller.padStart(6)}] ${l}`).join('\n');

/** `copy_from_user()` under a spinlock, as our kernel reports it (from the buggy-spinlock-copy capture). */
const SLEEP_IN_KMALLOC = [
  'BUG: sleeping function called from invalid context at include/linux/sched/mm.h:274',
  'in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 49, name: kgrader-harness',
  'preempt_count: 1, expected: 0',
  'RCU nest depth: 0, expected: 0',
  '1 lock held by kgrader-harness/49:',
  ' #0: ffffffffa00020b8 (msgbuf_lock){+.+.}-{2:2}, at: msgbuf_write+0x34/0xa4 [msgbuf]',
  'CPU: 1 PID: 49 Comm: kgrader-harness Tainted: G           O       6.1.192 #1',
  'Call Trace:',
  ' <TASK>',
  ' dump_stack_lvl+0x51/0x66',
  ' dump_stack+0x10/0x12',
  ' __might_resched+0x497/0x4c1',
  ' __might_sleep+0x13e/0x149',
  ' slab_pre_alloc_hook.constprop.0+0x3a/0x58',
  ' __kmem_cache_alloc_node+0x37/0x123',
  ' __kmalloc+0xa0/0xdd',
  ' msgbuf_write+0x56/0xa4 [msgbuf]',
  ' vfs_write+0x209/0x3e4',
  ' ksys_write+0x109/0x186',
  ' do_syscall_64+0x3d/0x4c',
  ' entry_SYSCALL_64_after_hwframe+0x4b/0xb5',
  ' </TASK>',
];

/** The same allocation reaching might_sleep() through kmemleak's own bookkeeping allocation. */
const SLEEP_IN_KMEMLEAK = [
  'BUG: sleeping function called from invalid context at include/linux/sched/mm.h:274',
  'in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 52, name: kgrader-harness',
  'preempt_count: 1, expected: 0',
  'CPU: 0 PID: 52 Comm: kgrader-harness Tainted: G        W  O       6.1.192 #1',
  'Call Trace:',
  ' <TASK>',
  ' dump_stack_lvl+0x51/0x66',
  ' __might_resched+0x497/0x4c1',
  ' kmem_cache_alloc+0x2e/0x2a0',
  ' __create_object+0x3d/0x3a0',
  ' kmemleak_alloc+0x45/0x80',
  ' slab_post_alloc_hook.constprop.0+0x7a/0x8b',
  ' __kmem_cache_alloc_node+0xf9/0x123',
  ' __kmalloc+0xa0/0xdd',
  ' msgbuf_write+0x56/0xa4 [msgbuf]',
  ' vfs_write+0x209/0x3e4',
  ' ksys_write+0x109/0x186',
  ' </TASK>',
];

/** An oops inside a spinlocked section, then the report of the task dying with preemption off. */
const OOPS_UNDER_SPINLOCK = [
  'BUG: kernel NULL pointer dereference, address: 0000000000000008',
  '#PF: supervisor read access in kernel mode',
  '#PF: error_code(0x0000) - not-present page',
  'Oops: 0000 [#1] PREEMPT SMP KASAN',
  'CPU: 1 PID: 61 Comm: kgrader-harness Tainted: G           O       6.1.192 #1',
  'RIP: 0010:msgbuf_ioctl+0x61/0x120 [msgbuf]',
  'RSP: 0018:ffff888000dffb88 EFLAGS: 00010246',
  'Call Trace:',
  ' <TASK>',
  ' __x64_sys_ioctl+0xb9/0xf0',
  ' do_syscall_64+0x3d/0x4c',
  ' entry_SYSCALL_64_after_hwframe+0x4b/0xb5',
  ' </TASK>',
  'Modules linked in: msgbuf(O)',
  '---[ end trace 0000000000000000 ]---',
  'RIP: 0010:msgbuf_ioctl+0x61/0x120 [msgbuf]',
  'note: kgrader-harness[61] exited with preempt_count 1',
  'BUG: sleeping function called from invalid context at include/linux/percpu-rwsem.h:49',
  'in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 61, name: kgrader-harness',
  'preempt_count: 1, expected: 0',
  'CPU: 1 PID: 61 Comm: kgrader-harness Tainted: G      D    O       6.1.192 #1',
  'Call Trace:',
  ' <TASK>',
  ' dump_stack_lvl+0x51/0x66',
  ' __might_resched+0x497/0x4c1',
  ' exit_signals+0x2a/0x320',
  ' do_exit+0x1e6/0x1190',
  ' make_task_dead+0x10c/0x110',
  ' rewind_stack_and_make_dead+0x17/0x20',
  ' </TASK>',
];

describe('one finding per bug', () => {
  test('sleeping in atomic context through kmemleak\'s allocation is named after the driver, and folded', () => {
    const log = [printk('T49', 16.5, SLEEP_IN_KMALLOC), printk('T52', 17.5, SLEEP_IN_KMEMLEAK)].join('\n');
    const { findings } = parseConsoleLog(log);
    assert.deepEqual(
      findings.map((f) => [f.title, f.count]),
      [['BUG: sleeping function called from invalid context in msgbuf_write', 2]],
    );
    assert.ok(!findings.some((f) => /create_object|kmemleak|kmem_cache|kmalloc/.test(f.title)));
  });

  test('a task dying of an oops in atomic context: the sleeping report is the oops\'s consequence', () => {
    const { findings } = parseConsoleLog(printk('T61', 30, OOPS_UNDER_SPINLOCK));
    assert.deepEqual(
      findings.map((f) => [f.title, f.consequenceOf]),
      [
        ['BUG: unable to handle kernel NULL pointer dereference in msgbuf_ioctl', undefined],
        ['BUG: sleeping function called from invalid context in exit_signals', 0],
      ],
    );
  });

  test('a plain task exit after an unrelated oops is no consequence of it', () => {
    const exitReport = SLEEP_IN_KMALLOC.map((l) => l.replace(' vfs_write+0x209/0x3e4', ' do_exit+0x1e6/0x1190'));
    const log = [fixtureLog('null-deref-panic.log').split('\n').slice(0, 44).join('\n'), printk('T49', 50, exitReport)].join('\n');
    const { findings } = parseConsoleLog(log);
    assert.equal(findings.length, 2);
    assert.equal(findings[1]?.consequenceOf, undefined);
  });

  test('an allocator crash with no heap corruption before it is a bug of its own', () => {
    const log = fixtureLog('real/buggy-race-realloc.log');
    const withoutKasan = log.replace(/BUG: KASAN: double-free/, 'KASAN report elided: double-free');
    const { findings } = parseConsoleLog(withoutKasan);
    assert.equal(findings[0]?.kind, 'oops');
    assert.equal(findings[0]?.consequenceOf, undefined);
  });
});

/** KASAN's report of an unbounded copy_from_user into a 256-byte kmalloc buffer (chardev-generic buggy-fixed-buffer). */
const kasanReport = (access: 'Read' | 'Write', size: number, inFunction: string, stack: readonly string[], allocatedBy: readonly string[]): string[] => [
  `BUG: KASAN: slab-out-of-bounds in ${inFunction}`,
  `${access} of size ${size} at addr ffff888004e7da00 by task kgrader-harness/51`,
  '',
  'CPU: 1 PID: 51 Comm: kgrader-harness Tainted: G           O       6.1.192 #1',
  'Call Trace:',
  ' <TASK>',
  ' dump_stack_lvl+0x51/0x66',
  ' print_report+0x16b/0x465',
  ' kasan_report+0xa1/0xc8',
  ' kasan_check_range+0x13c/0x145',
  ...stack,
  ' do_syscall_64+0x3d/0x4c',
  ' entry_SYSCALL_64_after_hwframe+0x4b/0xb5',
  ' </TASK>',
  '',
  'Allocated by task 51:',
  ' kasan_save_stack+0x38/0x59',
  ' kasan_set_track+0x25/0x2b',
  ' ____kasan_kmalloc+0x74/0x80',
  ' __kmalloc+0x5b/0xdd',
  ...allocatedBy,
  '',
  'The buggy address belongs to the object at ffff888004e7d900',
  ' which belongs to the cache kmalloc-256 of size 256',
  '==================================================================',
];
const OVERFLOW_WRITE = kasanReport(
  'Write',
  4096,
  '_copy_from_user+0x5c/0x80',
  [' __kasan_check_write+0x14/0x16', ' _copy_from_user+0x5c/0x80', ' fixedbuf_write+0x2e/0x60 [fixedbuf]', ' vfs_write+0x209/0x3e4', ' ksys_write+0x109/0x186'],
  [' fixedbuf_init+0x1d/0x1000 [fixedbuf]', ' do_one_initcall+0x8e/0x1d0'],
);
/** Later: kernel code reading a neighbouring object the overflow overwrote (no module anywhere). */
const NEIGHBOUR_READ = kasanReport(
  'Read',
  8,
  'vfs_write+0x2f1/0x3e4',
  [' __asan_load8+0x7a/0x90', ' vfs_write+0x2f1/0x3e4', ' ksys_write+0x109/0x186'],
  [' alloc_file_pseudo+0xa5/0x140', ' do_pipe2+0x40/0x100'],
);

describe('after the module corrupts the heap', () => {
  test('a crash in kernel code that never passes through the module is a consequence of the overflow', () => {
    const log = [printk('T51', 18, OVERFLOW_WRITE), printk('T51', 19, NEIGHBOUR_READ)].join('\n');
    const { findings } = parseConsoleLog(log);
    assert.deepEqual(
      findings.map((f) => [f.title, f.consequenceOf]),
      [
        ['KASAN: slab-out-of-bounds Write in fixedbuf_write', undefined],
        ['KASAN: slab-out-of-bounds Read in vfs_write', 0],
      ],
    );
  });

  test('without the overflow before it, the same crash stands as a bug of its own', () => {
    const { findings } = parseConsoleLog(printk('T51', 19, NEIGHBOUR_READ));
    assert.equal(findings.length, 1);
    assert.equal(findings[0]?.consequenceOf, undefined);
  });

  test('real capture (chardev-generic buggy-fixed-buffer): the report cut by the capture gap, and the warnings from inside KASAN\'s printer, are not bugs of their own', () => {
    // trimmed from a capped console: KASAN's printer warns in stack_depot_fetch because the
    // overflow overwrote the neighbour's allocation-stack handle; one copy_to_user report lost
    // its middle (module frame included) to the capture gap; kmemleak's worker then crashes
    const { findings } = parseConsoleLog(fixtureLog('real/chardev-buggy-fixed-buffer-trimmed.log'));
    assert.deepEqual(
      findings.map((f) => [f.title, f.consequenceOf]),
      [
        ['KASAN: slab-out-of-bounds Write in fixedbuf_write', undefined],
        ['WARNING in stack_depot_fetch', 0],
        ['KASAN: slab-out-of-bounds Read in fixedbuf_read', undefined],
        ['general protection fault in __lookup_object', 0],
      ],
    );
    assert.equal(findings[2]?.count, 2, 'the cut copy is counted with the well-formed read report');
    assert.ok(!findings.some((f) => /entry_SYSCALL|in corrupted/.test(f.title)));
  });

  test('a later crash on an object the module allocated is its own bug, not the overflow again', () => {
    const readOfModuleObject = kasanReport('Read', 8, 'vfs_write+0x2f1/0x3e4', [' __asan_load8+0x7a/0x90', ' vfs_write+0x2f1/0x3e4', ' ksys_write+0x109/0x186'], [' fixedbuf_open+0x22/0x50 [fixedbuf]', ' chrdev_open+0x12f/0x2d0']);
    const log = [printk('T51', 18, OVERFLOW_WRITE), printk('T51', 19, readOfModuleObject)].join('\n');
    const { findings } = parseConsoleLog(log);
    assert.equal(findings.length, 2);
    assert.equal(findings[1]?.consequenceOf, undefined);
  });
});

describe('interleaved reports', () => {
  test('two CPUs printing at once without caller ids: each report keeps its family and is marked corrupted', () => {
    const log = fixtureLog('interleaved.log').replace(/\]\[\s*T\d+\]/g, ']');
    const { findings } = parseConsoleLog(log);
    assert.deepEqual(
      findings.map((f) => [f.kind, f.corrupted]),
      [
        ['kasan', true],
        ['warning', true],
      ],
    );
    // neither report is named after the other one's function
    assert.match(findings[0]!.title, /^KASAN: slab-use-after-free\b/);
    assert.doesNotMatch(findings[0]!.title, /msgbuf_read/);
    assert.equal(findings[1]!.title, 'WARNING in msgbuf_read');
  });

  test('with caller ids the same reports are told apart and intact', () => {
    const { findings } = parseConsoleLog(fixtureLog('interleaved.log'));
    assert.deepEqual(
      findings.map((f) => [f.title, f.corrupted ?? false]),
      [
        ['KASAN: slab-use-after-free Write in msgbuf_write', false],
        ['WARNING in msgbuf_read', false],
      ],
    );
  });

  test('an oops whose stack was lost is titled "in corrupted", not after a frame of something else', () => {
    const oops = fixtureLog('null-deref-panic.log')
      .split('\n')
      .filter((l) => !/\]  [ ?]|Call Trace|<\/?TASK>|RIP: /.test(l))
      .join('\n');
    const [finding] = parseConsoleLog(oops).findings;
    assert.equal(finding?.title, 'BUG: unable to handle kernel NULL pointer dereference in corrupted');
    assert.equal(finding?.corrupted, true);
  });
});
