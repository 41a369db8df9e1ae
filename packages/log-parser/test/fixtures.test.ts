import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Finding } from '@kgrader/schemas';
import { parseConsoleLog } from '../src/index.js';
import { fixture, functions, byTitle } from './helpers.js';

interface Expectation {
  kind: Finding['kind'];
  title: string;
  access?: Finding['access'];
  /** frames that must appear, in this order (not necessarily adjacent) */
  keyFrames?: string[];
  truncated?: boolean;
  test?: string;
  count?: number;
  stackLabels?: string[];
}

/** Each fixture with what the parser must find in it, in log order. */
const EXPECTATIONS: Record<string, Expectation[]> = {
  'kasan-use-after-free.log': [
    {
      kind: 'kasan',
      title: 'KASAN: use-after-free Write in msgbuf_write',
      access: { type: 'write', size: 8, address: 'ffff888004a8c000' },
      keyFrames: ['msgbuf_write', 'vfs_write', 'ksys_write'],
      truncated: false,
      test: 'concurrent_close',
      stackLabels: ['allocated', 'freed'],
    },
  ],
  'kasan-slab-oob-no-caller.log': [
    {
      kind: 'kasan',
      title: 'KASAN: slab-out-of-bounds Read in msgbuf_read',
      access: { type: 'read', size: 1, address: 'ffff888006b1e040' },
      keyFrames: ['msgbuf_read', 'vfs_read'],
      truncated: false,
      test: 'read_past_end',
      stackLabels: ['allocated'],
    },
  ],
  'kasan-slab-oob-no-timestamps.log': [
    { kind: 'kasan', title: 'KASAN: slab-out-of-bounds Read in msgbuf_read', truncated: false, test: 'read_past_end' },
  ],
  'kasan-truncated.log': [
    { kind: 'kasan', title: 'KASAN: use-after-free Write in msgbuf_write', truncated: true, keyFrames: ['msgbuf_write'] },
  ],
  'lockdep-circular.log': [
    {
      kind: 'lockdep',
      title: 'possible deadlock in msgbuf_write',
      keyFrames: ['msgbuf_write', 'vfs_write'],
      truncated: false,
      test: 'lock_order',
      stackLabels: ['-> #1 (&dev->meta_lock){+.+.}-{3:3}', '-> #0 (&dev->data_lock){+.+.}-{3:3}'],
    },
  ],
  'lockdep-misc.log': [
    { kind: 'lockdep', title: 'WARNING: bad unlock balance in msgbuf_unlock_twice', keyFrames: ['msgbuf_unlock_twice'] },
    { kind: 'lockdep', title: 'WARNING: lock held when returning to user space in msgbuf_ioctl', truncated: false },
    {
      kind: 'lockdep',
      title: 'inconsistent lock state in msgbuf_write',
      stackLabels: ['{IN-HARDIRQ-W} state was registered at'],
    },
    { kind: 'lockdep', title: 'WARNING: suspicious RCU usage in msgbuf_lookup' },
    { kind: 'lockdep', title: 'INFO: trying to register non-static key in msgbuf_init' },
  ],
  'atomic-sleep.log': [
    {
      kind: 'atomic-sleep',
      title: 'BUG: sleeping function called from invalid context in msgbuf_ioctl',
      test: 'ioctl_reset',
      stackLabels: ['preemption disabled at'],
    },
    { kind: 'atomic-sleep', title: 'BUG: scheduling while atomic in msgbuf_timer_fn', test: 'sleep_in_irq' },
  ],
  'warning.log': [
    {
      kind: 'warning',
      title: 'WARNING in msgbuf_ioctl',
      keyFrames: ['msgbuf_ioctl', '__x64_sys_ioctl'],
      test: 'bad_ioctl',
      count: 2,
      truncated: false,
    },
  ],
  'null-deref-panic.log': [
    {
      kind: 'oops',
      title: 'BUG: unable to handle kernel NULL pointer dereference in msgbuf_release',
      access: { type: 'write', address: '0000000000000010' },
      keyFrames: ['msgbuf_release', '__fput', 'task_work_run'],
      truncated: false,
      test: 'open_close',
    },
  ],
  'kernel-bug-panic-on-warn.log': [
    { kind: 'bug', title: 'kernel BUG in msgbuf_push', keyFrames: ['msgbuf_push.cold', 'msgbuf_write'], truncated: false },
  ],
  'gpf-kasan-null.log': [
    { kind: 'oops', title: 'general protection fault in msgbuf_poll', keyFrames: ['msgbuf_poll', 'do_sys_poll'] },
  ],
  'ubsan.log': [
    { kind: 'ubsan', title: 'UBSAN: array-index-out-of-bounds in msgbuf_store_name', keyFrames: ['msgbuf_store_name', 'msgbuf_write'] },
    { kind: 'ubsan', title: 'UBSAN: shift-out-of-bounds in msgbuf_ioctl' },
  ],
  'kmemleak.log': [
    { kind: 'kmemleak', title: 'memory leak in 0xffffffffc0000123', keyFrames: ['kmalloc_trace', '0xffffffffc0000123', 'do_one_initcall'] },
    { kind: 'kmemleak', title: 'memory leak in msgbuf_write', count: 2, keyFrames: ['__kmalloc', 'msgbuf_write'] },
    { kind: 'kmemleak', title: 'memory leak in msgbuf_ioctl', truncated: false },
  ],
  'hung-task.log': [
    { kind: 'hung-task', title: 'INFO: task hung in msgbuf_read', keyFrames: ['__schedule', 'msgbuf_read'], test: 'blocking_read' },
  ],
  'soft-lockup.log': [
    { kind: 'soft-lockup', title: 'BUG: soft lockup in msgbuf_write', keyFrames: ['msgbuf_wait_ready', 'msgbuf_write'], test: 'spin_forever' },
  ],
  'rcu-stall.log': [
    { kind: 'rcu-stall', title: 'INFO: rcu detected stall in msgbuf_ioctl', keyFrames: ['msgbuf_drain', 'msgbuf_flush', 'msgbuf_ioctl'] },
  ],
  'list-and-refcount.log': [
    { kind: 'list-corruption', title: 'BUG: corrupted list in msgbuf_remove_entry', keyFrames: ['__list_del_entry_valid', 'msgbuf_remove_entry'] },
    { kind: 'refcount', title: 'WARNING: refcount bug in msgbuf_put', keyFrames: ['refcount_warn_saturate', 'msgbuf_put'] },
  ],
  'kcsan.log': [
    {
      kind: 'kcsan',
      title: 'KCSAN: data-race in msgbuf_read / msgbuf_write',
      access: { type: 'write', size: 8, address: 'ffff888004a8c010' },
      keyFrames: ['msgbuf_write', 'vfs_write'],
      test: 'racy_counter',
    },
  ],
  'kfence.log': [
    {
      kind: 'kfence',
      title: 'KFENCE: use-after-free read in msgbuf_peek',
      access: { type: 'read', address: '000000006b3c9c5a' },
      keyFrames: ['msgbuf_peek', 'msgbuf_ioctl'],
      stackLabels: ['allocated', 'freed'],
    },
  ],
  'panic-standalone.log': [
    { kind: 'panic', title: 'kernel panic: VFS: Unable to mount root fs on unknown-block(0,0)', keyFrames: ['mount_block_root'] },
  ],
  'stack-protector.log': [{ kind: 'stack-corruption', title: 'kernel panic: stack is corrupted in msgbuf_format' }],
  'interleaved.log': [
    {
      kind: 'kasan',
      title: 'KASAN: slab-use-after-free Write in msgbuf_write',
      keyFrames: ['msgbuf_write', 'vfs_write', 'ksys_write'],
      truncated: false,
      stackLabels: ['freed'],
      test: 'two_cpus',
    },
    { kind: 'warning', title: 'WARNING in msgbuf_read', keyFrames: ['msgbuf_read', 'vfs_read', 'ksys_read'], truncated: false, test: 'two_cpus' },
  ],
};

function assertInOrder(actual: string[], expected: string[], context: string): void {
  let at = 0;
  for (const name of expected) {
    const found = actual.indexOf(name, at);
    assert.ok(found >= 0, `${context}: frame ${name} missing or out of order in [${actual.join(', ')}]`);
    at = found + 1;
  }
}

for (const [file, expected] of Object.entries(EXPECTATIONS)) {
  test(`fixture ${file}`, () => {
    const { findings } = parseConsoleLog(fixture(file));
    assert.deepEqual(
      findings.map((f) => f.title),
      expected.map((e) => e.title),
    );
    for (const e of expected) {
      const f = byTitle(findings, e.title);
      // Every finding must satisfy the shared contract.
      Finding.parse(f);
      assert.equal(f.kind, e.kind, e.title);
      if (e.access) assert.deepEqual(f.access, e.access, e.title);
      if (e.keyFrames) assertInOrder(functions(f.frames), e.keyFrames, e.title);
      if (e.truncated !== undefined) assert.equal(f.truncated ?? false, e.truncated, `${e.title} truncated`);
      if (e.test !== undefined) assert.equal(f.test, e.test, `${e.title} test`);
      assert.equal(f.count, e.count ?? 1, `${e.title} count`);
      if (e.stackLabels) assert.deepEqual(f.stacks?.map((s) => s.label), e.stackLabels, `${e.title} stacks`);
      assert.ok(!f.frames.some((fr) => fr.inlined), `${e.title}: no ? frames in the main stack`);
      assert.ok(!/\[\s*\d+\.\d+\]/.test(f.raw), `${e.title}: raw has no timestamps`);
    }
  });
}
