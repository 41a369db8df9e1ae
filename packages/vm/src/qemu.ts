export type Accelerator = 'kvm' | 'tcg';

export interface QemuOptions {
  bzImage: string;
  initrd: string;
  /** file the harness's result channel (second serial port) is written to */
  resultsPath: string;
  accel: Accelerator;
  cpus?: number;
  memoryMiB?: number;
  /** extra kernel command-line words */
  append?: readonly string[];
}

/**
 * The kernel command line. Console on the first serial port; any oops panics and a panic reboots
 * at once, which `-no-reboot` turns into QEMU exiting; /dev/kmsg writes are not rate-limited (the
 * harness's markers and kmemleak dumps go there); pointers are printed unhashed so addresses in
 * reports (kmemleak after unload) can be mapped back to the module.
 */
export function kernelCommandLine(extra: readonly string[] = []): string {
  return [
    'console=ttyS0',
    'rdinit=/init',
    'panic=-1',
    'oops=panic',
    'kasan.fault=report',
    'printk.devkmsg=on',
    'no_hash_pointers',
    'watchdog_thresh=5',
    'nokaslr',
    ...extra,
  ].join(' ');
}

/**
 * QEMU arguments for one grading run: no network or other default devices, a memory cap, 2 vCPUs
 * as 2 sockets (without ACPI the guest finds CPUs only in the MP table, one per socket), the
 * console on stdout (read by the host with a cap) and the harness channel on a second serial port.
 */
export function qemuArgs(opts: QemuOptions): string[] {
  const cpus = opts.cpus ?? 2;
  return [
    '-M', 'pc',
    ...(opts.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp', `${cpus},sockets=${cpus},cores=1,threads=1`,
    '-m', `${opts.memoryMiB ?? 512}M`,
    '-nodefaults',
    '-display', 'none',
    '-no-reboot',
    '-kernel', opts.bzImage,
    '-initrd', opts.initrd,
    '-append', kernelCommandLine(opts.append),
    '-chardev', 'stdio,id=console,signal=off',
    '-serial', 'chardev:console',
    '-chardev', `file,id=results,path=${opts.resultsPath}`,
    '-serial', 'chardev:results',
  ];
}
