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
