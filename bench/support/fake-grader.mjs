// A deterministic stand-in for the engine, for the queue benchmark only (`node bench/api-accept.mjs
// --grader fake`): no build, no VM, so a drain with it measures the service's own overhead (API,
// PostgreSQL, Redis, bullmq, the worker's bookkeeping), never grading. Production and the service
// tests use the real engine.
// It reads markers from the submitted sources:
//   FAKE_VERDICT=pass|fail|error   the verdict (default pass)
//   FAKE_SLEEP_MS=n                time spent "running" (abortable)
//   FAKE_ERROR_TIMES=n             answer `error` the first n times this exact source is graded
//   FAKE_FINDING                   add a KASAN finding pointing at line 3 of the first file
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * @param {(slug: string) => Promise<import('@kgrader/schemas').ExerciseSpec>} loadExercise
 * @returns {import('@kgrader/worker').Grader & { calls: Map<string, number> }}
 */
export function fakeGrader(loadExercise) {
  /** @type {Map<string, number>} */
  const calls = new Map();
  return {
    calls,
    loadExercise,
    async grade({ exercise, sourceDir, onProgress, signal }) {
      const names = (await readdir(sourceDir)).sort();
      const text = (await Promise.all(names.map((n) => readFile(join(sourceDir, n), 'utf8')))).join('\n');
      const n = (calls.get(text) ?? 0) + 1;
      calls.set(text, n);
      const marker = (/** @type {string} */ k) => new RegExp(`${k}=(\\w+)`).exec(text)?.[1];
      const sleepMs = Number(marker('FAKE_SLEEP_MS') ?? 0);
      const errorTimes = Number(marker('FAKE_ERROR_TIMES') ?? 0);
      let verdict = /** @type {'pass' | 'fail' | 'error'} */ (marker('FAKE_VERDICT') ?? 'pass');
      if (n <= errorTimes) verdict = 'error';
      const started = Date.now();
      onProgress('building', 'fake build');
      onProgress('booting', 'fake boot');
      onProgress('running', 'fake tests');
      if (sleepMs > 0) {
        await new Promise((resolve, reject) => {
          const t = setTimeout(resolve, sleepMs);
          signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new Error('grading aborted'));
          });
        });
      }
      onProgress('analyzing', 'fake analysis');
      const maxScore = exercise.tests.reduce((s, t) => s + t.points, 0);
      const pass = verdict === 'pass';
      const total = (Date.now() - started) / 1000;
      const first = names[0] ?? 'main.c';
      return {
        verdict,
        score: pass ? maxScore : verdict === 'fail' ? Math.floor(maxScore / 2) : 0,
        maxScore,
        summary: verdict === 'error' ? 'fake infrastructure error' : pass ? 'fake: all tests passed' : 'fake: some tests failed',
        exercise: exercise.slug,
        build: { ok: verdict !== 'error', log: 'fake build log', diagnostics: [] },
        tests: exercise.tests.map((t, i) => ({
          name: t.name,
          status: pass || i % 2 === 0 ? 'pass' : 'fail',
          points: pass || i % 2 === 0 ? t.points : 0,
          maxPoints: t.points,
          output: 'fake output',
          durationMs: 1,
        })),
        findings: /FAKE_FINDING/.test(text)
          ? [
              {
                kind: 'kasan',
                title: 'KASAN: slab-out-of-bounds Read in msgbuf_read',
                frames: [
                  { function: 'msgbuf_read', module: 'msgbuf', file: first, line: 3, source: 'copy_to_user(buf, msg, len + 1);' },
                  { function: 'vfs_read' },
                ],
                raw: 'BUG: KASAN: slab-out-of-bounds in msgbuf_read+0x45/0x120 [msgbuf]',
                test: 'read_offsets',
              },
            ]
          : [],
        timings: { build: total / 4, boot: total / 4, run: total / 4, analyze: total / 4, total },
        ...(verdict === 'error' ? { infrastructureError: 'fake infrastructure error' } : {}),
        console: 'fake console',
      };
    },
  };
}
