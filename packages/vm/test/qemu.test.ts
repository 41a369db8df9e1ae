import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kernelCommandLine, parseEventLine, qemuArgs, type QemuOptions } from '../src/index.js';

const base: QemuOptions = {
  bzImage: '/cache/kernel/bzImage',
  initrd: '/tmp/run/initrd.cpio.gz',
  resultsPath: '/tmp/run/results.jsonl',
  accel: 'kvm',
};

/** The value following `flag` (asserting the flag appears exactly once). */
function valueOf(args: string[], flag: string): string {
  const at = args.indexOf(flag);
  assert.ok(at >= 0, `${flag} missing`);
  assert.equal(args.indexOf(flag, at + 1), -1, `${flag} given twice`);
  const value = args[at + 1];
  assert.ok(value !== undefined);
  return value;
}

/** Every value of a repeated flag, in order. */
function valuesOf(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

describe('qemuArgs', () => {
  const kvm = qemuArgs(base);
  const tcg = qemuArgs({ ...base, accel: 'tcg' });

  it('adds no network device and no default devices', () => {
    for (const args of [kvm, tcg]) {
      assert.ok(args.includes('-nodefaults'));
      for (const flag of ['-net', '-nic', '-netdev']) assert.ok(!args.includes(flag), flag);
      assert.ok(!args.some((a) => /\b(virtio-net|e1000|rtl8139|user,|tap,)/.test(a)), 'no NIC model or backend');
      assert.equal(valueOf(args, '-display'), 'none');
    }
  });

  it('exits instead of rebooting', () => {
    assert.ok(kvm.includes('-no-reboot'));
    assert.ok(tcg.includes('-no-reboot'));
  });

  it('gives 2 CPUs as 2 sockets by default', () => {
    assert.equal(valueOf(kvm, '-smp'), '2,sockets=2,cores=1,threads=1');
    assert.equal(valueOf(tcg, '-smp'), '2,sockets=2,cores=1,threads=1');
  });

  it('lays out other CPU counts one per socket', () => {
    assert.equal(valueOf(qemuArgs({ ...base, cpus: 4 }), '-smp'), '4,sockets=4,cores=1,threads=1');
    assert.equal(valueOf(qemuArgs({ ...base, cpus: 1 }), '-smp'), '1,sockets=1,cores=1,threads=1');
  });

  it('uses KVM with the host CPU when asked', () => {
    assert.equal(valueOf(kvm, '-accel'), 'kvm');
    assert.equal(valueOf(kvm, '-cpu'), 'host');
  });

  it('uses multi-threaded TCG with the max CPU otherwise', () => {
    assert.equal(valueOf(tcg, '-accel'), 'tcg,thread=multi');
    assert.equal(valueOf(tcg, '-cpu'), 'max');
    assert.ok(!tcg.includes('kvm'));
    assert.ok(!tcg.includes('host'));
  });

  it('caps memory at 512M by default and honours memoryMiB', () => {
    assert.equal(valueOf(kvm, '-m'), '512M');
    assert.equal(valueOf(qemuArgs({ ...base, memoryMiB: 1024 }), '-m'), '1024M');
  });

  it('boots the given kernel and initrd on the pc machine', () => {
    assert.equal(valueOf(kvm, '-kernel'), base.bzImage);
    assert.equal(valueOf(kvm, '-initrd'), base.initrd);
    assert.equal(valueOf(kvm, '-M'), 'pc');
  });

  it('has two serial ports: the console on stdio, then the results file', () => {
    const serials = valuesOf(kvm, '-serial');
    assert.deepEqual(serials, ['chardev:console', 'chardev:results']);
    const chardevs = valuesOf(kvm, '-chardev');
    assert.equal(chardevs.length, 2);
    const console = chardevs.find((c) => c.includes('id=console'));
    const results = chardevs.find((c) => c.includes('id=results'));
    assert.ok(console?.startsWith('stdio,'));
    assert.match(console!, /signal=off/);
    assert.equal(results, `file,id=results,path=${base.resultsPath}`);
  });

  it('passes the kernel command line built by kernelCommandLine, with extra words', () => {
    assert.equal(valueOf(kvm, '-append'), kernelCommandLine());
    const extra = qemuArgs({ ...base, append: ['kasan.stacktrace=on', 'loglevel=7'] });
    assert.equal(valueOf(extra, '-append'), kernelCommandLine(['kasan.stacktrace=on', 'loglevel=7']));
  });

  it('is a list of separate words (no shell quoting needed)', () => {
    for (const a of kvm) assert.equal(typeof a, 'string');
    assert.ok(!kvm.some((a) => a.length === 0));
  });
});

describe('kernelCommandLine', () => {
  const words = kernelCommandLine().split(' ');

  it('turns any oops into a panic and a panic into an immediate reboot', () => {
    assert.ok(words.includes('panic=-1'));
    assert.ok(words.includes('oops=panic'));
  });

  it('puts the console on the first serial port and starts /init', () => {
    assert.ok(words.includes('console=ttyS0'));
    assert.ok(words.includes('rdinit=/init'));
  });

  it('keeps report addresses mappable and kmsg unthrottled', () => {
    assert.ok(words.includes('no_hash_pointers'));
    assert.ok(words.includes('nokaslr'));
    assert.ok(words.includes('printk.devkmsg=on'));
  });

  it('appends extra words at the end, in order', () => {
    const line = kernelCommandLine(['a=1', 'b']);
    assert.ok(line.endsWith(' a=1 b'));
    assert.ok(line.startsWith(kernelCommandLine()));
  });

  it('has no duplicate or empty words', () => {
    assert.equal(new Set(words).size, words.length);
    assert.ok(!words.includes(''));
  });
});

describe('parseEventLine', () => {
  it('parses every event type', () => {
    const lines: Array<[string, unknown]> = [
      ['{"event":"hello","cpus":2,"kernel":"6.1.0","uptimeMs":1234}', { event: 'hello', cpus: 2, kernel: '6.1.0', uptimeMs: 1234 }],
      ['{"event":"test_start","name":"write_read","uptimeMs":2345}', { event: 'test_start', name: 'write_read', uptimeMs: 2345 }],
      [
        '{"event":"test_end","name":"write_read","status":"pass","output":"ok\\n","durationMs":12}',
        { event: 'test_end', name: 'write_read', status: 'pass', output: 'ok\n', durationMs: 12 },
      ],
      [
        '{"event":"module","name":"msgbuf","sections":{".text":"0xffffffffc0000000",".data":"0xffffffffc0002000"}}',
        { event: 'module', name: 'msgbuf', sections: { '.text': '0xffffffffc0000000', '.data': '0xffffffffc0002000' } },
      ],
      ['{"event":"devices","paths":["/dev/msgbuf"]}', { event: 'devices', paths: ['/dev/msgbuf'] }],
      ['{"event":"log","message":"probe"}', { event: 'log', message: 'probe' }],
      ['{"event":"done","uptimeMs":9876}', { event: 'done', uptimeMs: 9876 }],
    ];
    for (const [line, expected] of lines) assert.deepEqual(parseEventLine(line), expected, line);
  });

  it('accepts \\r\\n endings and surrounding whitespace', () => {
    assert.deepEqual(parseEventLine('{"event":"done","uptimeMs":5}\r\n'), { event: 'done', uptimeMs: 5 });
    assert.deepEqual(parseEventLine('{"event":"done","uptimeMs":5}\r'), { event: 'done', uptimeMs: 5 });
    assert.deepEqual(parseEventLine('  {"event":"done","uptimeMs":5}  '), { event: 'done', uptimeMs: 5 });
    assert.deepEqual(parseEventLine('\r{"event":"log","message":"a"}\r\r'), { event: 'log', message: 'a' });
  });

  it('rejects junk', () => {
    for (const line of ['', '   ', '\r', 'hello', 'SeaBIOS (version 1.16)', '\u0000\u0000{"event":"done","uptimeMs":1}', 'x{"event":"done","uptimeMs":1}', '[1, 2]', 'null', '42']) {
      assert.equal(parseEventLine(line), null, JSON.stringify(line));
    }
  });

  it('rejects truncated or broken JSON', () => {
    for (const line of ['{', '{"event":"done","uptimeMs":98', '{"event":"test_end","name":"x","status":"pa', '{"event":"done",}', "{'event':'done','uptimeMs':1}"]) {
      assert.equal(parseEventLine(line), null, line);
    }
  });

  it('rejects unknown event types and objects without an event', () => {
    assert.equal(parseEventLine('{"event":"goodbye","uptimeMs":1}'), null);
    assert.equal(parseEventLine('{"event":"HELLO","cpus":2,"kernel":"x","uptimeMs":1}'), null);
    assert.equal(parseEventLine('{"cpus":2}'), null);
    assert.equal(parseEventLine('{}'), null);
  });

  it('rejects known events with missing or mistyped fields', () => {
    assert.equal(parseEventLine('{"event":"hello","cpus":"2","kernel":"6.1","uptimeMs":1}'), null);
    assert.equal(parseEventLine('{"event":"hello","cpus":1.5,"kernel":"6.1","uptimeMs":1}'), null);
    assert.equal(parseEventLine('{"event":"test_end","name":"x","status":"passed","output":"","durationMs":1}'), null);
    assert.equal(parseEventLine('{"event":"test_end","name":"x","status":"pass","durationMs":1}'), null);
    assert.equal(parseEventLine('{"event":"devices","paths":"/dev/x"}'), null);
  });

  it('accepts every test status', () => {
    for (const status of ['pass', 'fail', 'error', 'skip']) {
      const e = parseEventLine(`{"event":"test_end","name":"t","status":"${status}","output":"","durationMs":0}`);
      assert.ok(e && e.event === 'test_end' && e.status === status);
    }
  });

  it('keeps escaped characters in strings', () => {
    const e = parseEventLine('{"event":"log","message":"a\\"b\\u00e9\\tc"}');
    assert.deepEqual(e, { event: 'log', message: 'a"bé\tc' });
  });
});
