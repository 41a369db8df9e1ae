// Course operations in the browser (issue 12): Debian's chromium (playwright-core) against the real
// API, PostgreSQL, Redis, a real OpenID Connect provider on loopback (oidc-provider) and the
// worker machinery with a stand-in grader (no VM: test/service/stand-in.ts; the real engine's
// publication is test/service/exercise-publish.test.ts).
//
//   instructor signs in with the provider -> makes and revokes an API token -> writes an exercise
//   (spec, handout, starter file, reference and buggy solution) and publishes it: the solutions
//   are graded, v1 published -> creates an assignment on it and makes a test visible only after
//   grades are published -> student signs in, reads the handout, submits: the hidden test is
//   nowhere on the page, verdict and score withheld -> instructor publishes grades: the student
//   sees the test -> instructor moves the assignment to v2 and sees the before/after table.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { AuthConfig, OidcProviderConfig } from '@kgrader/api';
import { runWorker, startSimilarityLoop, type RunningWorker } from '@kgrader/worker';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { pino } from 'pino';
import { freePort, startApi, testWorkerConfig, waitFor, type TestEnv } from '../service/helpers.js';
import { startIdp, type TestIdp } from '../service/oidc-idp.js';
import { miniDraft, standInGrader } from '../service/stand-in.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = join(REPO, 'test-results', 'screenshots');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

let ctx: TestEnv;
let idp: TestIdp;
let worker: RunningWorker;
let browser: Browser;
let work: string;
let courseId = '';
let exerciseId = '';
let assignmentId = '';
let submissionId = '';

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (err) => console.error('browser page error:', err.message));
  return { context, page };
}

/** The whole OpenID Connect round trip in the browser: kgrader -> the provider's login form -> back, signed in. */
async function ssoSignIn(page: Page, login: string, path = '/app/'): Promise<void> {
  await page.goto(`${ctx.baseUrl}${path}`);
  await page.getByRole('link', { name: 'Sign in with University SSO' }).click();
  await page.waitForURL((u) => u.href.startsWith(idp.issuer));
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any password');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.waitForURL((u) => u.href.startsWith(`${ctx.baseUrl}/app`));
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  assert.ok(existsSync(join(REPO, 'apps/dashboard/dist/web/index.html')), 'the dashboard is not built: npm run build -w @kgrader/dashboard');
  mkdirSync(SHOTS, { recursive: true });
  // the provider must know the API's callback URL before either starts: the port is chosen first
  const port = await freePort();
  idp = await startIdp({ clientId: 'kgrader', clientSecret: 'secret', redirectUris: [`http://127.0.0.1:${port}/auth/callback/uni`] });
  const uni: OidcProviderConfig = { id: 'uni', name: 'University SSO', issuer: idp.issuer, clientId: 'kgrader', clientSecret: 'secret', provision: { emailDomains: ['uni.test'], role: 'user' } };
  const auth: AuthConfig = { providers: [uni], allowInsecure: true, sessionHours: 12 };
  ctx = await startApi('dashboard_ops', { auth }, { port });
  idp.accounts.set('ada', { email: 'ada@uni.test', name: 'Ada Instructor' });
  idp.accounts.set('sam', { email: 'sam@uni.test', name: 'Sam Student' });
  // the course and its people, enrolled by e-mail before they ever sign in
  const course = await ctx.db.course.create({ data: { code: 'os-ops', title: 'Kernel drivers (course ops)' } });
  courseId = course.id;
  for (const [email, name, role] of [['ada@uni.test', 'Ada Instructor', 'instructor'], ['sam@uni.test', 'Sam Student', 'student']] as const) {
    const u = await ctx.db.user.create({ data: { email, name } });
    await ctx.db.membership.create({ data: { userId: u.id, courseId, role } });
  }
  worker = await runWorker({
    config: testWorkerConfig(ctx, { workerId: 'dashboard-ops' }),
    grader: standInGrader(),
    logger: pino({ level: 'silent' }),
  });
  work = mkdtempSync(join(tmpdir(), 'kgrader-ops-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
});

after(async () => {
  await browser?.close().catch(() => {});
  await worker?.shutdown().catch(() => {});
  await idp?.close().catch(() => {});
  await ctx?.close().catch(() => {});
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('course operations in the browser', { concurrency: 1 }, () => {
  it('the instructor signs in with the OpenID Connect provider; the session cookie is out of reach of scripts; a refused sign-in says why', async () => {
    const { context, page } = await newPage();
    await page.goto(`${ctx.baseUrl}/app/`);
    await page.getByTestId('providers').waitFor();
    await shot(page, 'ops-01-sign-in');
    await ssoSignIn(page, 'ada');
    await page.getByRole('heading', { name: 'Your courses' }).waitFor();
    assert.match((await page.getByTestId('who').textContent()) ?? '', /ada@uni\.test/);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'kgr_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.equal(await page.evaluate(() => document.cookie.includes('kgr_session')), false, 'scripts cannot read it');
    assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0, 'no token stored in the page');
    await context.close();

    // someone of another domain: refused, and told why on the sign-in page
    idp.accounts.set('mallory', { email: 'mallory@evil.test' });
    const other = await newPage();
    await ssoSignIn(other.page, 'mallory');
    await other.page.getByText(/Sign-in refused: accounts are not created for evil\.test addresses/).waitFor();
    assert.equal(await ctx.db.user.count({ where: { email: 'mallory@evil.test' } }), 0);
    await other.context.close();
  });

  it('the instructor creates an API token (shown once) and revokes it', async () => {
    const { context, page } = await newPage();
    await ssoSignIn(page, 'ada');
    await page.getByRole('link', { name: 'API tokens' }).click();
    await page.getByRole('heading', { name: 'API tokens' }).waitFor();
    await page.getByLabel('Name').fill('laptop cli');
    await page.getByLabel('Scope').selectOption('read');
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = ((await page.getByTestId('issued-token').locator('code').textContent()) ?? '').trim();
    assert.match(secret, /^kgr_/);
    const me = await fetch(`${ctx.baseUrl}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal(me.status, 200);
    await shot(page, 'ops-02-tokens');
    await page.getByRole('button', { name: /^Revoke laptop cli/ }).click();
    await page.locator('tr[data-revoked=true]').waitFor();
    assert.equal((await fetch(`${ctx.baseUrl}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } })).status, 401);
    await context.close();
  });

  it('the instructor writes an exercise and publishes it: its solutions are graded, version 1 is published', async () => {
    const { context, page } = await newPage();
    await ssoSignIn(page, 'ada', `/app/courses/${courseId}`);
    await page.getByRole('heading', { name: 'Exercises' }).waitFor();
    await page.locator('tr[data-exercise=msgbuf]').waitFor();
    await page.getByRole('link', { name: 'New exercise' }).click();
    const draft = miniDraft({ slug: 'lab-ops' });
    await page.getByLabel(/^Spec \(JSON/).fill(JSON.stringify(draft.spec, null, 2));
    await page.getByLabel('Handout (shown to students)').fill('Write a one-message device at /dev/msgbuf.');
    await page.getByRole('button', { name: 'Add starter file' }).click();
    await page.getByLabel('Starter file name').fill('msgbuf.c');
    await page.getByLabel('Content').fill('// start here\n');
    await page.getByRole('button', { name: 'Add solution' }).click();
    await page.getByRole('button', { name: 'Add solution' }).click();
    const [ref, buggy] = [page.locator('.solution').nth(0), page.locator('.solution').nth(1)];
    await ref.getByLabel('Description').fill('correct');
    await ref.getByLabel('File name').fill('msgbuf.c');
    await ref.getByLabel('Source').fill('int ok;\n');
    await buggy.getByLabel('Solution name').fill('buggy-oob');
    await buggy.getByLabel('Description').fill('reads past the end');
    await buggy.getByLabel('Caught by finding kinds').fill('kasan');
    await buggy.getByLabel('Tests that must fail').fill('write_read');
    await buggy.getByLabel('File name').fill('msgbuf.c');
    await buggy.getByLabel('Source').fill('// 1\n// 2\nint oob; // KASAN:write_read\n');
    // a bad spec first: the reason is shown, nothing is created
    await page.getByLabel(/^Spec \(JSON/).fill('{ not json');
    await page.getByRole('button', { name: 'Create exercise' }).click();
    await page.getByTestId('exercise-error').getByText(/not valid JSON/).waitFor();
    await page.getByLabel(/^Spec \(JSON/).fill(JSON.stringify(draft.spec, null, 2));
    await shot(page, 'ops-03-exercise-editor');
    await page.getByRole('button', { name: 'Create exercise' }).click();
    await page.waitForURL(/\/app\/exercises\/[0-9a-f-]{36}/);
    exerciseId = /exercises\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    await page.getByRole('button', { name: 'Publish a new version' }).click();
    await page.locator('[data-testid=versions] li[data-version="1"][data-status=published]').waitFor({ timeout: 30_000 });
    await page.getByRole('button', { name: 'v1: published' }).click();
    await page.locator('[data-testid=checks] tr[data-check=buggy-oob][data-status=passed]').waitFor();
    await page.locator('[data-testid=checks] tr[data-check=reference][data-status=passed]').waitFor();
    await shot(page, 'ops-04-exercise-published');
    await context.close();
  });

  it('an assignment on it with a test shown only after grades are published; the student never sees it before', async () => {
    const { context, page } = await newPage();
    await ssoSignIn(page, 'ada', `/app/courses/${courseId}/assignments/new`);
    await page.locator('select#a-exercise').waitFor();
    await page.getByLabel('Exercise').selectOption('lab-ops');
    await page.getByLabel('Title').fill('Lab: ops');
    await page.getByLabel('Maximum points').fill('6');
    await page.getByRole('button', { name: 'Create assignment' }).click();
    await page.getByRole('heading', { name: 'Lab: ops' }).waitFor();
    assignmentId = /assignments\/([0-9a-f-]{36})/.exec(page.url())![1]!;
    await page.getByTestId('pinned-version').getByText('1').waitFor();
    await page.getByLabel('Visibility of bad_buffers').selectOption('after_published');
    await page.getByRole('button', { name: 'Save visibility' }).click();
    await waitFor('saved', async () => ((await ctx.db.assignment.findUniqueOrThrow({ where: { id: assignmentId } })).testVisibility as Record<string, string>)['bad_buffers'] === 'after_published');
    await shot(page, 'ops-05-assignment-settings');

    const st = await newPage();
    await ssoSignIn(st.page, 'sam', `/app/assignments/${assignmentId}`);
    await st.page.getByTestId('handout').getByText('Write a one-message device at /dev/msgbuf.').waitFor();
    const file = join(work, 'msgbuf.c');
    writeFileSync(file, '// 1\n// 2\nint mine; // FAIL@2 KASAN@2\n');
    await st.page.getByLabel('Source files (.c, .h) or one .tar.gz').setInputFiles(file);
    await st.page.getByRole('button', { name: 'Submit for grading' }).click();
    await st.page.waitForURL(/\/app\/submissions\/[0-9a-f-]{36}$/);
    submissionId = /submissions\/([0-9a-f-]{36})/.exec(st.page.url())![1]!;
    await st.page.getByTestId('hidden-note').waitFor({ timeout: 30_000 });
    await st.page.locator('[data-testid=summary] [data-status=done]').waitFor();
    await st.page.getByTestId('tests-table').waitFor();
    const text = (await st.page.locator('main').textContent()) ?? '';
    assert.ok(!text.includes('bad_buffers'), 'the hidden test is nowhere on the page');
    assert.equal(await st.page.locator('[data-testid=summary] [data-verdict]').count(), 0, 'no verdict badge');
    assert.match(text, /KASAN: slab-out-of-bounds Read in demo_read/, 'the finding is shown');
    await shot(st.page, 'ops-06-student-hidden-test');

    // the instructor publishes the grades: the student now sees the test and the verdict
    await page.getByRole('button', { name: 'Publish grades' }).click();
    await page.getByTestId('grades-published').getByText(/grades published/).waitFor();
    await st.page.reload();
    await st.page.getByTestId('tests-table').getByText('bad_buffers', { exact: true }).first().waitFor();
    await st.page.locator('[data-testid=summary] [data-verdict=fail]').waitFor();
    assert.equal(await st.page.getByTestId('hidden-note').count(), 0);
    await shot(st.page, 'ops-07-student-after-publish');
    await st.context.close();
    await context.close();
  });

  it('the instructor moves the assignment to a new version and compares the verdicts', async () => {
    // version 2: bad_buffers is worth nothing (published through the API: the editor was tested above)
    const v1 = await ctx.db.exerciseVersion.findFirstOrThrow({ where: { exerciseId, version: 1 } });
    const spec = v1.spec as { tests: { name: string; points: number }[] };
    spec.tests.find((t) => t.name === 'bad_buffers')!.points = 0;
    const ex = await ctx.db.exercise.findUniqueOrThrow({ where: { id: exerciseId } });
    await ctx.db.exercise.update({ where: { id: exerciseId }, data: { draft: { ...(ex.draft as object), spec } } });
    const { context, page } = await newPage();
    await ssoSignIn(page, 'ada', `/app/exercises/${exerciseId}`);
    await page.getByRole('button', { name: 'Publish a new version' }).click();
    await page.locator('[data-testid=versions] li[data-version="2"][data-status=published]').waitFor({ timeout: 30_000 });
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await page.getByLabel('Move to version').selectOption('2');
    await page.getByRole('button', { name: 'Move and regrade' }).click();
    await page.getByTestId('pinned-version').getByText('2').waitFor();
    const row = page.locator('[data-testid=version-move] tbody tr').first();
    await page.locator('[data-testid=version-move] tr[data-changed=true]').waitFor({ timeout: 30_000 });
    assert.match((await row.textContent()) ?? '', /sam@uni\.test/);
    await shot(page, 'ops-08-version-move');
    await context.close();
  });

  it('late work: the instructor sets a penalty policy; a late submission shows its penalty; an extension gives the student their own due date', async () => {
    const { context, page } = await newPage();
    await ssoSignIn(page, 'ada', `/app/assignments/${assignmentId}/edit`);
    const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
    await page.getByLabel('Due at (optional)').fill(local(new Date(Date.now() - 25 * 3_600_000)));
    await page.getByLabel('After the due date').selectOption('penalty');
    await page.getByLabel('Penalty (%)').fill('10');
    await page.getByLabel('Per started').selectOption('day');
    await page.getByLabel('At most (%)').fill('50');
    await page.getByLabel('Accepted until (hours after the due date)').fill('72');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { name: 'Lab: ops' }).waitFor();
    await page.getByText(/late: −10% per day \(max 50%\) until 72 h after/).first().waitFor();

    const st = await newPage();
    await ssoSignIn(st.page, 'sam', `/app/assignments/${assignmentId}`);
    const file = join(work, 'msgbuf.c');
    writeFileSync(file, 'int late_but_fine;\n');
    await st.page.getByLabel('Source files (.c, .h) or one .tar.gz').setInputFiles(file);
    await st.page.getByRole('button', { name: 'Submit for grading' }).click();
    await st.page.waitForURL(/\/app\/submissions\/[0-9a-f-]{36}$/);
    await st.page.locator('[data-testid=summary] [data-status=done]').waitFor({ timeout: 30_000 });
    // the status comes from the live stream first; the score follows with the detail's reload
    await st.page.locator('[data-testid=late]:has-text("→")').waitFor({ timeout: 10_000 });
    const late = (await st.page.getByTestId('late').textContent()) ?? '';
    assert.match(late, /−20%/, late);
    assert.match(late, /4\.8 \/ 6/, 'the score after the penalty');
    await shot(st.page, 'ops-09-student-late');

    await page.getByLabel('Student to extend').selectOption({ label: 'Sam Student (sam@uni.test)' });
    await page.getByLabel('Their due date').fill(local(new Date(Date.now() + 24 * 3_600_000)));
    await page.getByLabel('Reason (optional)').fill('medical');
    await page.getByRole('button', { name: 'Grant extension' }).click();
    await page.locator('[data-testid=extensions] tr[data-user="sam@uni.test"]').waitFor();
    await shot(page, 'ops-10-extensions');
    await st.page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await st.page.getByTestId('your-due').waitFor();
    await st.context.close();
    await context.close();
  });

  it('roster: the instructor previews a CSV import (added, refused), applies it, and the members list shows the new student', async () => {
    const { context, page } = await newPage();
    await ssoSignIn(page, 'ada', `/app/courses/${courseId}`);
    const file = join(work, 'roster.csv');
    writeFileSync(file, 'email,name,role\nkim@uni.test,Kim Student,student\nada@uni.test,Ada,student\nnot-an-address,X,student\n');
    await page.getByLabel('Roster CSV file').setInputFiles(file);
    await page.getByRole('button', { name: 'Preview import' }).click();
    const plan = page.locator('[data-testid=roster-plan][data-dry-run=true]');
    await plan.waitFor();
    assert.equal(await plan.locator('tr[data-kind=add]').count(), 1);
    assert.match((await plan.locator('tr[data-kind=add]').textContent()) ?? '', /kim@uni\.test.*new account|add \(new account\)kim@uni\.test/);
    assert.equal(await plan.locator('tr[data-kind=refused]').count(), 2);
    assert.match((await plan.textContent()) ?? '', /never demotes/);
    assert.equal(await ctx.db.user.count({ where: { email: 'kim@uni.test' } }), 0, 'a preview writes nothing');
    await shot(page, 'ops-11-roster-preview');
    await page.getByRole('button', { name: 'Apply import' }).click();
    await page.locator('[data-testid=roster-plan][data-dry-run=false]').waitFor();
    await page.getByRole('table', { name: 'Course members' }).getByText('kim@uni.test').waitFor();
    const ada = await ctx.db.membership.findFirstOrThrow({ where: { courseId, user: { email: 'ada@uni.test' } } });
    assert.equal(ada.role, 'instructor', 'not demoted');
    await context.close();
  });

  it('similarity: two students hand in the same driver in disguise; the instructor runs a check and sees them side by side; the students cannot', async () => {
    const reference = readFileSync(join(REPO, 'exercises/msgbuf/solutions/reference/msgbuf.c'), 'utf8');
    const disguised = `// all mine\n\n${reference.replace(/\bmsgbuf_/g, 'mb_').replace(/\bmsg\b/g, 'data')}`;
    idp.accounts.set('kim', { email: 'kim@uni.test', name: 'Kim Student' });
    for (const [login, text] of [['sam', reference], ['kim', disguised]] as const) {
      const st = await newPage();
      await ssoSignIn(st.page, login, `/app/assignments/${assignmentId}`);
      const file = join(work, 'msgbuf.c');
      writeFileSync(file, text);
      await st.page.getByLabel('Source files (.c, .h) or one .tar.gz').setInputFiles(file);
      await st.page.getByRole('button', { name: 'Submit for grading' }).click();
      await st.page.waitForURL(/\/app\/submissions\/[0-9a-f-]{36}$/);
      await st.context.close();
    }
    const { context, page } = await newPage();
    await ssoSignIn(page, 'ada', `/app/assignments/${assignmentId}`);
    await page.getByLabel('List pairs from (% similar)').fill('50');
    await page.getByRole('button', { name: 'Run similarity check' }).click();
    // the worker machinery of this test does not run the similarity loop: run it as a worker would
    const loop = startSimilarityLoop({ db: ctx.db, logger: pino({ level: 'silent' }), pollMs: 0 });
    await waitFor('check done', async () => (await loop.runOnce()) > 0 || (await ctx.db.similarityRun.count({ where: { status: 'done' } })) > 0, 30_000);
    await loop.stop();
    await page.locator('[data-testid=similarity-run][data-status=done]').waitFor({ timeout: 20_000 });
    const link = page.getByTestId('similarity-pairs').getByRole('link', { name: /Sam Student ↔ Kim Student|Kim Student ↔ Sam Student/ });
    await link.click();
    await page.getByRole('heading', { name: /% similar: / }).waitFor();
    assert.ok((await page.getByTestId('side-left').locator('.line.hit').count()) > 10, 'matching lines highlighted on the left');
    assert.ok((await page.getByTestId('side-right').locator('.line.hit').count()) > 10, 'and on the right');
    await shot(page, 'ops-12-similarity-pair');
    const pairUrl = page.url();
    await context.close();
    const st = await newPage();
    await ssoSignIn(st.page, 'sam', pairUrl.slice(ctx.baseUrl.length));
    await st.page.getByTestId('forbidden').waitFor();
    assert.equal(await st.page.locator('.line.hit').count(), 0);
    await st.page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await st.page.getByTestId('handout').waitFor();
    assert.equal(await st.page.getByTestId('similarity').count(), 0, 'no similarity section for students');
    await st.context.close();
  });
});
