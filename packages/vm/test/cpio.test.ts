import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { cpioNewc, gradingInitramfs, type CpioEntry } from '../src/index.js';
import { readNewc, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG, type NewcEntry } from './newc.js';

const sample: CpioEntry[] = [
  { type: 'dir', path: 'bin' },
  { type: 'dir', path: '/etc', mode: 0o700 },
  { type: 'file', path: 'init', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
  { type: 'file', path: 'etc/motd', data: Buffer.from([1, 2, 3]) },
  { type: 'symlink', path: 'bin/sh', target: 'busybox' },
  { type: 'chardev', path: 'dev/ttyS1', major: 4, minor: 65 },
  { type: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o620 },
];

function byName(entries: NewcEntry[], name: string): NewcEntry {
  const entry = entries.find((e) => e.name === name);
  assert.ok(entry, `no entry ${name} in ${entries.map((e) => e.name).join(', ')}`);
  return entry;
}

describe('cpioNewc', () => {
  const archive = cpioNewc(sample);
  const entries = readNewc(archive);

  it('writes one entry per input plus the trailer, in order, with leading slashes stripped', () => {
    assert.deepEqual(
      entries.map((e) => e.name),
      ['bin', 'etc', 'init', 'etc/motd', 'bin/sh', 'dev/ttyS1', 'dev/console', 'TRAILER!!!'],
    );
  });

  it('is 4-byte aligned throughout (checked by the reader) and a multiple of 4 long', () => {
    assert.equal(archive.length % 4, 0);
    for (const e of entries) assert.equal(e.offset % 4, 0);
  });

  it('writes directories with type bits, default 0755 and nlink 2', () => {
    const bin = byName(entries, 'bin');
    assert.equal(bin.mode & S_IFMT, S_IFDIR);
    assert.equal(bin.mode & 0o7777, 0o755);
    assert.equal(bin.nlink, 2);
    assert.equal(bin.data.length, 0);
    assert.equal(byName(entries, 'etc').mode, S_IFDIR | 0o700);
  });

  it('writes files with their bytes, size and mode (default 0644)', () => {
    const init = byName(entries, 'init');
    assert.equal(init.mode, S_IFREG | 0o755);
    assert.equal(init.data.toString('utf8'), '#!/bin/sh\necho hi\n');
    assert.equal(init.nlink, 1);
    const motd = byName(entries, 'etc/motd');
    assert.equal(motd.mode, S_IFREG | 0o644);
    assert.deepEqual([...motd.data], [1, 2, 3]);
  });

  it('writes symlinks as mode 0777 with the target as data', () => {
    const sh = byName(entries, 'bin/sh');
    assert.equal(sh.mode, S_IFLNK | 0o777);
    assert.equal(sh.data.toString(), 'busybox');
    assert.equal(sh.nlink, 1);
  });

  it('writes character devices with rdev major/minor, no data, default mode 0600', () => {
    const tty = byName(entries, 'dev/ttyS1');
    assert.equal(tty.mode, S_IFCHR | 0o600);
    assert.deepEqual([tty.rdevMajor, tty.rdevMinor], [4, 65]);
    assert.deepEqual([tty.devMajor, tty.devMinor], [0, 0]);
    assert.equal(tty.data.length, 0);
    assert.equal(tty.nlink, 1);
    const console = byName(entries, 'dev/console');
    assert.equal(console.mode, S_IFCHR | 0o620);
    assert.deepEqual([console.rdevMajor, console.rdevMinor], [5, 1]);
  });

  it('gives no rdev to entries other than devices', () => {
    for (const e of entries.filter((x) => (x.mode & S_IFMT) !== S_IFCHR)) {
      assert.deepEqual([e.rdevMajor, e.rdevMinor], [0, 0], e.name);
    }
  });

  it('uses mtime 0, uid/gid 0, check 0 and inode numbers in entry order', () => {
    entries.forEach((e, i) => {
      assert.equal(e.mtime, 0, e.name);
      assert.equal(e.uid, 0);
      assert.equal(e.gid, 0);
      assert.equal(e.check, 0);
      assert.equal(e.ino, i + 1);
    });
  });

  it('ends with a TRAILER!!! entry with mode 0 and no data', () => {
    const trailer = entries[entries.length - 1]!;
    assert.equal(trailer.name, 'TRAILER!!!');
    assert.equal(trailer.mode, 0);
    assert.equal(trailer.data.length, 0);
  });

  it('is deterministic: the same input gives the same bytes', () => {
    const again = cpioNewc(sample.map((e) => ({ ...e })));
    assert.ok(again.equals(archive));
  });

  it('changes when the content changes', () => {
    const changed = cpioNewc(sample.map((e) => (e.type === 'file' && e.path === 'init' ? { ...e, data: '#!/bin/sh\necho ho\n' } : e)));
    assert.ok(!changed.equals(archive));
  });

  it('pads names and data for every length mod 4', () => {
    const odd: CpioEntry[] = [];
    for (let n = 1; n <= 8; n++) odd.push({ type: 'file', path: 'f'.repeat(n), data: Buffer.alloc(n, n) });
    const back = readNewc(cpioNewc(odd));
    for (let n = 1; n <= 8; n++) {
      const e = byName(back, 'f'.repeat(n));
      assert.equal(e.data.length, n);
      assert.ok(e.data.every((b) => b === n));
    }
  });

  it('stores UTF-8 names and a string body as UTF-8 bytes', () => {
    const back = readNewc(cpioNewc([{ type: 'file', path: 'ünï.txt', data: 'é' }]));
    const e = byName(back, 'ünï.txt');
    assert.deepEqual([...e.data], [0xc3, 0xa9]);
  });

  it('writes only a trailer for no entries', () => {
    const back = readNewc(cpioNewc([]));
    assert.deepEqual(back.map((e) => e.name), ['TRAILER!!!']);
    assert.equal(back[0]!.ino, 1);
  });

  it('writes the header as 110 ASCII bytes starting with the newc magic', () => {
    const raw = cpioNewc([{ type: 'dir', path: 'x' }]);
    assert.equal(raw.subarray(0, 6).toString('ascii'), '070701');
    // the name follows the 110-byte header directly: "x\0" then padding to 112
    assert.equal(raw.subarray(110, 112).toString('latin1'), 'x\0');
    assert.equal(raw.subarray(112, 118).toString('ascii'), '070701');
  });
});

describe('gradingInitramfs', () => {
  const init = '#!/bin/busybox sh\nexec /kgrader-harness --serve /dev/vport0p1\n';
  const busybox = Buffer.from('\x7fELF busybox stand-in');
  const harness = Buffer.from('\x7fELF harness stand-in');
  const gz = gradingInitramfs({ init, busybox, harness });
  const entries = readNewc(gunzipSync(gz));

  it('is gzip-compressed', () => {
    assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b]);
  });

  it('has the base folders', () => {
    for (const dir of ['bin', 'sbin', 'dev', 'proc', 'sys', 'tmp', 'etc', 'root']) {
      assert.equal(byName(entries, dir).mode & S_IFMT, S_IFDIR, dir);
    }
  });

  it('has an executable /init with the given script', () => {
    const e = byName(entries, 'init');
    assert.equal(e.mode & S_IFMT, S_IFREG);
    assert.equal(e.mode & 0o111, 0o111);
    assert.equal(e.data.toString(), init);
  });

  it('has /dev/console as char device 5:1', () => {
    const e = byName(entries, 'dev/console');
    assert.equal(e.mode & S_IFMT, S_IFCHR);
    assert.deepEqual([e.rdevMajor, e.rdevMinor], [5, 1]);
  });

  it('creates /dev before /dev/console', () => {
    const names = entries.map((e) => e.name);
    assert.ok(names.indexOf('dev') < names.indexOf('dev/console'));
  });

  it('has an executable bin/busybox, bin/sh pointing at it, and the harness', () => {
    const bb = byName(entries, 'bin/busybox');
    assert.ok(bb.data.equals(busybox));
    assert.equal(bb.mode & 0o111, 0o111);
    const sh = byName(entries, 'bin/sh');
    assert.equal(sh.mode & S_IFMT, S_IFLNK);
    assert.equal(sh.data.toString(), 'busybox');
    const h = byName(entries, 'kgrader-harness');
    assert.ok(h.data.equals(harness));
    assert.equal(h.mode & 0o111, 0o111);
  });

  it('carries no plan and no module: they arrive over the control port', () => {
    assert.deepEqual(
      entries.filter((e) => (e.mode & S_IFMT) === S_IFREG).map((e) => e.name).sort(),
      ['bin/busybox', 'init', 'kgrader-harness'],
    );
  });

  it('names every path only once', () => {
    const names = entries.map((e) => e.name);
    assert.equal(new Set(names).size, names.length);
  });

  it('is deterministic', () => {
    const again = gradingInitramfs({ init, busybox, harness });
    assert.ok(gunzipSync(again).equals(gunzipSync(gz)));
  });
});
