// A stand-in for the engine (no VM) that still produces what the real one does where the service
// cares: per-test results and the verdict's summary from the real @kgrader/verdict, progress lines
// `test <name>` / `test <name>: <status>`, a console with the harness's nonce markers, findings
// tied to the test they appeared in and mapped to a line of the submitted file. What happens is
// read from the submitted text:
//   FAIL:<test>     that test fails (FAIL@<n>: the n-th test, from 0)
//   KASAN:<test>    a KASAN report during that test, on line 3 of the first file (KASAN@<n>)
//   HUNG:<test>     a hung-task report during that test whose stack is the kernel's only: the
//                   engine's suspect (line 2 of the first file) places it, and a lockdep report
//                   follows from it (consequenceOf)
//   INFRA           kgrader's own failure (verdict error)
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadExercise, shippedExercisesDir } from '@kgrader/engine';
import type { ExerciseDraftInput, ExerciseSpec, Finding, GradeResult, HarnessEvent } from '@kgrader/schemas';
import { decideVerdict } from '@kgrader/verdict';
import type { Grader } from '@kgrader/worker';

export const NONCE = '0123456789abcdef';

export interface StandInCall {
  exercise: ExerciseSpec;
  files: Record<string, string>;
}

export function standInGrader(): Grader & { calls: StandInCall[] } {
  const calls: StandInCall[] = [];
  return {
    calls,
    loadExercise: (slug) => loadExercise(slug, shippedExercisesDir),
    async grade({ exercise, sourceDir, onProgress }) {
      const names = (await readdir(sourceDir)).sort();
      const files: Record<string, string> = {};
      for (const n of names) files[n] = await readFile(join(sourceDir, n), 'utf8');
      calls.push({ exercise, files });
      const text = Object.values(files).join('\n');
      const timings = { build: 0.1, boot: 0.1, run: 0.1, analyze: 0.1, total: 0.4 };
      onProgress('building', 'compiling (stand-in)');
      if (text.includes('INFRA')) {
        return {
          exercise: exercise.slug,
          build: { ok: true, log: '', diagnostics: [] },
          verdict: 'error',
          score: 0,
          maxScore: exercise.tests.reduce((s, t) => s + t.points, 0),
          summary: 'no VM (stand-in)',
          tests: [],
          findings: [],
          timings,
          infrastructureError: 'QEMU could not start (stand-in)',
        } satisfies GradeResult;
      }
      onProgress('booting', 'starting the VM (stand-in)');
      onProgress('running', 'kernel up');
      const nth = (m: RegExpExecArray | RegExpMatchArray) => (m[1] !== undefined ? m[1] : exercise.tests[Number(m[2])]?.name ?? '');
      const fails = new Set([...text.matchAll(/FAIL(?::([a-z0-9_]+)|@(\d+))/g)].map(nth));
      const k = /KASAN(?::([a-z0-9_]+)|@(\d+))/.exec(text);
      const kasanIn = k ? nth(k) : undefined;
      const hung = /HUNG:([a-z0-9_]+)/.exec(text);
      const events: HarnessEvent[] = [];
      const console: string[] = ['[    0.500000] Linux version 6.1 (stand-in)'];
      const findings: Finding[] = [];
      let t = 1;
      for (const test of exercise.tests) {
        onProgress('running', `test ${test.name}`);
        events.push({ event: 'test_start', name: test.name, uptimeMs: t * 1000 });
        console.push(`[    ${t}.000000] kgrader: ${NONCE} test ${test.name} start`);
        if (kasanIn === test.name) {
          console.push(`[    ${t}.100000] BUG: KASAN: slab-out-of-bounds in demo_read`);
          const first = names[0]!;
          findings.push({
            kind: 'kasan',
            title: 'KASAN: slab-out-of-bounds Read in demo_read',
            frames: [{ function: 'demo_read', module: 'demo', file: first, line: 3, source: (files[first]!.split('\n')[2] ?? '').trim() || 'x' }],
            raw: 'BUG: KASAN: slab-out-of-bounds in demo_read',
            count: 1,
            test: test.name,
            line: console.length - 1,
          });
        }
        if (hung?.[1] === test.name) {
          console.push(`[    ${t}.200000] INFO: task demo:42 blocked for more than 10 seconds.`);
          const first = names[0]!;
          const cause = findings.length;
          findings.push({
            kind: 'hung-task',
            title: 'INFO: task hung in mutex_lock',
            frames: [{ function: 'mutex_lock' }, { function: 'vfs_read' }],
            raw: 'INFO: task demo:42 blocked for more than 10 seconds.',
            count: 1,
            test: test.name,
            line: console.length - 1,
            suspect: { function: 'demo_read', file: first, line: 2, source: (files[first]!.split('\n')[1] ?? '').trim() || 'x', confidence: 'medium', why: 'the module calls mutex_lock here (stand-in)' },
          });
          console.push(`[    ${t}.300000] WARNING: possible circular locking dependency detected`);
          findings.push({
            kind: 'lockdep',
            title: 'possible deadlock in demo_read',
            frames: [{ function: 'demo_read', module: 'demo' }],
            raw: 'WARNING: possible circular locking dependency detected',
            count: 1,
            test: test.name,
            line: console.length - 1,
            consequenceOf: cause,
            truncated: true,
            access: { type: 'read', size: 8 },
          });
        }
        const status = fails.has(test.name) ? 'fail' : 'pass';
        events.push({ event: 'test_end', name: test.name, status, output: status === 'pass' ? `${test.name} ok` : `${test.name} went wrong`, durationMs: 10 });
        console.push(`[    ${t}.500000] kgrader: ${NONCE} test ${test.name} end ${status}`);
        onProgress('running', `test ${test.name}: ${status}`);
        t++;
      }
      events.push({ event: 'done', uptimeMs: t * 1000 });
      onProgress('analyzing', 'reading the kernel log');
      const verdict = decideVerdict({
        exercise,
        build: { ok: true, log: '', diagnostics: [] },
        vm: { events, ready: { cpus: 2, ran: 2 }, moduleMayBeLoaded: true, done: true, consoleBytes: 100, oomKilled: false, timeoutSeconds: 240, violationsBeforeLoad: [] },
        findings,
        loadStartLine: 1,
        moduleName: 'demo',
        timings,
      });
      onProgress('done', verdict.verdict);
      return { ...verdict, console: console.join('\n') };
    },
  };
}

/** A small msgbuf-like exercise draft: a reference and one buggy solution the stand-in grader catches (KASAN in write_read). */
export function miniDraft(over: { slug?: string; buggyText?: string; points?: number } = {}): ExerciseDraftInput {
  return {
    spec: {
      slug: over.slug ?? 'mini-msgbuf',
      title: 'mini msgbuf',
      summary: 'A one-message device, briefly.',
      module: 'msgbuf',
      device: '/dev/msgbuf',
      tests: [
        { name: 'load', kind: 'load', description: 'loads', points: 1 },
        { name: 'write_read', kind: 'write_read', description: 'reads back', points: over.points ?? 2 },
        { name: 'bad_buffers', kind: 'bad_buffers', description: 'EFAULT', points: 2 },
        { name: 'unload', kind: 'unload', description: 'unloads', points: 1 },
      ],
    },
    handout: '# mini msgbuf\n\nWrite `/dev/msgbuf`.',
    starterFiles: [{ name: 'msgbuf.c', content: '// your driver here\n' }],
    solutions: [
      { name: 'reference', expectation: { description: 'correct', verdict: 'pass' }, files: [{ name: 'msgbuf.c', content: 'int ok;\n' }] },
      {
        name: 'buggy-oob',
        expectation: { description: 'reads past the end', verdict: 'fail', anyOfFindingKinds: ['kasan'], failingTests: ['write_read'] },
        files: [{ name: 'msgbuf.c', content: over.buggyText ?? '// line 1\n// line 2\nint read_past_end; // KASAN:write_read\n' }],
      },
    ],
  };
}

