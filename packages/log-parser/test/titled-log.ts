/**
 * Log fixtures carry their expectations as header lines, in the format of syzkaller's report
 * corpus (pkg/report/testdata/linux/report): `KEY: value` lines, then an empty line, then the
 * console log as captured.
 *   TITLE: <title>        one per expected finding, in order (syzkaller's files name the first only)
 *   CORRUPTED: Y          the first finding is expected to be marked corrupted
 *   CORRUPTED: <title>    that finding is expected to be marked corrupted
 *   # ...                 a comment: what the log shows and where it comes from
 * Other syzkaller keys (ALT, TYPE, FRAME, PANICKED...) are kept and ignored.
 */
export interface TitledLog {
  titles: string[];
  /** titles of the findings expected to be marked corrupted (`Y` resolved to the first title) */
  corrupted: string[];
  /** every header line, by key */
  headers: Map<string, string[]>;
  log: string;
}

const HEADER_LINE = /^([A-Z][A-Z_-]*):(?: (.*))?$/;

export function readTitledLog(text: string): TitledLog {
  const headers = new Map<string, string[]>();
  const lines = text.split('\n');
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '');
    if (line === '') {
      i++;
      break;
    }
    if (line.startsWith('#')) continue;
    const m = HEADER_LINE.exec(line);
    if (!m) throw new Error(`not a header line: ${JSON.stringify(line)} (a titled log starts with KEY: value lines and an empty line)`);
    const values = headers.get(m[1]!) ?? [];
    values.push((m[2] ?? '').trim());
    headers.set(m[1]!, values);
  }
  const titles = (headers.get('TITLE') ?? []).filter((t) => t !== '');
  const corrupted = (headers.get('CORRUPTED') ?? []).flatMap((v) => (v === 'Y' ? titles.slice(0, 1) : v === 'N' ? [] : [v]));
  return { titles, corrupted, headers, log: lines.slice(i).join('\n') };
}

/**
 * The family of a title: the title without the function it names (`KASAN: use-after-free Read in
 * foo` -> `KASAN: use-after-free Read`). Two titles of one family name the same kind of bug.
 */
export function titleFamily(title: string): string {
  const at = title.lastIndexOf(' in ');
  return at > 0 ? title.slice(0, at) : title;
}
