// Publishing an exercise version with the real engine (QEMU + the sanitizer kernel): the solutions
// are graded through the grading queue's low-priority lane by a real worker and judged by the same
// check as the end-to-end tests of solutions.json (@kgrader/expectations). A version whose
// reference passes and whose buggy solution is caught is published; one whose "buggy" solution is
// in fact correct (not caught) is rejected. Run under `flock /tmp/kgrader-vm.lock`. Skipped when
// the grading kernel has not been built.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { engineConfigFromEnv, engineGrader, runWorker, type RunningWorker } from '@kgrader/worker';
import { pino } from 'pino';
import { api, kernelMissing, seed, solutionPath, startApi, waitFor, workerEnv, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });

describe('publishing a version with the real engine', { skip: kernelMissing ?? false, timeout: 20 * 60_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let w: RunningWorker;
  let spec: unknown;
  let reference = '';
  let offByOne = '';
  before(async () => {
    env = await startApi('exercise_publish');
    s = await seed(env.db);
    spec = { ...((await env.db.exerciseVersion.findFirstOrThrow({ where: { exercise: { slug: 'msgbuf' }, version: 1 } })).spec as object), slug: 'lab-msgbuf' };
    reference = await readFile(solutionPath('reference'), 'utf8');
    offByOne = await readFile(solutionPath('buggy-off-by-one-read'), 'utf8');
    w = await runWorker({
      config: testWorkerConfig(env, {
        workerId: 'publish-e2e',
        retry: { attempts: 2, backoffMs: 1000 },
        shutdownGraceMs: 1000,
        heartbeat: { intervalMs: 10_000, staleSeconds: 45 },
      }),
      grader: engineGrader(engineConfigFromEnv(workerEnv())),
      logger,
    });
  });
  after(async () => {
    await w?.shutdown();
    await env?.close();
  });

  const draft = (buggy: string) => ({
    spec,
    handout: 'Write msgbuf.',
    starterFiles: [],
    solutions: [
      { name: 'reference', expectation: { description: 'correct', verdict: 'pass' }, files: [{ name: 'msgbuf.c', content: reference }] },
      {
        name: 'buggy-off-by-one-read',
        expectation: { description: 'reads one byte past the message', verdict: 'fail', anyOfFindingKinds: ['kasan'], titleIncludes: 'out-of-bounds Read' },
        files: [{ name: 'msgbuf.c', content: buggy }],
      },
    ],
  });
  const decided = (exerciseId: string, version: number) =>
    waitFor(`version ${version} decided`, async () => {
      const r = await api(env, 'GET', `/api/v1/exercises/${exerciseId}/versions/${version}`, { token: s.users.instructor.token });
      return r.body.status !== 'checking' && r.body;
    }, 15 * 60_000, 1000);

  let exerciseId = '';
  it('the reference passes and the off-by-one read is caught by KASAN: published', async () => {
    const c = await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: s.users.instructor.token, json: draft(offByOne) });
    assert.equal(c.status, 201, JSON.stringify(c.body));
    exerciseId = c.body.id;
    const p = await api(env, 'POST', `/api/v1/exercises/${exerciseId}/versions`, { token: s.users.instructor.token });
    assert.equal(p.status, 202);
    const v = await decided(exerciseId, 1);
    assert.equal(v.status, 'published', JSON.stringify(v.checks, null, 2));
    assert.deepEqual(v.checks.map((x: { name: string; status: string; verdict: string }) => [x.name, x.status, x.verdict]), [
      ['buggy-off-by-one-read', 'passed', 'fail'],
      ['reference', 'passed', 'pass'],
    ]);
  });

  it('a "buggy" solution that is correct is not caught: rejected, with the broken promise', async () => {
    assert.equal((await api(env, 'PUT', `/api/v1/exercises/${exerciseId}/draft`, { token: s.users.instructor.token, json: draft(reference) })).status, 200);
    const p = await api(env, 'POST', `/api/v1/exercises/${exerciseId}/versions`, { token: s.users.instructor.token });
    assert.equal(p.status, 202);
    const v = await decided(exerciseId, 2);
    assert.equal(v.status, 'rejected');
    const buggy = v.checks.find((x: { name: string }) => x.name === 'buggy-off-by-one-read');
    assert.equal(buggy.status, 'failed');
    assert.ok(buggy.problems.some((m: string) => /verdict is pass, expected fail/.test(m)), buggy.problems.join('\n'));
  });
});
