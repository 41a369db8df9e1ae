import { gzipSync } from 'node:zlib';

/** One entry of an initramfs: a folder, a file, a symlink or a character device node. */
export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer | string; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'chardev'; path: string; major: number; minor: number; mode?: number };

const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000, chardev: 0o020000 } as const;

/**
 * Serialises entries as a `newc` cpio archive (what the kernel unpacks as initramfs). Pure and
 * deterministic: mtimes are 0 and inode numbers follow entry order, so the same inputs give
 * the same bytes.
 */
export function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, data: Buffer, rdev: [number, number] = [0, 0]) => {
    const nameBytes = Buffer.from(`${name}\0`, 'utf8');
    const fields = [ino++, mode, 0, 0, mode & TYPE_BITS.dir ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`, 'ascii');
    parts.push(header, nameBytes, padding(header.length + nameBytes.length), data, padding(data.length));
  };
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, '');
    switch (entry.type) {
      case 'dir':
        push(path, TYPE_BITS.dir | (entry.mode ?? 0o755), Buffer.alloc(0));
        break;
      case 'file':
        push(path, TYPE_BITS.file | (entry.mode ?? 0o644), Buffer.isBuffer(entry.data) ? entry.data : Buffer.from(entry.data));
        break;
      case 'symlink':
        push(path, TYPE_BITS.symlink | 0o777, Buffer.from(entry.target));
        break;
      case 'chardev':
        push(path, TYPE_BITS.chardev | (entry.mode ?? 0o600), Buffer.alloc(0), [entry.major, entry.minor]);
        break;
    }
  }
  push('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

function padding(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

/**
 * What the grading VM's initramfs carries: the same for every grading (the plan and the module
 * arrive over the control port), so it is built once per harness version and can be part of a
 * saved VM state.
 */
export interface GradingInitramfs {
  init: string;
  busybox: Buffer;
  harness: Buffer;
}

/** The gzip-compressed initramfs of the grading VM. Deterministic. */
export function gradingInitramfs(parts: GradingInitramfs): Buffer {
  const entries: CpioEntry[] = [
    ...['bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'etc', 'root'].map((path) => ({ type: 'dir' as const, path })),
    // the kernel opens /dev/console for init before anything can mount devtmpfs
    { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { type: 'file', path: 'init', data: parts.init, mode: 0o755 },
    { type: 'file', path: 'bin/busybox', data: parts.busybox, mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'busybox' },
    { type: 'file', path: 'kgrader-harness', data: parts.harness, mode: 0o755 },
  ];
  return gzipSync(cpioNewc(entries), { level: 1 });
}
