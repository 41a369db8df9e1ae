import { parseConsoleLog, type ForgedMarker } from '@kgrader/log-parser';
import type { Finding } from '@kgrader/schemas';
import { symbolizeFindings, type StudentModule } from '@kgrader/symbolizer';

export interface Analysis {
  findings: Finding[];
  /** console line where the harness began loading the module (the `load` test's start marker) */
  loadStartLine?: number;
  /** marker-shaped console lines without the grading's nonce (only when `markerNonce` was given) */
  forgedMarkers: ForgedMarker[];
}

/**
 * Console log -> findings, each tied to the test it appeared in and, for frames in the student's
 * module, to the source line. Symbolization is skipped when no module is given (`kgrader analyze`
 * on a bare log).
 */
export async function analyzeConsole(
  console: string,
  options: { loadTestName?: string; module?: StudentModule; markerNonce?: string } = {},
): Promise<Analysis> {
  const parsed = parseConsoleLog(console, options.markerNonce !== undefined ? { markerNonce: options.markerNonce } : {});
  const loadStart = parsed.markers.find((m) => m.type === 'test-start' && m.name === (options.loadTestName ?? 'load'));
  const findings = options.module ? await symbolizeFindings(parsed.findings, options.module) : parsed.findings;
  return { findings, forgedMarkers: parsed.forgedMarkers, ...(loadStart ? { loadStartLine: loadStart.line } : {}) };
}
