#!/usr/bin/env node
// Catch rates of the race solutions by stress duration, so the race tests' durations are chosen
// from data: each solution is graded N times per duration by the real CLI, with its exercise
// cut down to the load test and its race tests, every race test running for that duration.
// usage: node bench/race-calibration.mjs [--runs 10] [--durations 500,1000,2000,3000]
//        [--cases msgbuf/buggy-race-realloc:kasan,chardev-generic/buggy-unlocked-list:kasan]
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { values: o } = parseArgs({
  options: {
    runs: { type: 'string', default: '10' },
    durations: { type: 'string', default: '500,1000,2000,3000' },
    cases: { type: 'string', default: 'msgbuf/buggy-race-realloc:kasan,msgbuf/buggy-spinlock-copy:atomic-sleep,chardev-generic/buggy-unlocked-list:kasan|list-corruption|oops' },
  },
});
const runs = Number(o.runs);
const durations = o.durations.split(',').map(Number);
const RACE_KINDS = new Set(['race_writers', 'race_open_close', 'generic_stress']);

const table = [];
for (const c of o.cases.split(',')) {
  const [path, kindList] = c.split(':');
  const [slug, solution] = path.split('/');
  const kinds = kindList.split('|');
  const spec = JSON.parse(readFileSync(`${root}exercises/${slug}/exercise.json`, 'utf8'));
  for (const ms of durations) {
    const dir = mkdtempSync(join(tmpdir(), 'kgrader-calibration-'));
    const tests = spec.tests.filter((t, i) => i === 0 || t.kind === 'discover' || RACE_KINDS.has(t.kind));
    const cut = { ...spec, tests: tests.map((t) => (RACE_KINDS.has(t.kind) ? { ...t, params: { ...Object.fromEntries(Object.entries(t.params ?? {}).filter(([k]) => k !== 'seconds')), ms } } : t)) };
    mkdirSync(join(dir, slug));
    writeFileSync(join(dir, slug, 'exercise.json'), JSON.stringify(cut));
    let caught = 0;
    let errors = 0;
    const seconds = [];
    for (let i = 0; i < runs; i++) {
      const out = spawnSync(process.execPath, [`${root}apps/cli/bin/kgrader.js`, 'grade', `exercises/${slug}/solutions/${solution}`, '--exercise', slug, '--json'], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, KGRADER_EXERCISES_DIR: dir, KGRADER_ATTEMPTS: '1' },
      });
      const r = JSON.parse(out.stdout);
      if (r.verdict === 'error') errors++;
      const hit = r.verdict === 'fail' && r.findings.some((f) => kinds.includes(f.kind));
      if (hit) caught++;
      seconds.push(r.timings.run);
      console.error(`${slug}/${solution} ${ms} ms run ${i + 1}: ${r.verdict}${hit ? ' (caught)' : ''} ${r.findings.map((f) => f.kind).join(',')}`);
    }
    rmSync(dir, { recursive: true, force: true });
    seconds.sort((a, b) => a - b);
    table.push({ case: `${slug}/${solution}`, ms, caught, runs, errors, run: seconds[Math.floor(seconds.length / 2)] });
  }
}
console.log(`\nrace catch rate by stress duration (${runs} gradings each; run = median seconds of the VM's test run)`);
console.log(`${'solution'.padEnd(42)}${durations.map((d) => `${d} ms`.padStart(16)).join('')}`);
for (const name of [...new Set(table.map((t) => t.case))]) {
  const cells = durations.map((d) => {
    const t = table.find((x) => x.case === name && x.ms === d);
    return `${t.caught}/${t.runs}${t.errors ? ` (${t.errors}e)` : ''} ${t.run}s`.padStart(16);
  });
  console.log(`${name.padEnd(42)}${cells.join('')}`);
}
