import type { Frame } from '@kgrader/schemas';

/**
 * A stack-frame line as printed by the x86_64 unwinder, kmemleak or lockdep:
 *   ` msgbuf_write+0x45/0x120 [msgbuf]`
 *   ` ? __die+0x20/0x60`
 *   `[<ffffffffa0000123>] msgbuf_init+0x23/0x100 [msgbuf]`
 *   `    [<000000007e6b1d7a>] 0xffffffffc0000123`   (kmemleak, module already unloaded)
 *   `    [<(____ptrval____)>] __kmalloc+0xa0/0xdd`    (pointer hashing before it is seeded)
 * Anything after the frame (a symbolizer's `file.c:12`, `[inline]`) is tolerated and ignored.
 */
const FRAME_RE =
  /^\s*((?:\[<?(?:(?:0x)?[0-9a-f]+|\(_+ptrval_+\))>?\]\s*){0,2})(\?\s+)?((?:0x)?[0-9a-f]+|[A-Za-z_$][\w.$]*)(?:\+0x([0-9a-f]+)\/0x([0-9a-f]+))?(?:\s+\[([\w-]+)(?:\s+[0-9a-f]+)?\])?(?:\s.*)?$/;

export function parseFrame(line: string): Frame | undefined {
  const m = FRAME_RE.exec(line);
  if (!m) return undefined;
  const [, addressPart, questionMark, fn, offset, size, module] = m;
  if (fn === undefined) return undefined;
  const isRawAddress = /^0x[0-9a-f]+$/.test(fn);
  // Without `+off/size` only a raw address printed next to a `[<pc>]` is a frame;
  // otherwise any indented word (` Tainted`, ` <TASK>`) would pass.
  if (offset === undefined && !(isRawAddress && addressPart)) return undefined;
  const frame: Frame = { function: fn };
  if (offset !== undefined && size !== undefined) {
    frame.offset = parseInt(offset, 16);
    frame.size = parseInt(size, 16);
  }
  if (module !== undefined && module !== 'inline') frame.module = module;
  if (questionMark) frame.inlined = true;
  return frame;
}

/**
 * `RIP: 0010:msgbuf_write+0x45/0x120 [msgbuf]`: the faulting kernel PC of an oops/warning.
 * User-mode RIPs (`RIP: 0033:0x7f...`) are not frames.
 */
export function parseRipFrame(text: string): Frame | undefined {
  const m = /^\s*RIP: (?:([0-9a-f]{4}):)?(.*)$/.exec(text);
  if (!m) return undefined;
  if (m[1] !== undefined && m[1] !== '0010') return undefined;
  const frame = parseFrame(' ' + (m[2] ?? ''));
  if (!frame || /^0x/.test(frame.function)) return undefined;
  return frame;
}

/** `at: msgbuf_write+0x45/0x120 [msgbuf]` inside lockdep text: the frame after the last `at:`. */
export function parseAtFrame(text: string): Frame | undefined {
  const at = text.lastIndexOf('at:');
  if (at < 0) return undefined;
  const frame = parseFrame(' ' + text.slice(at + 3).trim());
  return frame && !frame.inlined ? frame : undefined;
}

/**
 * The name used in titles: compiler suffixes (`.cold`, `.isra.0`, `.constprop.0`) are dropped so
 * the same bug keeps the same title across builds, as syzkaller does.
 */
export function titleName(frame: Frame): string {
  if (frame.function.startsWith('0x')) return frame.function;
  const dot = frame.function.indexOf('.');
  return dot > 0 ? frame.function.slice(0, dot) : frame.function;
}
