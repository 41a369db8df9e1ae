export type Accelerator = 'kvm' | 'tcg';
export type Machine = 'pc' | 'microvm';

export interface QemuOptions {
  /** the kernel image: bzImage, or the uncompressed vmlinux (PVH entry, faster to boot) */
  kernel: string;
  initrd: string;
  /** unix socket of the control port (virtio-serial port "kgrader"): host <-> harness */
  controlSocket: string;
  /** unix socket of the QMP monitor (snapshots), when wanted */
  qmpSocket?: string;
  accel: Accelerator;
  machine?: Machine;
  cpus?: number;
  memoryMiB?: number;
  /** extra kernel command-line words */
  append?: readonly string[];
  /** restore this saved VM state (a migration stream file) instead of booting */
  incoming?: string;
}

/**
 * The kernel command line. Console on the first serial port, every level of message printed
 * whatever the console log level (a module cannot hide its reports by lowering it); any oops
 * panics and a panic reboots at once, which `-no-reboot` turns into QEMU exiting; /dev/kmsg
 * writes are not rate-limited (the harness's markers and kmemleak dumps go there); pointers
 * are printed unhashed so addresses in reports (kmemleak after unload) can be mapped back to
 * the module; kmemleak reports in one scan (kgrader's kernel patch, used after unload only).
 * KASAN reports every bad access (kasan_multi_shot). KASLR stays on.
 */
export function kernelCommandLine(extra: readonly string[] = []): string {
  return [
    'console=ttyS0',
    'rdinit=/init',
    'panic=-1',
    'oops=panic',
    'kasan.fault=report',
    // every KASAN report, not only the first: a driver's first bug (say an error path) must not
    // hide its race, which then only shows as allocator corruption far from the student's code
    'kasan_multi_shot',
    'printk.devkmsg=on',
    'ignore_loglevel',
    'no_hash_pointers',
    'watchdog_thresh=5',
    'kmemleak.single_scan=1',
    ...extra,
  ].join(' ');
}

/**
 * QEMU arguments for one grading VM: no network or other default devices, a memory cap, N vCPUs
 * as N sockets (without ACPI the guest finds CPUs only in the MP table, one per socket), the
 * console on stdout (read by the host with a cap), the control port on a virtio-serial port
 * behind a unix socket, and QMP for snapshots. The same options give the same machine, so a
 * state saved from one VM restores into another started with `incoming`.
 */
export function qemuArgs(opts: QemuOptions): string[] {
  const cpus = opts.cpus ?? 2;
  const machine = opts.machine ?? 'pc';
  const serialDevice = machine === 'microvm' ? 'virtio-serial-device' : 'virtio-serial-pci';
  return [
    '-M', machine === 'microvm' ? 'microvm,x-option-roms=off,rtc=off,pic=off,pit=off,isa-serial=on' : 'pc',
    ...(opts.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp', `${cpus},sockets=${cpus},cores=1,threads=1`,
    '-m', `${opts.memoryMiB ?? 512}M`,
    '-nodefaults',
    '-display', 'none',
    '-no-reboot',
    '-kernel', opts.kernel,
    '-initrd', opts.initrd,
    '-append', kernelCommandLine(opts.append),
    '-chardev', 'stdio,id=console,signal=off',
    '-serial', 'chardev:console',
    '-device', `${serialDevice},id=vser`,
    '-chardev', `socket,id=control,path=${opts.controlSocket},server=on,wait=off`,
    '-device', 'virtserialport,bus=vser.0,chardev=control,name=kgrader',
    ...(opts.qmpSocket ? ['-qmp', `unix:${opts.qmpSocket},server=on,wait=off`] : []),
    ...(opts.incoming ? ['-incoming', `exec:cat ${shellQuote(opts.incoming)}`] : []),
  ];
}

function shellQuote(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}
