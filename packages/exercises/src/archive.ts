import { gunzipSync } from 'node:zlib';

/** Why an archive was refused: shown to the student. */
export class ArchiveError extends Error {
  constructor(
    message: string,
    /** 413 for size caps, 422 for content the service does not accept */
    readonly statusCode: 413 | 422,
  ) {
    super(message);
  }
}

export interface ArchiveFile {
  name: string;
  content: Buffer;
}

/** gunzip refusing to produce more than `maxBytes` (a zip bomb stops at the cap, not in memory). */
export function gunzipCapped(buf: Buffer, maxBytes: number): Buffer {
  try {
    return gunzipSync(buf, { maxOutputLength: maxBytes });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (err instanceof RangeError || code === 'ERR_BUFFER_TOO_LARGE') {
      throw new ArchiveError(`the archive decompresses past the ${maxBytes}-byte cap`, 413);
    }
    throw new ArchiveError('the archive is not a valid gzip file', 422);
  }
}

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len);
  const nul = s.indexOf(0);
  return s.subarray(0, nul === -1 ? s.length : nul).toString('utf8');
}

function octal(b: Buffer, start: number, len: number): number {
  const field = b.subarray(start, start + len);
  if (field[0]! & 0x80) throw new ArchiveError('the archive uses base-256 sizes (a file that large is not accepted)', 413);
  const s = cstr(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new ArchiveError('the archive has a corrupt header', 422);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === octal(h, 148, 8);
}

const TYPE_NAMES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  '5': 'a directory',
};

function parsePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1) break;
    const len = parseInt(data.subarray(i, sp).toString('ascii'), 10);
    if (!Number.isFinite(len) || len <= 0 || i + len > data.length) throw new ArchiveError('the archive has a corrupt pax header', 422);
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    i += len;
  }
  return out;
}

/**
 * Lists the regular files of a (ustar/pax/GNU) tar archive. Only flat names are accepted: an entry
 * with a directory part, `..`, an absolute path, a link, a device or a FIFO rejects the whole archive.
 * A leading `./` is tolerated, as is the `./` directory entry itself.
 */
export function readTar(buf: Buffer, limits: { maxFiles: number }): ArchiveFile[] {
  const files: ArchiveFile[] = [];
  let off = 0;
  let longName: string | undefined;
  let paxPath: string | undefined;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) break;
    if (!checksumOk(h)) throw new ArchiveError('the archive is not a valid tar file (bad header checksum)', 422);
    const size = octal(h, 124, 12);
    const type = String.fromCharCode(h[156]!);
    const dataStart = off + 512;
    if (dataStart + size > buf.length) throw new ArchiveError('the archive is truncated', 422);
    const data = buf.subarray(dataStart, dataStart + size);
    off = dataStart + Math.ceil(size / 512) * 512;

    if (type === 'x') {
      paxPath = parsePax(data)['path'];
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L') {
      longName = cstr(data, 0, data.length);
      continue;
    }
    const magic = cstr(h, 257, 6);
    const prefix = magic.startsWith('ustar') ? cstr(h, 345, 155) : '';
    const rawName = paxPath ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
    paxPath = undefined;
    longName = undefined;
    const name = rawName.replace(/^(\.\/)+/, '');
    if (type === '5' && (name === '' || name === '.' || name === './')) continue;
    const kind = TYPE_NAMES[type];
    if (kind) throw new ArchiveError(`the archive holds ${kind} (${rawName}); only plain files are accepted`, 422);
    if (type !== '0' && type !== '\0' && type !== '7') {
      throw new ArchiveError(`the archive holds an entry of unsupported type '${type}' (${rawName})`, 422);
    }
    if (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..') {
      throw new ArchiveError(`the archive holds a path (${rawName}); put the files at its top level`, 422);
    }
    files.push({ name, content: Buffer.from(data) });
    if (files.length > limits.maxFiles) throw new ArchiveError(`the archive holds more than ${limits.maxFiles} files`, 413);
  }
  return files;
}
