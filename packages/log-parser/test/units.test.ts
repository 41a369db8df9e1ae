import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  findingsBeforeMarker,
  isCorruptedCopyOf,
  parseConsoleLog,
  parseFrame,
  parseMarker,
  parseRipFrame,
  splitLinePrefix,
  stripLinePrefix,
  testAtLine,
} from '../src/index.js';
import { fixture, fixtureLog, functions } from './helpers.js';

const ts = (caller: string, lines: string[]): string =>
  lines.map((l, i) => `[   10.${String(100000 + i).slice(1)}][${caller.padStart(6)}] ${l}`).join('\n');

describe('line prefixes', () => {
  test('strips timestamp and caller id, keeping frame indentation', () => {
    assert.deepEqual(splitLinePrefix('[    3.141592][  T123]  msgbuf_write+0x45/0x120 [msgbuf]'), {
      text: ' msgbuf_write+0x45/0x120 [msgbuf]',
      timestamp: 3.141592,
      caller: 'T123',
    });
    assert.deepEqual(splitLinePrefix('[    3.141592][    C1] text'), { text: 'text', timestamp: 3.141592, caller: 'C1' });
  });
  test('timestamp without caller, syslog level, CRLF, no prefix at all', () => {
    assert.equal(stripLinePrefix('[    3.141592] text'), 'text');
    assert.equal(stripLinePrefix('<4>[    3.141592][  T1] text\r'), 'text');
    assert.equal(stripLinePrefix('plain text'), 'plain text');
    assert.equal(stripLinePrefix('[<ffffffffa0000123>] msgbuf_init+0x23/0x100'), '[<ffffffffa0000123>] msgbuf_init+0x23/0x100');
    assert.equal(stripLinePrefix('\u0000\u0000[    1.0] x'), 'x');
  });
});

describe('frames', () => {
  test('module frame', () => {
    assert.deepEqual(parseFrame(' msgbuf_write+0x45/0x120 [msgbuf]'), {
      function: 'msgbuf_write',
      offset: 0x45,
      size: 0x120,
      module: 'msgbuf',
    });
  });
  test('questionable frame is marked inlined', () => {
    assert.deepEqual(parseFrame(' ? __die+0x20/0x60'), { function: '__die', offset: 0x20, size: 0x60, inlined: true });
  });
  test('frame with address, and raw address of an unloaded module', () => {
    assert.deepEqual(parseFrame('[<ffffffffa0000123>] msgbuf_init+0x23/0x100 [msgbuf]'), {
      function: 'msgbuf_init',
      offset: 0x23,
      size: 0x100,
      module: 'msgbuf',
    });
    assert.deepEqual(parseFrame('    [<ffffffffc0000123>] 0xffffffffc0000123'), { function: '0xffffffffc0000123' });
  });
  test('compiler suffixes, build ids and symbolizer output are tolerated', () => {
    assert.equal(parseFrame(' __might_resched.cold+0x222/0x26b')?.function, '__might_resched.cold');
    assert.equal(parseFrame(' msgbuf_write+0x45/0x120 [msgbuf 3f1c2a9b]')?.module, 'msgbuf');
    assert.equal(parseFrame(' msgbuf_write+0x45/0x120 drivers/msgbuf.c:12')?.function, 'msgbuf_write');
  });
  test('non-frames are rejected', () => {
    for (const line of [' <TASK>', ' Tainted: G', 'CPU: 0 PID: 1 Comm: x', '', 'ffff888004a8c0a8 (&dev->lock){+.+.}-{3:3}, at: f+0x1/0x2', ' 0xffffffffc0000123']) {
      assert.equal(parseFrame(line), undefined, line);
    }
  });
  test('RIP lines: kernel frames only', () => {
    assert.equal(parseRipFrame('RIP: 0010:msgbuf_write+0x45/0x120 [msgbuf]')?.function, 'msgbuf_write');
    assert.equal(parseRipFrame('RIP: 0033:0x7f3a1b2c4e13'), undefined);
  });
});

describe('markers', () => {
  test('all four kinds with line index and timestamp', () => {
    const log = [
      '[    1.000000][  T101] kgrader: module msgbuf loaded',
      '[    1.100000][  T101] kgrader: test write_read start',
      'noise',
      '[    1.200000][  T101] kgrader: test write_read end pass',
      '[    1.300000][  T101] kgrader: module msgbuf unloaded',
    ].join('\n');
    assert.deepEqual(parseConsoleLog(log).markers, [
      { type: 'module-loaded', name: 'msgbuf', line: 0, timestamp: 1 },
      { type: 'test-start', name: 'write_read', line: 1, timestamp: 1.1 },
      { type: 'test-end', name: 'write_read', line: 3, status: 'pass', timestamp: 1.2 },
      { type: 'module-unloaded', name: 'msgbuf', line: 4, timestamp: 1.3 },
    ]);
  });
  test('tolerates harness tags and syslog levels', () => {
    assert.equal(parseMarker('kgrader-harness: kgrader: test t1 start', 0)?.name, 't1');
    assert.equal(parseMarker('kgrader-harness: test t1 end skip', 0)?.status, 'skip');
    assert.equal(stripLinePrefix('<6>[    2.0][  T9] kgrader: test t2 start'), 'kgrader: test t2 start');
    assert.equal(parseMarker('kgrader: kmemleak scan done', 0), undefined);
    assert.equal(parseMarker('echo kgrader: test x start extra words', 0), undefined);
  });
  test('test attribution: latest started, not yet ended', () => {
    const markers = parseConsoleLog(
      ['kgrader: test a start', 'kgrader: test b start', 'kgrader: test b end pass', 'x', 'kgrader: test a end fail', 'y'].join('\n'),
    ).markers;
    assert.equal(testAtLine(markers, 2), 'b');
    assert.equal(testAtLine(markers, 3), 'a');
    assert.equal(testAtLine(markers, 5), undefined);
  });
});

describe('report families (inline logs)', () => {
  test('KASAN outline null-ptr-deref and double-free', () => {
    const log = ts('T50', [
      '==================================================================',
      'BUG: KASAN: null-ptr-deref in msgbuf_reset+0x1c/0x40 [msgbuf]',
      'Write of size 8 at addr 0000000000000008 by task reset/50',
      'Call Trace:',
      ' <TASK>',
      ' kasan_report+0xb9/0xf0',
      ' msgbuf_reset+0x1c/0x40 [msgbuf]',
      ' </TASK>',
      '==================================================================',
      '==================================================================',
      'BUG: KASAN: double-free in kfree+0x94/0x1d0',
      'Call Trace:',
      ' <TASK>',
      ' kasan_report_invalid_free+0x5e/0x90',
      ' kfree+0x94/0x1d0',
      ' msgbuf_release+0x40/0x60 [msgbuf]',
      ' </TASK>',
      '==================================================================',
    ]);
    const { findings } = parseConsoleLog(log);
    // syzkaller titles double and invalid frees alike, after the caller of kfree()
    assert.deepEqual(findings.map((f) => f.title), ['KASAN: null-ptr-deref Write in msgbuf_reset', 'KASAN: invalid-free in msgbuf_release']);
    assert.deepEqual(findings[0]!.access, { type: 'write', size: 8, address: '0000000000000008' });
  });

  test('page fault on a non-NULL address reads the #PF line', () => {
    const log = ts('T60', [
      'BUG: unable to handle page fault for address: ffffc90000a3b000',
      '#PF: supervisor read access in kernel mode',
      '#PF: error_code(0x0000) - not-present page',
      'Oops: 0000 [#1] PREEMPT SMP KASAN NOPTI',
      'RIP: 0010:msgbuf_vread+0x22/0x80 [msgbuf]',
      'Call Trace:',
      ' <TASK>',
      ' vfs_read+0x14c/0x4f0',
      ' </TASK>',
      '---[ end trace 0000000000000000 ]---',
    ]);
    const [finding] = parseConsoleLog(log).findings;
    assert.equal(finding?.title, 'BUG: unable to handle kernel paging request in msgbuf_vread');
    assert.deepEqual(finding?.access, { type: 'read', address: 'ffffc90000a3b000' });
    assert.equal(finding?.kind, 'oops');
  });

  test('WARNING with panic_on_warn: the panic is folded into the warning', () => {
    const log = ts('T70', [
      'WARNING: CPU: 0 PID: 70 at drivers/msgbuf.c:10 msgbuf_check+0x10/0x20 [msgbuf]',
      'RIP: 0010:msgbuf_check+0x10/0x20 [msgbuf]',
      'Call Trace:',
      ' <TASK>',
      ' msgbuf_write+0x20/0x120 [msgbuf]',
      ' </TASK>',
      'Kernel panic - not syncing: kernel: panic_on_warn set ...',
      'CPU: 0 PID: 70 Comm: w Tainted: G O 6.1.0 #1',
      'Call Trace:',
      ' <TASK>',
      ' panic+0x2ca/0x65f',
      ' check_panic_on_warn+0x5b/0x70',
      ' __warn+0xd6/0x290',
      ' </TASK>',
      '---[ end Kernel panic - not syncing: kernel: panic_on_warn set ... ]---',
    ]);
    const { findings } = parseConsoleLog(log);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.title, 'WARNING in msgbuf_check');
    assert.equal(findings[0]!.truncated, undefined);
    assert.match(findings[0]!.raw, /Kernel panic - not syncing: kernel: panic_on_warn set/);
    assert.deepEqual(functions(findings[0]!.frames), ['msgbuf_check', 'msgbuf_write']);
  });

  test('oops=panic: "Fatal exception" panic is folded, visible in raw', () => {
    const { findings } = parseConsoleLog(fixtureLog('null-deref-panic.log'));
    assert.equal(findings.length, 1);
    assert.match(findings[0]!.raw, /Kernel panic - not syncing: Fatal exception/);
    assert.ok(!findings.some((f) => f.kind === 'panic'));
  });

  test("a module's own panic() after an unrelated warning is its own finding", () => {
    const log = [
      fixtureLog('warning.log'),
      ts('T80', [
        'Kernel panic - not syncing: msgbuf: ring corrupted',
        'Call Trace:',
        ' <TASK>',
        ' panic+0x2ca/0x65f',
        ' msgbuf_check_ring+0x40/0x40 [msgbuf]',
        ' </TASK>',
        'Kernel Offset: disabled',
        '---[ end Kernel panic - not syncing: msgbuf: ring corrupted ]---',
      ]),
    ].join('\n');
    const titles = parseConsoleLog(log).findings.map((f) => f.title);
    assert.deepEqual(titles, ['WARNING in msgbuf_ioctl', 'kernel panic: msgbuf: ring corrupted']);
  });

  test('hung task waiting in synchronize_rcu is bucketed like syzkaller', () => {
    const log = ts('T35', [
      'INFO: task rmmod:99 blocked for more than 30 seconds.',
      'Call Trace:',
      ' <TASK>',
      ' __schedule+0x8f4/0x2720',
      ' schedule+0xde/0x1c0',
      ' schedule_timeout+0x1b/0x240',
      ' wait_for_completion+0x16b/0x2a0',
      ' __wait_rcu_gp+0x2a5/0x3a0',
      ' synchronize_rcu+0x1c5/0x1e0',
      ' msgbuf_exit+0x1d/0x30 [msgbuf]',
      ' </TASK>',
    ]);
    assert.equal(parseConsoleLog(log).findings[0]?.title, 'INFO: task hung in synchronize_rcu');
  });
});

describe('driver messages are not kernel reports', () => {
  test('a marker word in a driver message, with no report around it, is no finding', () => {
    const log = ts('T90', [
      'msgbuf: INFO: device opened',
      'INFO: buffer is empty',
      'msgbuf: WARNING: ring buffer full, dropping 3 bytes',
      'BUG: this is not a kernel message either',
      'kgrader: test x end pass',
    ]);
    assert.deepEqual(parseConsoleLog(log).findings, []);
  });

  test('a panic right after a driver message is not dropped with the message', () => {
    const log = ts('T92', [
      'BUG: msgbuf state is weird',
      'Kernel panic - not syncing: Fatal exception',
      'CPU: 0 PID: 92 Comm: w Not tainted 6.1.0 #1',
      'Call Trace:',
      ' <TASK>',
      ' panic+0x2ca/0x65f',
      ' msgbuf_ioctl+0x40/0x40 [msgbuf]',
      ' </TASK>',
      '---[ end Kernel panic - not syncing: Fatal exception ]---',
    ]);
    const { findings } = parseConsoleLog(log);
    assert.equal(findings.length, 1);
    assert.match(findings[0]!.raw, /Kernel panic - not syncing: Fatal exception/);
  });

  test('a header no format knows is still a report when the kernel printed a stack with it', () => {
    const log = ts('T91', [
      'BUG: MAX_STACK_TRACE_ENTRIES too low!',
      'turning off the locking correctness validator.',
      'CPU: 0 PID: 91 Comm: w Not tainted 6.1.0 #1',
      'Call Trace:',
      ' <TASK>',
      ' dump_stack_lvl+0x51/0x66',
      ' save_trace+0x2a5/0x2c0',
      ' </TASK>',
    ]);
    const [finding] = parseConsoleLog(log).findings;
    assert.equal(finding?.title, 'BUG: MAX_STACK_TRACE_ENTRIES too low!');
    assert.equal(finding?.kind, 'bug');
  });
});

describe('robustness', () => {
  test('empty input', () => {
    assert.deepEqual(parseConsoleLog(''), { findings: [], markers: [], forgedMarkers: [], reportLines: new Set() });
  });

  test('garbage never throws', () => {
    const samples = [
      '\u0000\u0001\u0002',
      'BUG:',
      'BUG: KASAN:',
      'WARNING:',
      'Call Trace:\n <TASK>\n </TASK>',
      'unreferenced object 0x (size ):',
      'Kernel panic - not syncing:',
      '[ 1.0][ T1] BUG: KASAN: use-after-free in\n[ 1.0][ T1] Write of size x at addr',
      'kgrader: test  start',
      '-> #0 (:\n stack backtrace:\n',
      '='.repeat(100),
      ']]]][[[[ <TASK> ? +0x/0x [',
    ];
    let seed = 42;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pieces = fixtureLog('kasan-use-after-free.log').split('\n');
    for (let i = 0; i < 200; i++) {
      const shuffled = Array.from({ length: 40 }, () => pieces[Math.floor(random() * pieces.length)]!).join('\n');
      samples.push(shuffled);
      const cut = fixtureLog('lockdep-circular.log');
      samples.push(cut.slice(0, Math.floor(random() * cut.length)));
    }
    for (const sample of samples) assert.doesNotThrow(() => parseConsoleLog(sample));
  });

  test('a report cut by the end of the log is truncated, with only what was printed', () => {
    const { findings } = parseConsoleLog(fixtureLog('kasan-truncated.log'));
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.truncated, true);
    assert.equal(findings[0]!.stacks, undefined);
    assert.ok(!/Allocated by/.test(findings[0]!.raw));
  });

  test('kmemleak block without backtrace is truncated, and corrupted: there is no frame to name', () => {
    const { findings } = parseConsoleLog('unreferenced object 0xffff888004a8d000 (size 64):\n  comm "insmod", pid 101');
    assert.equal(findings[0]?.truncated, true);
    assert.equal(findings[0]?.corrupted, true);
    assert.equal(findings[0]?.title, 'memory leak in corrupted');
  });

  test('a kmemleak block cut before its backtrace does not take the next block\'s function', () => {
    const block = (address: string, backtrace: boolean): string[] => [
      `unreferenced object 0x${address} (size 64):`,
      '  comm "writer", pid 140, jiffies 4294670000 (age 58.233s)',
      ...(backtrace ? ['  backtrace:', '    [<0000000011223344>] __kmalloc+0x4b/0x150', '    [<0000000011223345>] msgbuf_write+0x7a/0x120 [msgbuf]'] : []),
    ];
    const { findings } = parseConsoleLog([...block('ffff888004a8d000', false), ...block('ffff888004a8e000', true)].join('\n'));
    assert.deepEqual(
      findings.map((f) => [f.title, f.corrupted ?? false, f.truncated ?? false]),
      [
        ['memory leak in corrupted', true, true],
        ['memory leak in msgbuf_write', false, false],
      ],
    );
  });

  test('without caller ids, reports are parsed sequentially', () => {
    const noCaller = fixtureLog('warning.log').replace(/\]\[\s*T\d+\]/g, ']');
    const { findings } = parseConsoleLog(noCaller);
    assert.deepEqual(findings.map((f) => [f.title, f.count]), [['WARNING in msgbuf_ioctl', 2]]);
  });

  test('interleaved reports are separated by caller id', () => {
    const { findings } = parseConsoleLog(fixtureLog('interleaved.log'));
    const kasan = findings.find((f) => f.kind === 'kasan')!;
    assert.ok(!kasan.raw.includes('msgbuf_read'), 'KASAN raw must not contain the other CPU warning');
    const warning = findings.find((f) => f.kind === 'warning')!;
    assert.ok(!warning.raw.includes('kasan_report'));
  });

  test('raw is capped', () => {
    const frames = Array.from({ length: 400 }, (_, i) => ` helper_${i}+0x1/0x10`);
    const log = ts('T5', ['BUG: KASAN: use-after-free in f+0x1/0x2', 'Read of size 1 at addr ffff888000000000 by task t/5', 'Call Trace:', ' <TASK>', ...frames, ' </TASK>', '='.repeat(66)]);
    const [finding] = parseConsoleLog(log).findings;
    assert.ok(finding!.raw.split('\n').length <= 200);
    assert.equal(finding!.truncated, undefined);
  });

  test('a 50k-line noisy log with reports parses well under a second', () => {
    const noise: string[] = [];
    for (let i = 0; i < 50_000; i++) {
      noise.push(`[ ${(100 + i / 1000).toFixed(6)}][  T${200 + (i % 7)}] random driver chatter ${i}: eth0 link up, queue=${i % 13}`);
      if (i % 5000 === 0) noise.push(fixtureLog('warning.log'));
    }
    const log = noise.join('\n');
    const started = performance.now();
    const { findings } = parseConsoleLog(log);
    const elapsed = performance.now() - started;
    assert.ok(elapsed < 1000, `took ${elapsed.toFixed(0)} ms`);
    assert.equal(findings.length, 1);
    assert.equal(findings[0]!.count, 20);
  });

  test('findingsBeforeMarker filters by marker position', () => {
    const parsed = parseConsoleLog(fixtureLog('kasan-use-after-free.log'));
    const beforeUnload = findingsBeforeMarker(parsed.findings, parsed.markers, (m) => m.type === 'module-unloaded');
    assert.equal(beforeUnload.length, 1);
    const beforeLoad = findingsBeforeMarker(parsed.findings, parsed.markers, (m) => m.type === 'module-loaded');
    assert.equal(beforeLoad.length, 0);
  });
});

describe('damaged copies of a report (KASAN reports every bad access)', () => {
  // a real KASAN report from a grading, and a second copy of its class that lost everything after
  // its access line (another CPU printing at once, or the console cut)
  const real = fixture('real/buggy-off-by-one-read.log').split('\n');
  const start = real.findIndex((l) => l.includes('BUG: KASAN:')) - 1;
  const end = real.findIndex((l, i) => i > start + 2 && l.includes('========='));
  const report = real.slice(start, end + 1);
  const damaged = [...report.slice(0, 3), '[   99.100000][   T77] msgbuf: unrelated', report[report.length - 1]!];

  test('alone, the damaged copy is its class with no frame to name', () => {
    const { findings } = parseConsoleLog(damaged.join('\n'));
    assert.deepEqual(findings.map((f) => f.title), ['KASAN: slab-out-of-bounds Read in corrupted']);
  });

  test('beside a well-formed report of its class it is counted with it, whichever comes first', () => {
    for (const lines of [[...report, ...damaged], [...damaged, ...report]]) {
      const { findings } = parseConsoleLog(lines.join('\n'));
      assert.equal(findings.length, 1, findings.map((f) => f.title).join('; '));
      assert.equal(findings[0]!.count, 2);
      assert.doesNotMatch(findings[0]!.title, /corrupted/);
    }
  });

  test('the class must match: a damaged report of another class stays its own finding', () => {
    assert.equal(isCorruptedCopyOf('KASAN: slab-out-of-bounds Read in corrupted', 'KASAN: slab-out-of-bounds Read in msgbuf_read'), true);
    assert.equal(isCorruptedCopyOf('KASAN: slab-out-of-bounds Write in corrupted', 'KASAN: slab-out-of-bounds Read in msgbuf_read'), false);
    assert.equal(isCorruptedCopyOf('KASAN: use-after-free Read in corrupted', 'KASAN: slab-out-of-bounds Read in corrupted'), false);
  });
});
