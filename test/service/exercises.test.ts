// Exercise authoring and versions (issue 12, item 1) against the real PostgreSQL and Redis, with
// the real worker process machinery and a stand-in grader (no VM; the real-engine publication is
// exercise-publish.test.ts): seeding the shipped exercises, drafts and their validation, who may
// do what, immutable versions, publishing through the low-priority lane (published / rejected),
// assignments pinning a version and the worker grading against the database's spec, version moves
// with the verdicts before and after, the students' handout.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seedShippedExercises } from '@kgrader/api';
import { PRIORITY, solutionCheckJobId } from '@kgrader/db';
import { reconcile, runWorker, type RunningWorker, type WorkerConfig } from '@kgrader/worker';
import { pino } from 'pino';
import { api, seed, startApi, submit, waitFor, type Seed, type TestEnv, testWorkerConfig } from './helpers.js';
import { miniDraft, standInGrader } from './stand-in.js';

const logger = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });

describe('exercise authoring and versions', { timeout: 180_000 }, () => {
  let env: TestEnv;
  let s: Seed;
  let worker: RunningWorker | null = null;
  const grader = standInGrader();
  const config = (): WorkerConfig => testWorkerConfig(env, {
    workerId: 'exercises-test',
  });
  const T = () => ({ instructor: s.users.instructor.token, student: s.users.student1.token, other: s.users.otherInstructor.token, admin: s.users.admin.token });
  let exerciseId = '';

  before(async () => {
    env = await startApi('exercises');
    s = await seed(env.db);
  });
  after(async () => {
    await worker?.shutdown();
    await env?.close();
  });

  it("issue 12's endpoints are in the OpenAPI document", async () => {
    const doc = await api(env, 'GET', '/docs/json');
    const paths = Object.keys(doc.body.paths);
    for (const p of [
      '/api/v1/courses/{courseId}/exercises',
      '/api/v1/exercises/{exerciseId}/draft',
      '/api/v1/exercises/{exerciseId}/versions',
      '/api/v1/exercises/{exerciseId}/versions/{version}',
      '/api/v1/assignments/{assignmentId}/exercise-version',
      '/api/v1/assignments/{assignmentId}/version-moves/{moveId}',
      '/api/v1/assignments/{assignmentId}/handout',
      '/auth/login/{providerId}',
      '/auth/callback/{providerId}',
      '/api/v1/me/session',
      '/api/v1/assignments/{assignmentId}/extensions/{userId}',
      '/api/v1/courses/{courseId}/roster/import',
      '/api/v1/courses/{courseId}/roster/lti-sync',
      '/api/v1/assignments/{assignmentId}/similarity/{runId}/pairs/{pairId}',
    ]) {
      assert.ok(paths.includes(p), `${p} is documented`);
    }
    assert.ok(doc.body.components.schemas.ExerciseVersion && doc.body.components.schemas.RosterPlan && doc.body.components.schemas.SimilarityPair);
  });

  it('the shipped exercises are seeded once as published version 1; assignments without a version are pinned to it', async () => {
    const rows = await env.db.exerciseVersion.findMany({ include: { exercise: true }, orderBy: { exercise: { slug: 'asc' } } });
    assert.deepEqual(rows.map((r) => [r.exercise.slug, r.version, r.status, r.origin, r.exercise.courseId]), [
      ['chardev-generic', 1, 'published', 'seed', null],
      ['msgbuf', 1, 'published', 'seed', null],
      ['ticker', 1, 'published', 'seed', null],
    ]);
    const msgbuf = rows.find((r) => r.exercise.slug === 'msgbuf')!;
    assert.ok((msgbuf.solutions as unknown[]).length >= 10, 'the shipped solutions are stored with the version');
    // the seed() assignments were written straight into the database, unpinned: seeding again pins them, and adds nothing
    assert.equal((await env.db.assignment.findUniqueOrThrow({ where: { id: s.assignmentId } })).exerciseVersionId, null);
    const again = await seedShippedExercises(env.db, { exercisesDir: env.deps.config.exercisesDir });
    assert.deepEqual(again, { seeded: [], changed: [] });
    assert.equal(await env.db.exerciseVersion.count(), 3);
    assert.equal((await env.db.assignment.findUniqueOrThrow({ where: { id: s.assignmentId } })).exerciseVersionId, msgbuf.id);
    const a = await api(env, 'GET', `/api/v1/assignments/${s.assignmentId}`, { token: T().student });
    assert.equal(a.body.exerciseVersion, 1);
  });

  it('an instructor creates an exercise from a valid draft; invalid drafts are refused with the reason and nothing is stored', async () => {
    const bad = miniDraft();
    (bad.spec.tests as { kind: string }[])[0]!.kind = 'write_read'; // the first test must be a load
    const r1 = await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor, json: bad });
    assert.equal(r1.status, 400);
    assert.match(r1.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.ok(r1.body.errors.some((e: { message: string }) => /first test must be of kind load/.test(e.message)), JSON.stringify(r1.body));
    const bad2 = miniDraft();
    (bad2.solutions![1]!.expectation as { failingTests: string[] }).failingTests = ['no_such_test'];
    const r2 = await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor, json: bad2 });
    assert.equal(r2.status, 400);
    assert.ok(r2.body.errors.some((e: { message: string }) => /no test named no_such_test/.test(e.message)));
    const bad3 = miniDraft();
    bad3.solutions![0]!.files[0]!.name = '../escape.c';
    assert.equal((await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor, json: bad3 })).status, 400);
    // an authored spec cannot ask the shared graders for hours of VM time or a huge console
    const greedy = miniDraft();
    (greedy.spec as { limits?: object }).limits = { vmTimeoutSeconds: 100_000, consoleBytes: 1024 * 1024 * 1024 };
    const r4 = await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor, json: greedy });
    assert.equal(r4.status, 400);
    assert.deepEqual(r4.body.errors.map((e: { message: string }) => e.message).sort(), ['at most 8388608 for an authored exercise', 'at most 900 for an authored exercise']);
    assert.equal(await env.db.exercise.count({ where: { courseId: s.courseId } }), 0, 'nothing stored');

    const ok = await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor, json: miniDraft() });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    exerciseId = ok.body.id;
    assert.equal(ok.body.slug, 'mini-msgbuf');
    assert.equal(ok.body.latestPublished, null);
    assert.equal(ok.body.draft.handout, '# mini msgbuf\n\nWrite `/dev/msgbuf`.');
    const dup = await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor, json: miniDraft() });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.type, '/problems/exercise-slug-taken');
    const shipped = await api(env, 'POST', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor, json: miniDraft({ slug: 'msgbuf' }) });
    assert.equal(shipped.status, 409, 'a course cannot take over a shipped slug');
    // the slug of a draft cannot change
    const rename = await api(env, 'PUT', `/api/v1/exercises/${exerciseId}/draft`, { token: T().instructor, json: miniDraft({ slug: 'renamed' }) });
    assert.equal(rename.status, 422);
    const list = await api(env, 'GET', `/api/v1/courses/${s.courseId}/exercises`, { token: T().instructor });
    assert.deepEqual(list.body.map((e: { slug: string }) => e.slug), ['chardev-generic', 'mini-msgbuf', 'msgbuf', 'ticker']);
    const otherList = await api(env, 'GET', `/api/v1/courses/${s.otherCourseId}/exercises`, { token: T().other });
    assert.deepEqual(otherList.body.map((e: { slug: string }) => e.slug), ['chardev-generic', 'msgbuf', 'ticker'], "another course does not see this course's exercises");
  });

  it("students and other courses' instructors cannot read or change an exercise; shipped exercises are read by instructors and changed by admins only", async () => {
    for (const [token, path, method, json] of [
      [T().student, `/api/v1/exercises/${exerciseId}`, 'GET', undefined],
      [T().student, `/api/v1/courses/${s.courseId}/exercises`, 'GET', undefined],
      [T().other, `/api/v1/exercises/${exerciseId}`, 'GET', undefined],
      [T().other, `/api/v1/exercises/${exerciseId}/draft`, 'PUT', miniDraft()],
      [T().other, `/api/v1/exercises/${exerciseId}/versions`, 'POST', undefined],
      [T().other, `/api/v1/courses/${s.courseId}/exercises`, 'POST', miniDraft({ slug: 'sneaky' })],
    ] as const) {
      const r = await api(env, method, path, { token, ...(json ? { json } : {}) });
      assert.equal(r.status, 403, `${method} ${path}: ${r.status}`);
    }
    const msgbuf = await env.db.exercise.findUniqueOrThrow({ where: { slug: 'msgbuf' } });
    assert.equal((await api(env, 'GET', `/api/v1/exercises/${msgbuf.id}`, { token: T().other })).status, 200);
    assert.equal((await api(env, 'GET', `/api/v1/exercises/${msgbuf.id}`, { token: T().student })).status, 403, 'students do not read specs (hidden tests)');
    const v1 = await api(env, 'GET', `/api/v1/exercises/${msgbuf.id}/versions/1`, { token: T().instructor });
    assert.equal(v1.status, 200);
    const put = await api(env, 'PUT', `/api/v1/exercises/${msgbuf.id}/draft`, { token: T().instructor, json: v1.body });
    assert.equal(put.status, 403);
    assert.equal((await api(env, 'POST', `/api/v1/exercises/${msgbuf.id}/versions`, { token: T().instructor })).status, 403);
    assert.equal((await api(env, 'PUT', `/api/v1/exercises/${msgbuf.id}/draft`, { token: T().admin, json: { spec: v1.body.spec, handout: v1.body.handout, starterFiles: [], solutions: v1.body.solutions } })).status, 200);
    assert.equal((await api(env, 'GET', `/api/v1/exercises/00000000-0000-4000-8000-000000000000`, { token: T().instructor })).status, 404);
  });

  it('publishing without a reference solution is refused; publishing queues one check per solution in the low-priority lane', async () => {
    const noRef = miniDraft();
    noRef.solutions = noRef.solutions!.slice(1);
    assert.equal((await api(env, 'PUT', `/api/v1/exercises/${exerciseId}/draft`, { token: T().instructor, json: noRef })).status, 200);
    const refused = await api(env, 'POST', `/api/v1/exercises/${exerciseId}/versions`, { token: T().instructor });
    assert.equal(refused.status, 422);
    assert.equal(refused.body.type, '/problems/exercise-no-reference');
    assert.equal(await env.db.exerciseVersion.count({ where: { exerciseId } }), 0);

    assert.equal((await api(env, 'PUT', `/api/v1/exercises/${exerciseId}/draft`, { token: T().instructor, json: miniDraft() })).status, 200);
    const pub = await api(env, 'POST', `/api/v1/exercises/${exerciseId}/versions`, { token: T().instructor });
    assert.equal(pub.status, 202, JSON.stringify(pub.body));
    assert.equal(pub.body.version, 1);
    assert.equal(pub.body.status, 'checking');
    assert.deepEqual(pub.body.checks.map((c: { name: string; status: string }) => [c.name, c.status]), [['buggy-oob', 'queued'], ['reference', 'queued']]);
    const checks = await env.db.solutionCheck.findMany({ where: { version: { exerciseId } } });
    for (const c of checks) {
      const job = await env.deps.queue.getJob(solutionCheckJobId(c.id));
      assert.ok(job, 'a job per check');
      assert.equal(job.opts.priority, PRIORITY.bulk_regrade, 'the low-priority lane: live submissions go first');
    }
    // unchanged draft while checking: nothing new
    const again = await api(env, 'POST', `/api/v1/exercises/${exerciseId}/versions`, { token: T().instructor });
    assert.equal(again.status, 409);
    // an assignment cannot pin a version that is not published
    const early = await api(env, 'POST', `/api/v1/courses/${s.courseId}/assignments`, { token: T().instructor, json: { exerciseSlug: 'mini-msgbuf', title: 'early' } });
    assert.equal(early.status, 422);
    assert.equal(early.body.type, '/problems/exercise-version-unavailable');
  });

  it('the worker grades each solution; the version is published when the reference passes and the buggy solution is caught', async () => {
    worker = await runWorker({ config: config(), grader, logger });
    const v = await waitFor('version decided', async () => {
      const r = await api(env, 'GET', `/api/v1/exercises/${exerciseId}/versions/1`, { token: T().instructor });
      return r.body.status !== 'checking' && r.body;
    }, 30_000);
    assert.equal(v.status, 'published', JSON.stringify(v.checks));
    assert.deepEqual(v.checks.map((c: { name: string; status: string; problems: string[] }) => [c.name, c.status, c.problems]), [['buggy-oob', 'passed', []], ['reference', 'passed', []]]);
    assert.ok(grader.calls.every((c) => c.exercise.slug === 'mini-msgbuf'), 'graded against the version spec');
  });

  it('a version whose buggy solution is not caught is rejected, with the broken promise', async () => {
    const draft = miniDraft({ buggyText: 'int looks_fine;\n', points: 3 });
    assert.equal((await api(env, 'PUT', `/api/v1/exercises/${exerciseId}/draft`, { token: T().instructor, json: draft })).status, 200);
    const pub = await api(env, 'POST', `/api/v1/exercises/${exerciseId}/versions`, { token: T().instructor });
    assert.equal(pub.status, 202);
    assert.equal(pub.body.version, 2);
    const v = await waitFor('version 2 decided', async () => {
      const r = await api(env, 'GET', `/api/v1/exercises/${exerciseId}/versions/2`, { token: T().instructor });
      return r.body.status !== 'checking' && r.body;
    }, 30_000);
    assert.equal(v.status, 'rejected');
    const buggy = v.checks.find((c: { name: string }) => c.name === 'buggy-oob');
    assert.equal(buggy.status, 'failed');
    assert.ok(buggy.problems.some((p: string) => /verdict is pass, expected fail/.test(p)), buggy.problems.join('; '));
    assert.ok(buggy.problems.some((p: string) => /expected a finding of kind kasan/.test(p)));
    const ex = await api(env, 'GET', `/api/v1/exercises/${exerciseId}`, { token: T().instructor });
    assert.equal(ex.body.latestPublished, 1, 'a rejected version is never the default');
    const pin = await api(env, 'POST', `/api/v1/courses/${s.courseId}/assignments`, { token: T().instructor, json: { exerciseSlug: 'mini-msgbuf', title: 'rejected', exerciseVersion: 2 } });
    assert.equal(pin.status, 422);
  });

  it('versions are immutable in the database', async () => {
    const v1 = await env.db.exerciseVersion.findFirstOrThrow({ where: { exerciseId, version: 1 } });
    await assert.rejects(env.db.$executeRaw`UPDATE "ExerciseVersion" SET handout = 'changed' WHERE id = ${v1.id}::uuid`, /immutable/);
    await assert.rejects(env.db.$executeRaw`UPDATE "ExerciseVersion" SET spec = '{}'::jsonb WHERE id = ${v1.id}::uuid`, /immutable/);
    await assert.rejects(env.db.$executeRaw`UPDATE "ExerciseVersion" SET status = 'rejected' WHERE id = ${v1.id}::uuid`, /already decided/);
    assert.equal((await env.db.exerciseVersion.findUniqueOrThrow({ where: { id: v1.id } })).handout, '# mini msgbuf\n\nWrite `/dev/msgbuf`.');
  });

  let assignmentId = '';
  it('an assignment pins the published version; the worker grades against the spec in the database; the student reads the handout', async () => {
    const a = await api(env, 'POST', `/api/v1/courses/${s.courseId}/assignments`, { token: T().instructor, json: { exerciseSlug: 'mini-msgbuf', title: 'Mini', maxPoints: 6 } });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    assert.equal(a.body.exerciseVersion, 1);
    assignmentId = a.body.id;
    // another course cannot use this course's exercise
    const foreign = await api(env, 'POST', `/api/v1/courses/${s.otherCourseId}/assignments`, { token: T().other, json: { exerciseSlug: 'mini-msgbuf', title: 'x' } });
    assert.equal(foreign.status, 422);

    const h = await api(env, 'GET', `/api/v1/assignments/${assignmentId}/handout`, { token: T().student });
    assert.equal(h.status, 200);
    assert.equal(h.body.version, 1);
    assert.match(h.body.handout, /Write `\/dev\/msgbuf`/);
    assert.deepEqual(h.body.starterFiles, [{ name: 'msgbuf.c', content: '// your driver here\n' }]);
    assert.equal((await api(env, 'GET', `/api/v1/assignments/${assignmentId}/handout`, { token: T().other })).status, 403);

    grader.calls.length = 0;
    for (const [who, text] of [['student1', 'int a; // FAIL:bad_buffers\n'], ['student2', 'int b;\n']] as const) {
      const r = await submit(env, assignmentId, s.users[who].token, [{ name: 'msgbuf.c', content: text }]);
      assert.equal(r.status, 202);
    }
    await waitFor('both graded', async () => (await env.db.submission.count({ where: { assignmentId, status: 'done' } })) === 2, 30_000);
    assert.equal(grader.calls.length, 2);
    for (const c of grader.calls) {
      assert.equal(c.exercise.slug, 'mini-msgbuf', 'an exercise that exists only in the database');
      assert.deepEqual(c.exercise.tests.map((t) => [t.name, t.points]), [['load', 1], ['write_read', 2], ['bad_buffers', 2], ['unload', 1]]);
    }
    const runs = await env.db.gradingRun.findMany({ where: { submission: { assignmentId } } });
    const v1 = await env.db.exerciseVersion.findFirstOrThrow({ where: { exerciseId, version: 1 } });
    assert.ok(runs.every((r) => r.exerciseVersionId === v1.id), 'each run records the version it graded against');
  });

  it('moving the assignment to a newer version regrades the latest submissions in the low-priority lane and compares the verdicts', async () => {
    // version 3: the reference and buggy solution as in version 1, bad_buffers worth nothing
    const draft = miniDraft();
    (draft.spec.tests as { name: string; points: number }[])[2]!.points = 0;
    assert.equal((await api(env, 'PUT', `/api/v1/exercises/${exerciseId}/draft`, { token: T().instructor, json: draft })).status, 200);
    assert.equal((await api(env, 'POST', `/api/v1/exercises/${exerciseId}/versions`, { token: T().instructor })).body.version, 3);
    await waitFor('version 3 published', async () => (await env.db.exerciseVersion.findFirst({ where: { exerciseId, version: 3, status: 'published' } })) ?? null, 30_000);

    assert.equal((await api(env, 'POST', `/api/v1/assignments/${assignmentId}/exercise-version`, { token: T().student, json: { version: 3 } })).status, 403);
    assert.equal((await api(env, 'POST', `/api/v1/assignments/${assignmentId}/exercise-version`, { token: T().instructor, json: { version: 2 } })).status, 422, 'rejected version');
    assert.equal((await api(env, 'POST', `/api/v1/assignments/${assignmentId}/exercise-version`, { token: T().instructor, json: { version: 1 } })).status, 409, 'already there');
    const before = await env.db.submission.findMany({ where: { assignmentId }, include: { user: true }, orderBy: { user: { email: 'asc' } } });
    assert.deepEqual(before.map((b) => [b.user.email, b.verdict, b.score]), [['student1@t.test', 'fail', 4], ['student2@t.test', 'pass', 6]]);

    const mv = await api(env, 'POST', `/api/v1/assignments/${assignmentId}/exercise-version`, { token: T().instructor, json: { version: 3 } });
    assert.equal(mv.status, 202, JSON.stringify(mv.body));
    assert.equal(mv.body.fromVersion, 1);
    assert.equal(mv.body.toVersion, 3);
    assert.equal(mv.body.total, 2);
    assert.equal((await api(env, 'GET', `/api/v1/assignments/${assignmentId}`, { token: T().student })).body.exerciseVersion, 3);
    const moved = await env.db.submission.findMany({ where: { assignmentId } });
    assert.ok(moved.every((m) => m.reason === 'bulk_regrade'), 'regraded in the bulk lane');
    const done = await waitFor('regrades compared', async () => {
      const r = await api(env, 'GET', `/api/v1/assignments/${assignmentId}/version-moves/${mv.body.id}`, { token: T().instructor });
      return r.body.done === 2 && r.body;
    }, 30_000);
    assert.deepEqual(
      done.rows.map((r: { userEmail: string; before: { verdict: string; score: number }; after: { verdict: string; score: number }; changed: boolean }) => [r.userEmail, r.before.verdict, r.before.score, r.after.verdict, r.after.score, r.changed]),
      [
        // bad_buffers still fails for student1 (it is worth 0 now: 6 of 6 points, still fail)
        ['student1@t.test', 'fail', 4, 'fail', 6, true],
        ['student2@t.test', 'pass', 6, 'pass', 6, false],
      ],
    );
    const list = await api(env, 'GET', `/api/v1/assignments/${assignmentId}/version-moves`, { token: T().instructor });
    assert.equal(list.body.length, 1);
    assert.equal((await api(env, 'GET', `/api/v1/assignments/${assignmentId}/version-moves`, { token: T().student })).status, 403);
    assert.equal((await api(env, 'GET', `/api/v1/assignments/${s.otherAssignmentId}/version-moves/${mv.body.id}`, { token: T().other })).status, 404, "another assignment's move");
    const v3 = await env.db.exerciseVersion.findFirstOrThrow({ where: { exerciseId, version: 3 } });
    const last = await env.db.gradingRun.findMany({ where: { submission: { assignmentId }, reason: 'bulk_regrade' } });
    assert.ok(last.length === 2 && last.every((r) => r.exerciseVersionId === v3.id));
  });

  it('a solution check left without a job (Redis lost it) is enqueued again by the reconciler', async () => {
    const ex = await env.db.exercise.findUniqueOrThrow({ where: { slug: 'mini-msgbuf' } });
    const v = await env.db.exerciseVersion.create({
      data: { exerciseId: ex.id, version: 99, spec: {}, handout: '', starterFiles: [], solutions: [], contentHash: 'lost', checks: { create: [{ name: 'reference', problems: [] }] } },
      include: { checks: true },
    });
    const check = v.checks[0]!;
    await env.db.$executeRaw`UPDATE "SolutionCheck" SET "createdAt" = now() - interval '1 hour' WHERE id = ${check.id}::uuid`;
    assert.equal(await env.deps.queue.getJob(solutionCheckJobId(check.id)), undefined);
    await worker?.shutdown(); // nobody takes the job while we look at it
    worker = null;
    const r = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: { attempts: 2, backoffMs: 50 }, queuedGraceSeconds: 60, heartbeatStaleSeconds: 45 });
    assert.ok(r.requeued.includes(check.id), JSON.stringify(r));
    const job = await env.deps.queue.getJob(solutionCheckJobId(check.id));
    assert.equal(job?.name, 'check');
    assert.equal(job?.opts.priority, PRIORITY.bulk_regrade);
    const again = await reconcile({ db: env.db, redis: env.redis, queue: env.deps.queue, retry: { attempts: 2, backoffMs: 50 }, queuedGraceSeconds: 60, heartbeatStaleSeconds: 45 });
    assert.ok(!again.requeued.includes(check.id), 'a live job is left alone');
  });
});
