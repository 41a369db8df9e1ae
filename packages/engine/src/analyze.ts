import { parseConsoleLog } from '@kgrader/log-parser';
import type { Finding } from '@kgrader/schemas';
import { symbolizeFindings, type StudentModule } from '@kgrader/symbolizer';

export interface Analysis {
  findings: Finding[];
  /** console line where the harness began loading the module (the `load` test's start marker) */
  loadStartLine?: number;
}

/**
 * Console log -> findings, each tied to the test it appeared in and, for frames in the student's
 * module, to the source line. Symbolization is skipped when no module is given (`kgrader analyze`
 * on a bare log).
 */
export async function analyzeConsole(console: string, options: { loadTestName?: string; module?: StudentModule } = {}): Promise<Analysis> {
  const parsed = parseConsoleLog(console);
  const loadStart = parsed.markers.find((m) => m.type === 'test-start' && m.name === (options.loadTestName ?? 'load'));
  const findings = options.module ? await symbolizeFindings(parsed.findings, options.module) : parsed.findings;
  return { findings, ...(loadStart ? { loadStartLine: loadStart.line } : {}) };
}
