/**
 * Console line prefixes: `[    3.141592][  T123] text` (CONFIG_PRINTK_TIME + CONFIG_PRINTK_CALLER),
 * `[    3.141592] text`, optionally preceded by a syslog level `<4>` or a
 * `** N printk messages dropped **` notice, and plain `text` for logs without timestamps.
 */
export interface SplitLine {
  /** the message text with the prefix (and the one separating space) removed */
  text: string;
  /** seconds since boot, when the line carried a timestamp */
  timestamp?: number;
  /** `T123` (task) or `C1` (CPU, i.e. interrupt context) from CONFIG_PRINTK_CALLER */
  caller?: string;
}

// One regex, anchored, all parts optional: cheap enough to run on every line of a 50k-line log.
// A getty's `syzkaller login: ` prompt can run into the next kernel line; it is dropped when a
// timestamp follows, as syzkaller does.
const PREFIX_RE =
  /^(?:\*\* \d+ printk messages dropped \*\*\s*)?(?:.*? login: (?=(?:<\d{1,3}>)?\[\s*\d+\.\d+\]))?(?:<\d{1,3}>)?(?:\[\s*(\d+\.\d+)\])?(?:\[\s*([TC]\d+)\])?/;

// QEMU serial output sometimes carries stray control characters (NULs after a reset, CRs).
const HAS_CONTROL_CHARS_RE = /[\u0000-\u0008\u000b-\u001f\u007f]/;
const CONTROL_CHARS_RE = /[\u0000-\u0008\u000b-\u001f\u007f]/g;

export function splitLinePrefix(line: string): SplitLine {
  let clean = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (HAS_CONTROL_CHARS_RE.test(clean)) clean = clean.replace(CONTROL_CHARS_RE, '');
  const m = PREFIX_RE.exec(clean);
  if (!m || m[0].length === 0) return { text: clean };
  // The kernel separates prefix and message with exactly one space; stack frames keep their
  // own leading space (` msgbuf_write+0x45/0x120`), which later code relies on.
  let text = clean.slice(m[0].length);
  if (text.startsWith(' ')) text = text.slice(1);
  const out: SplitLine = { text };
  if (m[1] !== undefined) out.timestamp = Number(m[1]);
  if (m[2] !== undefined) out.caller = m[2];
  return out;
}

/** The message text of a console line, without timestamp and caller id. */
export function stripLinePrefix(line: string): string {
  return splitLinePrefix(line).text;
}
