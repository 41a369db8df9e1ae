// kgrader's own log fixtures: test/fixtures/*.log (written in our kernel's format, for the cases
// the corpus lacks: harness markers, truncation, caller-id interleaving, panic folding, student
// module frames) and test/fixtures/real/*.log (captured from the grading kernel running the
// shipped msgbuf solutions). Each file's header lists the titles the parser must find, in order;
// the details each finding must carry are here, by title.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Finding } from '@kgrader/schemas';
import { parseConsoleLog } from '../src/index.js';
import { fixture, functions, byTitle } from './helpers.js';
import { readTitledLog } from './titled-log.js';

interface Details {
  kind: Finding['kind'];
  access?: Finding['access'];
  /** frames that must appear in the main stack, in this order (not necessarily adjacent) */
  keyFrames?: string[];
  truncated?: boolean;
  test?: string;
  count?: number;
  stackLabels?: string[];
  consequenceOf?: number;
}

/** What each finding must carry besides its title, by fixture and title. */
const DETAILS: Record<string, Record<string, Details>> = {
  'kasan-use-after-free.log': {
    'KASAN: use-after-free Write in msgbuf_write': {
      kind: 'kasan',
      access: { type: 'write', size: 8, address: 'ffff888004a8c000' },
      keyFrames: ['msgbuf_write', 'vfs_write', 'ksys_write'],
      truncated: false,
      test: 'concurrent_close',
      stackLabels: ['allocated', 'freed'],
    },
  },
  'kasan-slab-oob-no-caller.log': {
    'KASAN: slab-out-of-bounds Read in msgbuf_read': {
      kind: 'kasan',
      access: { type: 'read', size: 1, address: 'ffff888006b1e040' },
      keyFrames: ['msgbuf_read', 'vfs_read'],
      truncated: false,
      test: 'read_past_end',
      stackLabels: ['allocated'],
    },
  },
  'kasan-slab-oob-no-timestamps.log': {
    'KASAN: slab-out-of-bounds Read in msgbuf_read': { kind: 'kasan', truncated: false, test: 'read_past_end' },
  },
  'kasan-truncated.log': {
    'KASAN: use-after-free Write in msgbuf_write': { kind: 'kasan', truncated: true, keyFrames: ['msgbuf_write'] },
  },
  'lockdep-circular.log': {
    'possible deadlock in msgbuf_write': {
      kind: 'lockdep',
      keyFrames: ['msgbuf_write', 'vfs_write'],
      truncated: false,
      test: 'lock_order',
      stackLabels: ['-> #1 (&dev->meta_lock){+.+.}-{3:3}', '-> #0 (&dev->data_lock){+.+.}-{3:3}'],
    },
  },
  'lockdep-misc.log': {
    'WARNING: bad unlock balance in msgbuf_unlock_twice': { kind: 'lockdep', keyFrames: ['msgbuf_unlock_twice'] },
    'WARNING: lock held when returning to user space in msgbuf_ioctl': { kind: 'lockdep', truncated: false },
    'inconsistent lock state in msgbuf_write': { kind: 'lockdep', stackLabels: ['{IN-HARDIRQ-W} state was registered at'] },
    'WARNING: suspicious RCU usage in msgbuf_lookup': { kind: 'lockdep' },
    'INFO: trying to register non-static key in msgbuf_init': { kind: 'lockdep' },
  },
  'atomic-sleep.log': {
    'BUG: sleeping function called from invalid context in msgbuf_ioctl': {
      kind: 'atomic-sleep',
      test: 'ioctl_reset',
      stackLabels: ['preemption disabled at'],
    },
    'BUG: scheduling while atomic in msgbuf_timer_fn': { kind: 'atomic-sleep', test: 'sleep_in_irq' },
  },
  'warning.log': {
    'WARNING in msgbuf_ioctl': { kind: 'warning', keyFrames: ['msgbuf_ioctl', '__x64_sys_ioctl'], test: 'bad_ioctl', count: 2, truncated: false },
  },
  'null-deref-panic.log': {
    'BUG: unable to handle kernel NULL pointer dereference in msgbuf_release': {
      kind: 'oops',
      access: { type: 'write', address: '0000000000000010' },
      keyFrames: ['msgbuf_release', '__fput', 'task_work_run'],
      truncated: false,
      test: 'open_close',
    },
  },
  'kernel-bug-panic-on-warn.log': {
    'kernel BUG in msgbuf_push': { kind: 'bug', keyFrames: ['msgbuf_push.cold', 'msgbuf_write'], truncated: false },
  },
  'gpf-kasan-null.log': {
    'general protection fault in msgbuf_poll': { kind: 'oops', keyFrames: ['msgbuf_poll', 'do_sys_poll'] },
  },
  'ubsan.log': {
    'UBSAN: array-index-out-of-bounds in msgbuf_store_name': { kind: 'ubsan', keyFrames: ['msgbuf_store_name', 'msgbuf_write'] },
    'UBSAN: shift-out-of-bounds in msgbuf_ioctl': { kind: 'ubsan' },
  },
  'kmemleak.log': {
    'memory leak in 0xffffffffc0000123': { kind: 'kmemleak', keyFrames: ['kmalloc_trace', '0xffffffffc0000123', 'do_one_initcall'] },
    'memory leak in msgbuf_write': { kind: 'kmemleak', count: 2, keyFrames: ['__kmalloc', 'msgbuf_write'] },
    'memory leak in msgbuf_ioctl': { kind: 'kmemleak', truncated: false },
  },
  'hung-task.log': {
    'INFO: task hung in msgbuf_read': { kind: 'hung-task', keyFrames: ['__schedule', 'msgbuf_read'], test: 'blocking_read' },
  },
  'soft-lockup.log': {
    'BUG: soft lockup in msgbuf_write': { kind: 'soft-lockup', keyFrames: ['msgbuf_wait_ready', 'msgbuf_write'], test: 'spin_forever' },
  },
  'rcu-stall.log': {
    'INFO: rcu detected stall in msgbuf_ioctl': { kind: 'rcu-stall', keyFrames: ['msgbuf_drain', 'msgbuf_flush', 'msgbuf_ioctl'] },
  },
  'list-and-refcount.log': {
    'BUG: corrupted list in msgbuf_remove_entry': { kind: 'list-corruption', keyFrames: ['__list_del_entry_valid', 'msgbuf_remove_entry'] },
    'WARNING: refcount bug in msgbuf_put': { kind: 'refcount', keyFrames: ['refcount_warn_saturate', 'msgbuf_put'] },
  },
  'kcsan.log': {
    'KCSAN: data-race in msgbuf_read / msgbuf_write': {
      kind: 'kcsan',
      access: { type: 'write', size: 8, address: 'ffff888004a8c010' },
      keyFrames: ['msgbuf_write', 'vfs_write'],
      test: 'racy_counter',
    },
  },
  'panic-standalone.log': {
    'kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)': { kind: 'panic', keyFrames: ['mount_block_root'] },
  },
  'stack-protector.log': {
    'kernel panic: stack is corrupted in msgbuf_format': { kind: 'stack-corruption' },
  },
  'interleaved.log': {
    'KASAN: slab-use-after-free Write in msgbuf_write': {
      kind: 'kasan',
      keyFrames: ['msgbuf_write', 'vfs_write', 'ksys_write'],
      truncated: false,
      stackLabels: ['freed'],
      test: 'two_cpus',
    },
    'WARNING in msgbuf_read': { kind: 'warning', keyFrames: ['msgbuf_read', 'vfs_read', 'ksys_read'], truncated: false, test: 'two_cpus' },
  },
  'real/buggy-off-by-one-read.log': {
    'KASAN: slab-out-of-bounds Read in msgbuf_read': { kind: 'kasan', access: { type: 'read', size: 101, address: 'ffff888004e7da00' }, test: 'write_read', truncated: false },
  },
  'real/buggy-race-realloc.log': {
    'KASAN: invalid-free in msgbuf_write': { kind: 'kasan', test: 'race_writers', stackLabels: ['allocated', 'freed'], keyFrames: ['kfree', 'msgbuf_write'] },
    // the double-free corrupted the slab: the next kmalloc crashes inside the allocator
    'BUG: unable to handle kernel NULL pointer dereference in virt_to_slab': { kind: 'oops', test: 'race_writers', consequenceOf: 0, keyFrames: ['virt_to_slab', '__kmalloc', 'msgbuf_write'] },
  },
  'real/buggy-spinlock-copy.log': {
    'BUG: sleeping function called from invalid context in msgbuf_write': { kind: 'atomic-sleep', test: 'write_read', count: 5 },
    'WARNING: locking bug in msgbuf_write': { kind: 'lockdep', test: 'write_read' },
    'BUG: sleeping function called from invalid context in msgbuf_read': { kind: 'atomic-sleep', count: 5 },
  },
  'real/chardev-buggy-fixed-buffer-trimmed.log': {
    'KASAN: slab-out-of-bounds Write in fixedbuf_write': { kind: 'kasan', test: 'offsets', count: 4, access: { type: 'write', size: 4095, address: 'ffff88800086d600' }, keyFrames: ['fixedbuf_write', 'vfs_write'] },
    // raised by KASAN's printer reading a stack-depot handle the overflow overwrote
    'WARNING in stack_depot_fetch': { kind: 'warning', test: 'offsets', count: 9, consequenceOf: 0, keyFrames: ['stack_depot_fetch', 'print_report'] },
    // the second copy lost its middle to the capture gap: counted here, not named after a frame past the gap
    'KASAN: slab-out-of-bounds Read in fixedbuf_read': { kind: 'kasan', test: 'offsets', count: 2, keyFrames: ['fixedbuf_read', 'vfs_read'] },
    // kmemleak's worker walking objects the overflow overwrote
    'general protection fault in __lookup_object': { kind: 'oops', count: 1, consequenceOf: 0, keyFrames: ['__lookup_object', 'find_and_remove_object'] },
  },
  'real/ticker-buggy-plain-spinlock.log': {
    // 6.1 prints valid_state between print_usage_bug and mark_lock: the title must still name the driver
    'inconsistent lock state in ticker_read': {
      kind: 'lockdep',
      test: 'records',
      keyFrames: ['_raw_spin_lock', 'ticker_read', 'vfs_read'],
      stackLabels: ['{IN-SOFTIRQ-W} state was registered at'],
    },
  },
  'real/ticker-buggy-no-timer-cancel.log': {
    // the timer fires after unload: the releasing PC is a bare address (no module symbol left)
    'WARNING: bad unlock balance in 0xffffffffc03e02b2': { kind: 'lockdep', test: 'load_cycles', keyFrames: ['lock_release', '_raw_spin_unlock_irqrestore'] },
    'KASAN: vmalloc-out-of-bounds Write in detach_timer': { kind: 'kasan', test: 'load_cycles', keyFrames: ['detach_timer', '__run_timers'] },
    'BUG: unable to handle kernel paging request in detach_timer': { kind: 'oops', test: 'load_cycles', consequenceOf: 1, keyFrames: ['detach_timer', '__run_timers'] },
  },
  'real/ticker-buggy-gfp-kernel-in-timer.log': {
    'inconsistent lock state in __fs_reclaim_acquire': { kind: 'lockdep', test: 'load', keyFrames: ['fs_reclaim_acquire', 'ticker_tick', 'call_timer_fn'] },
    'BUG: sleeping function called from invalid context in ticker_tick': { kind: 'atomic-sleep', test: 'load', count: 17, keyFrames: ['__might_sleep', 'ticker_tick', 'call_timer_fn'] },
    // __might_sleep warns again (!TASK_RUNNING) when the tick interrupts a task going to sleep:
    // the same kmalloc, not a second bug
    'WARNING in ticker_tick': { kind: 'warning', test: 'records', consequenceOf: 1, keyFrames: ['__might_sleep', 'ticker_tick'] },
  },
  'real/buggy-leak-on-unload.log': {
    'memory leak in 0xffffffffa0000028': { kind: 'kmemleak', test: 'kmemleak', keyFrames: ['__kmalloc', '0xffffffffa0000028', 'vfs_write'] },
  },
};

function assertInOrder(actual: string[], expected: string[], context: string): void {
  let at = 0;
  for (const name of expected) {
    const found = actual.indexOf(name, at);
    assert.ok(found >= 0, `${context}: frame ${name} missing or out of order in [${actual.join(', ')}]`);
    at = found + 1;
  }
}

const FIXTURES = [
  ...readdirSync(new URL('../../test/fixtures/', import.meta.url)).filter((f) => f.endsWith('.log')),
  ...readdirSync(new URL('../../test/fixtures/real/', import.meta.url))
    .filter((f) => f.endsWith('.log'))
    .map((f) => `real/${f}`),
];

test('every fixture with findings has their details here', () => {
  const withFindings = FIXTURES.filter((f) => readTitledLog(fixture(f)).titles.length > 0);
  assert.deepEqual(withFindings.sort(), Object.keys(DETAILS).sort());
});

for (const file of FIXTURES) {
  test(`fixture ${file}`, () => {
    const expected = readTitledLog(fixture(file));
    const { findings } = parseConsoleLog(expected.log);
    assert.deepEqual(
      findings.map((f) => f.title),
      expected.titles,
    );
    for (const title of expected.titles) {
      const f = byTitle(findings, title);
      const e = DETAILS[file]?.[title];
      assert.ok(e, `${file}: no details for ${title}`);
      // Every finding must satisfy the shared contract.
      Finding.parse(f);
      assert.equal(f.kind, e.kind, title);
      assert.equal(f.corrupted ?? false, expected.corrupted.includes(title), `${title} corrupted`);
      assert.equal(f.consequenceOf, e.consequenceOf, `${title} consequenceOf`);
      if (e.access) assert.deepEqual(f.access, e.access, title);
      if (e.keyFrames) assertInOrder(functions(f.frames), e.keyFrames, title);
      if (e.truncated !== undefined) assert.equal(f.truncated ?? false, e.truncated, `${title} truncated`);
      if (e.test !== undefined) assert.equal(f.test, e.test, `${title} test`);
      assert.equal(f.count, e.count ?? 1, `${title} count`);
      if (e.stackLabels) assert.deepEqual(f.stacks?.map((s) => s.label), e.stackLabels, `${title} stacks`);
      assert.ok(!f.frames.some((fr) => fr.inlined), `${title}: no ? frames in the main stack`);
      assert.ok(!/\[\s*\d+\.\d+\]/.test(f.raw), `${title}: raw has no timestamps`);
    }
  });
}
