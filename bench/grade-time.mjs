#!/usr/bin/env node
// Time-to-verdict breakdown for the msgbuf reference solution, graded by the real CLI.
// usage: node bench/grade-time.mjs [runs=3] [solution=exercises/msgbuf/solutions/reference] [exercise=msgbuf]
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const runs = Number(process.argv[2] ?? 3);
const solution = process.argv[3] ?? 'exercises/msgbuf/solutions/reference';
const exercise = process.argv[4] ?? 'msgbuf';
const keys = ['build', 'boot', 'kernelBoot', 'run', 'analyze', 'total'];
const rows = [];
for (let i = 0; i < runs; i++) {
  const started = Date.now();
  const out = spawnSync(process.execPath, [`${root}apps/cli/bin/kgrader.js`, 'grade', solution, '--exercise', exercise, '--json'], { cwd: root, encoding: 'utf8' });
  const result = JSON.parse(out.stdout);
  rows.push({ ...result.timings, wall: (Date.now() - started) / 1000, verdict: result.verdict });
  console.log(`run ${i + 1}: ${result.verdict} ${keys.map((k) => `${k}=${result.timings[k]}s`).join(' ')}`);
}
const stat = (k) => {
  const v = rows.map((r) => r[k]).filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return { min: v[0], median: v[Math.floor(v.length / 2)], max: v[v.length - 1] };
};
console.log(`\n${solution} (${exercise}), ${runs} runs, seconds`);
console.log('stage       min   median    max');
for (const k of [...keys, 'wall']) {
  const s = stat(k);
  console.log(`${k.padEnd(10)} ${String(s.min).padStart(6)} ${String(s.median).padStart(8)} ${String(s.max).padStart(6)}`);
}
console.log('\nboot = QEMU start to the harness\'s first line (host clock); kernelBoot = guest uptime at that line');
