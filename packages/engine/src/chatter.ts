import { stripLinePrefix } from '@kgrader/log-parser';
import type { Finding } from '@kgrader/schemas';

export interface Chatter {
  /** console bytes after the module's load began, not counting kernel reports and kgrader's markers */
  bytes: number;
  /** the most repeated line (numbers folded), and how often it appeared */
  sample?: string;
  sampleCount: number;
}

/**
 * Measures how much the console printed after the module started loading, kernel reports
 * aside (they are findings already: every line the parser placed in a report, folded repeats
 * included, and any line of a report's text) and kgrader's markers. The harness's own marker
 * lines are exempt by line number (the ones that carried this grading's nonce), never by their
 * text: a module printing `kgrader: ...` is chatter. Bytes dropped from the middle of a capped
 * console count in the proportion of chatter among the kept lines after the load (a console
 * filled by KASAN reports is not a chatty driver). Pure.
 */
export function measureChatter(
  console: string,
  fromLine: number,
  findings: readonly Finding[],
  droppedBytes: number,
  markerLines: ReadonlySet<number> = new Set(),
  reportLineNumbers: ReadonlySet<number> = new Set(),
): Chatter {
  const reportLines = new Set<string>();
  for (const f of findings) for (const line of f.raw.split('\n')) reportLines.add(line.trim());
  const counts = new Map<string, number>();
  let bytes = 0;
  let keptBytes = 0;
  const lines = console.split('\n');
  for (let i = fromLine; i < lines.length; i++) {
    const rawLine = lines[i]!;
    keptBytes += Buffer.byteLength(rawLine) + 1;
    if (markerLines.has(i) || reportLineNumbers.has(i)) continue;
    const text = stripLinePrefix(rawLine.replace(/\r$/, '')).trim();
    if (text === '' || reportLines.has(text)) continue;
    bytes += Buffer.byteLength(rawLine) + 1;
    const shape = text.replace(/\d+/g, 'N').slice(0, 200);
    counts.set(shape, (counts.get(shape) ?? 0) + 1);
  }
  if (droppedBytes > 0) bytes += keptBytes > 0 ? Math.round((droppedBytes * bytes) / keptBytes) : droppedBytes;
  let sample: string | undefined;
  let sampleCount = 0;
  for (const [shape, n] of counts) {
    if (n > sampleCount) {
      sample = shape;
      sampleCount = n;
    }
  }
  return { bytes, ...(sample ? { sample } : {}), sampleCount };
}

/** The console-flood finding when the chatter passes the exercise's limit. */
export function chatterFinding(chatter: Chatter, limitBytes: number, fromLine: number): Finding | undefined {
  if (chatter.bytes <= limitBytes) return undefined;
  const kib = Math.round(chatter.bytes / 1024);
  return {
    kind: 'console-flood',
    title: `console flood: ${kib} KiB printed after the module was loaded (limit ${Math.round(limitBytes / 1024)} KiB)`,
    frames: [],
    raw: chatter.sample ? `most repeated line (${chatter.sampleCount} times): ${chatter.sample}` : `${kib} KiB of console output`,
    line: fromLine,
    count: 1,
  };
}
