/**
 * kgrader harness markers, written through /dev/kmsg around each test (packages/harness/PROTOCOL.md):
 *   kgrader: test <name> start | kgrader: test <name> end <status>
 *   kgrader: module <name> loaded | kgrader: module <name> unloaded
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

const MARKER_RE =
  /\bkgrader(?:[-_][\w-]+)?:\s+(?:kgrader:\s+)?(?:test\s+(\S+)\s+(start|end)(?:\s+(\S+))?|module\s+(\S+)\s+(loaded|unloaded))\s*$/;

export function parseMarker(text: string, line: number, timestamp?: number): Marker | undefined {
  if (!text.includes('kgrader')) return undefined;
  const m = MARKER_RE.exec(text);
  if (!m) return undefined;
  let marker: Marker;
  if (m[1] !== undefined) {
    if (m[2] === 'start') {
      if (m[3] !== undefined) return undefined;
      marker = { type: 'test-start', name: m[1], line };
    } else {
      marker = { type: 'test-end', name: m[1], line, status: m[3] ?? 'unknown' };
    }
  } else {
    marker = { type: m[5] === 'loaded' ? 'module-loaded' : 'module-unloaded', name: m[4] ?? '', line };
  }
  if (timestamp !== undefined) marker.timestamp = timestamp;
  return marker;
}

/**
 * The test running at `line`: the most recent started test whose end marker has not appeared
 * before that line. Markers must be in log order.
 */
export function testAtLine(markers: readonly Marker[], line: number): string | undefined {
  const open: string[] = [];
  for (const marker of markers) {
    if (marker.line >= line) break;
    if (marker.type === 'test-start') open.push(marker.name);
    else if (marker.type === 'test-end') {
      const at = open.lastIndexOf(marker.name);
      if (at >= 0) open.splice(at, 1);
    }
  }
  return open[open.length - 1];
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
