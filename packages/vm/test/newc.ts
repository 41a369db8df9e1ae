import assert from 'node:assert/strict';

/** One entry read back from a `newc` cpio archive. */
export interface NewcEntry {
  /** byte offset of the header in the archive */
  offset: number;
  name: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  check: number;
  data: Buffer;
}

const FIELDS = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'filesize', 'devMajor', 'devMinor', 'rdevMajor', 'rdevMinor', 'namesize', 'check'] as const;

/**
 * A deliberately strict reader: asserts the magic, hex fields, NUL-terminated names, 4-byte
 * alignment of names and data, and that the archive ends right after the padded trailer.
 */
export function readNewc(archive: Buffer): NewcEntry[] {
  const entries: NewcEntry[] = [];
  let pos = 0;
  for (;;) {
    assert.equal(pos % 4, 0, `header at ${pos} is not 4-byte aligned`);
    assert.ok(pos + 110 <= archive.length, `archive ends inside a header at ${pos}`);
    const header = archive.subarray(pos, pos + 110).toString('ascii');
    assert.equal(header.slice(0, 6), '070701', `bad magic at ${pos}`);
    const values: Record<string, number> = {};
    FIELDS.forEach((field, i) => {
      const hex = header.slice(6 + i * 8, 14 + i * 8);
      assert.match(hex, /^[0-9a-f]{8}$/, `field ${field} at ${pos} is not 8 hex digits: ${hex}`);
      values[field] = parseInt(hex, 16);
    });
    const namesize = values.namesize!;
    const nameStart = pos + 110;
    const nameBytes = archive.subarray(nameStart, nameStart + namesize);
    assert.equal(nameBytes[namesize - 1], 0, `name at ${pos} is not NUL-terminated`);
    const name = nameBytes.subarray(0, namesize - 1).toString('utf8');
    assert.ok(!name.includes('\0'), 'name contains a NUL');
    let dataStart = nameStart + namesize;
    const namePad = (4 - (dataStart % 4)) % 4;
    assert.ok(archive.subarray(dataStart, dataStart + namePad).every((b) => b === 0), 'name padding is not zeros');
    dataStart += namePad;
    const size = values.filesize!;
    const data = archive.subarray(dataStart, dataStart + size);
    assert.equal(data.length, size, `data of ${name} runs past the end`);
    let next = dataStart + size;
    const dataPad = (4 - (next % 4)) % 4;
    assert.ok(archive.subarray(next, next + dataPad).every((b) => b === 0), 'data padding is not zeros');
    next += dataPad;
    entries.push({
      offset: pos,
      name,
      ino: values.ino!,
      mode: values.mode!,
      uid: values.uid!,
      gid: values.gid!,
      nlink: values.nlink!,
      mtime: values.mtime!,
      devMajor: values.devMajor!,
      devMinor: values.devMinor!,
      rdevMajor: values.rdevMajor!,
      rdevMinor: values.rdevMinor!,
      check: values.check!,
      data: Buffer.from(data),
    });
    pos = next;
    if (name === 'TRAILER!!!') break;
  }
  assert.equal(pos, archive.length, 'bytes after the trailer');
  return entries;
}

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
