import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { kernelCommandLine, qemuArgs, type QemuOptions } from '../src/index.js';

const base: QemuOptions = {
  kernel: '/cache/kernel/vmlinux',
  initrd: '/tmp/run/initrd.cpio.gz',
  controlSocket: '/tmp/run/ctl',
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
    assert.equal(valueOf(kvm, '-kernel'), base.kernel);
    assert.equal(valueOf(kvm, '-initrd'), base.initrd);
    assert.equal(valueOf(kvm, '-M'), 'pc');
  });

  it('has the console on the one serial port and the control port on virtio-serial behind a unix socket', () => {
    assert.deepEqual(valuesOf(kvm, '-serial'), ['chardev:console']);
    const chardevs = valuesOf(kvm, '-chardev');
    assert.deepEqual(chardevs, ['stdio,id=console,signal=off', `socket,id=control,path=${base.controlSocket},server=on,wait=off`]);
    assert.deepEqual(valuesOf(kvm, '-device'), ['virtio-serial-pci,id=vser', 'virtserialport,bus=vser.0,chardev=control,name=kgrader']);
    assert.ok(!kvm.includes('-qmp') && !kvm.includes('-incoming'));
  });

  it('adds QMP and an incoming state only when asked, quoting the state path for the shell', () => {
    const args = qemuArgs({ ...base, qmpSocket: '/tmp/run/qmp', incoming: "/cache/snap/it's/state" });
    assert.equal(valueOf(args, '-qmp'), 'unix:/tmp/run/qmp,server=on,wait=off');
    assert.equal(valueOf(args, '-incoming'), `exec:cat '/cache/snap/it'\\''s/state'`);
  });

  it('uses virtio-mmio devices on microvm', () => {
    const args = qemuArgs({ ...base, machine: 'microvm' });
    assert.match(valueOf(args, '-M'), /^microvm,/);
    assert.equal(valuesOf(args, '-device')[0], 'virtio-serial-device,id=vser');
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

  it('keeps report addresses mappable and kmsg unthrottled, with KASLR on', () => {
    assert.ok(words.includes('no_hash_pointers'));
    assert.ok(!words.includes('nokaslr'));
    assert.ok(words.includes('printk.devkmsg=on'));
  });

  it('prints every message level on the console whatever the log level is set to', () => {
    assert.ok(words.includes('ignore_loglevel'));
  });

  it('asks the patched kmemleak for single-scan reports', () => {
    assert.ok(words.includes('kmemleak.single_scan=1'));
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

