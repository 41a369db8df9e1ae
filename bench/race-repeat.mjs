#!/usr/bin/env node
// Repeatability: grades the racing-writers bug N times and prints each verdict and finding.
// usage: node bench/race-repeat.mjs [runs=5]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 5);
const verdicts = {};
for (let i = 0; i < runs; i++) {
  const out = spawnSync(process.execPath, [`${root}apps/cli/bin/kgrader.js`, 'grade', 'exercises/msgbuf/solutions/buggy-race-realloc', '--exercise', 'msgbuf', '--json'], { cwd: root, encoding: 'utf8' });
  const r = JSON.parse(out.stdout);
  verdicts[r.verdict] = (verdicts[r.verdict] ?? 0) + 1;
  const first = r.findings[0];
  const where = first?.frames.find((f) => f.file);
  console.log(`run ${i + 1}: ${r.verdict} in ${r.timings.total}s; ${r.findings.length} findings; first: ${first?.title ?? '-'}${where ? ` (${where.file}:${where.line})` : ''}`);
}
console.log(`\nverdicts over ${runs} runs: ${JSON.stringify(verdicts)}`);
