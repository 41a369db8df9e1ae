/**
 * kgrader harness markers, written through /dev/kmsg around each test (packages/harness/PROTOCOL.md):
 *   kgrader: <nonce> test <name> start | kgrader: <nonce> test <name> end <status>
 *   kgrader: <nonce> module <name> loaded | kgrader: <nonce> module <name> unloaded
 * `<nonce>` is 16 lowercase hex digits, fresh for each grading and known only to the host and the
 * harness. The student's module shares the kernel log, so it can print marker lines too; with the
 * nonce the parser tells the harness's markers from forged ones. Older logs carry no nonce.
 * Matched anywhere in the message so a syslog level, a `kgrader-harness: ` tag or a second
 * timestamp in front does not hide them.
 */
export type MarkerType = 'test-start' | 'test-end' | 'module-loaded' | 'module-unloaded';

export interface Marker {
  type: MarkerType;
  /** test name, or module name for module markers */
  name: string;
  /** `pass`, `fail`, `error`, `skip`...: only for `test-end` */
  status?: string;
  /** 0-based index of the marker's line in the console log */
  line: number;
  /** console timestamp (seconds since boot), when the line had one */
  timestamp?: number;
}

/** A line shaped like a marker that does not carry the grading's nonce. */
export interface ForgedMarker {
  /** 0-based index of the line in the console log */
  line: number;
  /** the line's message, without timestamp */
  text: string;
}

export const MARKER_NONCE_RE = /^[0-9a-f]{16}$/;

// `token` is whatever stands between `kgrader:` and `test`/`module`: the nonce, when there is one.
const MARKER_RE =
  /\bkgrader(?:[-_][\w-]+)?:\s+(?:kgrader:\s+)?(?:(\S+)\s+)?(?:test\s+(\S+)\s+(start|end)(?:\s+(\S+))?|module\s+(\S+)\s+(loaded|unloaded))\s*$/;

/**
 * What a console line is to the marker parser:
 *  - `marker`: a marker of this grading,
 *  - `forged`: shaped like a marker but without the expected nonce (only when one is expected),
 *  - undefined: not a marker.
 * Without `expectedNonce` (old logs, `kgrader analyze` on any log) markers with or without a
 * nonce are accepted and nothing is forged.
 */
export function classifyMarkerLine(
  text: string,
  line: number,
  timestamp?: number,
  expectedNonce?: string,
): { marker: Marker } | { forged: ForgedMarker } | undefined {
  if (!text.includes('kgrader')) return undefined;
  const m = MARKER_RE.exec(text);
  if (!m) return undefined;
  let marker: Marker;
  if (m[2] !== undefined) {
    if (m[3] === 'start') {
      if (m[4] !== undefined) return undefined;
      marker = { type: 'test-start', name: m[2], line };
    } else {
      marker = { type: 'test-end', name: m[2], line, status: m[4] ?? 'unknown' };
    }
  } else {
    marker = { type: m[6] === 'loaded' ? 'module-loaded' : 'module-unloaded', name: m[5] ?? '', line };
  }
  if (timestamp !== undefined) marker.timestamp = timestamp;
  const token = m[1];
  if (expectedNonce !== undefined) return token === expectedNonce ? { marker } : { forged: { line, text } };
  // Without a nonce to check, a token must at least look like one to be part of a marker.
  if (token !== undefined && !MARKER_NONCE_RE.test(token)) return undefined;
  return { marker };
}

/** The marker on a line, if any (with `expectedNonce`, only a marker carrying it). */
export function parseMarker(text: string, line: number, timestamp?: number, expectedNonce?: string): Marker | undefined {
  const classified = classifyMarkerLine(text, line, timestamp, expectedNonce);
  return classified && 'marker' in classified ? classified.marker : undefined;
}

/**
 * The test running at `line`: the most recent started test whose end marker has not appeared
 * before that line. Markers must be in log order.
 */
export function testAtLine(markers: readonly Marker[], line: number): string | undefined {
  return testsAtLines(markers, [line])[0];
}

/** Assigns the running test to many sorted line numbers in one pass over the markers. */
export function testsAtLines(markers: readonly Marker[], sortedLines: readonly number[]): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  const open: string[] = [];
  let next = 0;
  for (const line of sortedLines) {
    while (next < markers.length && markers[next]!.line < line) {
      const marker = markers[next]!;
      if (marker.type === 'test-start') open.push(marker.name);
      else if (marker.type === 'test-end') {
        const at = open.lastIndexOf(marker.name);
        if (at >= 0) open.splice(at, 1);
      }
      next++;
    }
    out.push(open[open.length - 1]);
  }
  return out;
}
