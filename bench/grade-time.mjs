#!/usr/bin/env node
// Time to verdict, per stage, p50 and p90 over N gradings by the real CLI, for the msgbuf
// reference and a buggy driver, with the VM restored from its saved state and cold-booted,
// side by side in one run (interleaved, so load on the machine affects both alike).
// usage: node bench/grade-time.mjs [--runs 10] [--exercise msgbuf] [--solutions reference,buggy-off-by-one-read] [--modes restore,boot]
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: o } = parseArgs({ options: { runs: { type: 'string', default: '10' }, exercise: { type: 'string', default: 'msgbuf' }, solutions: { type: 'string', default: 'reference,buggy-off-by-one-read' }, modes: { type: 'string', default: 'restore,boot' } } });
const runs = Number(o.runs);
const solutions = o.solutions.split(',');
const modes = o.modes.split(',');
const stages = ['build', 'boot', 'run', 'analyze', 'total'];

const samples = new Map(); // `${solution}|${mode}` -> timings[]
for (let i = 0; i < runs; i++) {
  for (const solution of solutions) {
    for (const mode of modes) {
      const out = spawnSync(process.execPath, [`${root}apps/cli/bin/kgrader.js`, 'grade', `exercises/${o.exercise}/solutions/${solution}`, '--exercise', o.exercise, '--json'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, KGRADER_SNAPSHOTS: mode === 'boot' ? '0' : '1', KGRADER_ATTEMPTS: '1' },
      });
      const result = JSON.parse(out.stdout);
      const key = `${solution}|${mode}`;
      if (!samples.has(key)) samples.set(key, []);
      samples.get(key).push({ ...result.timings, verdict: result.verdict });
      console.error(`run ${i + 1}/${runs} ${solution} ${mode}: ${result.verdict} ${stages.map((s) => `${s}=${result.timings[s]}`).join(' ')} (vm ${result.timings.vmStart ?? '-'})`);
    }
  }
}

const pct = (values, p) => {
  const v = values.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)];
};
console.log(`\nkgrader time to verdict (seconds), ${runs} gradings each, ${cpus().length} cores (${cpus()[0]?.model}), load ${loadavg()[0].toFixed(1)} at the end`);
console.log(`${'solution'.padEnd(26)}${'vm'.padEnd(9)}${stages.map((s) => `${s} p50/p90`.padStart(17)).join('')}  verdicts`);
for (const solution of solutions) {
  for (const mode of modes) {
    const rows = samples.get(`${solution}|${mode}`) ?? [];
    const verdicts = Object.entries(rows.reduce((a, r) => ({ ...a, [r.verdict]: (a[r.verdict] ?? 0) + 1 }), {})).map(([v, n]) => `${n} ${v}`).join(', ');
    console.log(`${solution.padEnd(26)}${mode.padEnd(9)}${stages.map((s) => `${pct(rows.map((r) => r[s]), 50).toFixed(1)}/${pct(rows.map((r) => r[s]), 90).toFixed(1)}`.padStart(17)).join('')}  ${verdicts}`);
  }
}
for (const solution of solutions) {
  const r = samples.get(`${solution}|restore`);
  const b = samples.get(`${solution}|boot`);
  if (r && b) console.log(`${solution}: restore/boot total p50 ratio ${(pct(r.map((x) => x.total), 50) / pct(b.map((x) => x.total), 50)).toFixed(2)}`);
}
console.log('boot = QEMU start until the harness answered (restore: loading the saved state); run = tests; total includes build and analysis');
