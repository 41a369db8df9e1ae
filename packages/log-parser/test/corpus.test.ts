// Measures the parser against syzkaller's whole titled Linux report corpus when it is present
// (`../shared/syzkaller-reports` from the repository root; it is not part of the repository):
// for each log, does the first finding carry syzkaller's title, or at least its family, and the
// same `corrupted` verdict? Prints the agreement and the worst families, and holds the targets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConsoleLog } from '../src/index.js';
import { readTitledLog, titleFamily } from './titled-log.js';

const repoRoot = new URL('../../../../', import.meta.url);
const corpusDir = new URL('../shared/syzkaller-reports/linux/', repoRoot);

/**
 * Reports of syzkaller's own tools (its executor, the Go runtime of its fuzzer), not of the
 * kernel: kgrader's table leaves them out, since a driver printing `panic:` or `fatal error:` in
 * a message must not fail its grade.
 */
const SYZKALLER_TOOLING = /^(?:SYZFAIL|SYZFATAL|go runtime error|panic:)/;

/**
 * Logs where kgrader differs from syzkaller on purpose (README, "Differences from syzkaller").
 * They count as disagreements in the figures; they are listed so that the checks below hold
 * every other log to syzkaller's answer.
 */
const DELIBERATE_DIFFERENCES: Record<string, string> = {
  // A driver's own message with a marker word and no kernel report around it.
  '6': 'a bare `WARNING: foo` line, no stack: a driver message, not a report',
  '381': '`usb 5-1: WARNING: ath10k USB support is incomplete`: a driver message, not a report',
  // Frames of a loadable module (the student's code) are never skipped as helpers.
  '338': 'kmalloc_oob_right [test_kasan] is a module frame: named, not skipped as an allocator',
  '340': 'memcpy [test_kasan] is a module frame: named, not skipped as a string helper',
};

const TARGET_SAME_TITLE = 0.9;
const TARGET_SAME_FAMILY = 0.98;

interface Outcome {
  file: string;
  expected: string;
  got: string | undefined;
}

const percent = (n: number, of: number): string => `${((100 * n) / Math.max(1, of)).toFixed(1)} %`;

test('syzkaller corpus: same titles and families as syzkaller', { skip: existsSync(corpusDir) ? false : `no corpus at ${fileURLToPath(corpusDir)}` }, () => {
  const files = readdirSync(corpusDir).sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
  const titled: Outcome[] = [];
  const spurious: Outcome[] = [];
  const corruptedAgreement = { both: 0, neither: 0, onlySyzkaller: [] as string[], onlyKgrader: [] as string[] };
  let parseMs = 0;
  for (const file of files) {
    const { titles, corrupted, log } = readTitledLog(readFileSync(new URL(file, corpusDir), 'latin1'));
    const started = performance.now();
    const { findings } = parseConsoleLog(log);
    parseMs += performance.now() - started;
    const first = findings[0];
    const expected = titles[0];
    if (expected === undefined) {
      if (first) spurious.push({ file, expected: '(no report)', got: first.title });
      continue;
    }
    titled.push({ file, expected, got: first?.title });
    if (first) {
      const want = corrupted.length > 0;
      if (want && first.corrupted) corruptedAgreement.both++;
      else if (want) corruptedAgreement.onlySyzkaller.push(file);
      else if (first.corrupted) corruptedAgreement.onlyKgrader.push(file);
      else corruptedAgreement.neither++;
    }
  }

  const sameTitle = titled.filter((o) => o.got === o.expected);
  const sameFamily = titled.filter((o) => o.got !== undefined && titleFamily(o.got) === titleFamily(o.expected));
  const noFinding = titled.filter((o) => o.got === undefined);
  const kernelNoFinding = noFinding.filter((o) => !SYZKALLER_TOOLING.test(o.expected) && !(o.file in DELIBERATE_DIFFERENCES));
  const unexplained = titled.filter((o) => o.got !== o.expected && !(o.file in DELIBERATE_DIFFERENCES) && !SYZKALLER_TOOLING.test(o.expected));

  const byFamily = new Map<string, { total: number; wrongTitle: Outcome[] }>();
  for (const o of titled) {
    const family = titleFamily(o.expected);
    const entry = byFamily.get(family) ?? { total: 0, wrongTitle: [] };
    entry.total++;
    if (o.got !== o.expected) entry.wrongTitle.push(o);
    byFamily.set(family, entry);
  }
  const worst = [...byFamily.entries()]
    .filter(([, e]) => e.wrongTitle.length > 0)
    .sort((a, b) => b[1].wrongTitle.length - a[1].wrongTitle.length || a[0].localeCompare(b[0]))
    .slice(0, 12);

  const report = [
    `syzkaller corpus: ${files.length} logs, ${titled.length} with a report (parsed in ${parseMs.toFixed(0)} ms)`,
    `  same title:   ${sameTitle.length}/${titled.length} = ${percent(sameTitle.length, titled.length)} (target ${TARGET_SAME_TITLE * 100} %)`,
    `  same family:  ${sameFamily.length}/${titled.length} = ${percent(sameFamily.length, titled.length)} (target ${TARGET_SAME_FAMILY * 100} %)`,
    `  no finding:   ${noFinding.length}: ${kernelNoFinding.length} kernel reports; ${noFinding
      .filter((o) => SYZKALLER_TOOLING.test(o.expected))
      .map((o) => o.file)
      .join(', ')} are syzkaller's own tools; ${noFinding
      .filter((o) => o.file in DELIBERATE_DIFFERENCES)
      .map((o) => o.file)
      .join(', ')} are driver messages, not reports`,
    `  deliberate differences: ${Object.entries(DELIBERATE_DIFFERENCES)
      .map(([file, why]) => `${file} (${why})`)
      .join('; ')}`,
    `  other title disagreements: ${unexplained.length}${unexplained.length ? ` (${unexplained.map((o) => `${o.file}: ${o.got ?? '(none)'} != ${o.expected}`).join('; ')})` : ''}`,
    `  a finding where syzkaller sees no report: ${spurious.length}${spurious.length ? ` (${spurious.map((o) => `${o.file}: ${o.got}`).join('; ')})` : ''}`,
    `  corrupted:    ${corruptedAgreement.both} agreed corrupted, ${corruptedAgreement.neither} agreed intact, syzkaller only ${corruptedAgreement.onlySyzkaller.length} [${corruptedAgreement.onlySyzkaller.join(' ')}], kgrader only ${corruptedAgreement.onlyKgrader.length} [${corruptedAgreement.onlyKgrader.join(' ')}]`,
    `  worst families (wrong title / logs):`,
    ...worst.map(
      ([family, e]) =>
        `    ${String(e.wrongTitle.length).padStart(3)} / ${String(e.total).padEnd(3)} ${family}: ${e.wrongTitle
          .slice(0, 3)
          .map((o) => `${o.file} -> ${o.got ?? '(none)'}`)
          .join('; ')}`,
    ),
  ];
  console.log(report.join('\n'));

  assert.ok(sameTitle.length / titled.length >= TARGET_SAME_TITLE, 'same title');
  assert.ok(sameFamily.length / titled.length >= TARGET_SAME_FAMILY, 'same family');
  assert.deepEqual(kernelNoFinding, [], 'every kernel report gives a finding');
  assert.deepEqual(spurious, [], 'no finding where there is no report');
});
