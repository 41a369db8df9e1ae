// End-to-end: the dashboard in Debian's chromium (driven by playwright-core) against the real API,
// PostgreSQL, Redis and a real grading worker (the engine boots the sanitizer kernel in QEMU).
//
//   instructor creates an assignment -> student uploads a buggy msgbuf driver and watches it grade
//   live -> sees the KASAN finding on the right source line -> instructor sees it in the table,
//   the chart and the CSV -> another student cannot open that submission.
//
// Screenshots of the main views go to test-results/screenshots/ (gitignored).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { hashToken, issueToken } from '@kgrader/api';
import type { Db } from '@kgrader/db';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REDIS_URL, startApi, type TestEnv } from '../service/helpers.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = join(REPO, 'test-results', 'screenshots');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const BUGGY = join(REPO, 'exercises/msgbuf/solutions/buggy-off-by-one-read/msgbuf.c');
const GRADING_TIMEOUT_MS = 6 * 60_000;

let ctx: TestEnv;
let worker: { stop: () => Promise<void> };
let browser: Browser;
let userDataDir: string;
const tokens: Record<'instructor' | 'student1' | 'student2', string> = { instructor: '', student1: '', student2: '' };
let courseId = '';
let assignmentId = '';
let submissionId = '';

/** The real worker process, as `npm start` runs it. */
async function startWorker(c: TestEnv): Promise<{ stop: () => Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [join(REPO, 'apps/worker/dist/src/main.js')], {
    env: {
      ...process.env,
      DATABASE_URL: c.dbUrl,
      REDIS_URL,
      QUEUE_PREFIX: c.prefix,
      WORKER_CONCURRENCY: '1',
      WORKER_ID: `dashboard-test:${process.pid}`,
      MIGRATE_ON_START: 'false',
      LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
      SHUTDOWN_GRACE_MS: '5000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        child.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

async function seed(db: Db): Promise<void> {
  const course = await db.course.create({ data: { code: 'os-dashboard', title: 'Operating systems: kernel drivers' } });
  courseId = course.id;
  const mk = async (key: keyof typeof tokens, email: string, name: string, role: 'student' | 'instructor') => {
    const u = await db.user.create({ data: { email, name, canCreateCourses: role === 'instructor' } });
    await db.membership.create({ data: { userId: u.id, courseId: course.id, role } });
    tokens[key] = (await issueToken(db, { userId: u.id, name: 'e2e', scope: role === 'student' ? 'submit' : 'instructor', issuedById: null })).token;
  };
  await mk('instructor', 'ada@uni.test', 'Ada Instructor', 'instructor');
  await mk('student1', 'sam@uni.test', 'Sam Student', 'student');
  await mk('student2', 'kim@uni.test', 'Kim Student', 'student');
}

async function newPage(viewport = { width: 1366, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (err) => console.error('browser page error:', err.message));
  return { context, page };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${ctx.baseUrl}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your courses' }).waitFor();
}

const shot = (page: Page, name: string, fullPage = true) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage });

const apiGet = async (path: string, token: string) => {
  const res = await fetch(`${ctx.baseUrl}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as any };
};

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  assert.ok(
    existsSync(join(REPO, 'apps/dashboard/dist/web/index.html')),
    'the dashboard is not built: npm run build -w @kgrader/dashboard',
  );
  const svc = spawnSync('bash', [join(REPO, 'scripts/services.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
  assert.equal(svc.status, 0, 'PostgreSQL and Redis must be up (scripts/services.sh)');
  mkdirSync(SHOTS, { recursive: true });
  ctx = await startApi('dashboard', { retry: { attempts: 3, backoffMs: 1000 } });
  await seed(ctx.db);
  worker = await startWorker(ctx);
  userDataDir = mkdtempSync(join(tmpdir(), 'kgrader-chromium-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    // playwright itself passes a fresh temporary --user-data-dir to every launch (it refuses the flag
    // in `args`); pointing TMPDIR-free runs at our own empty folder keeps it out of the system tmp
    tracesDir: userDataDir,
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await worker?.stop().catch(() => {});
  await ctx?.close().catch(() => {});
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

describe('dashboard end to end', { concurrency: 1 }, () => {
  it('serves the app at /app/ with a strict CSP and no secrets in the bundle', async () => {
    const root = await fetch(`${ctx.baseUrl}/`, { redirect: 'manual' });
    assert.equal(root.status, 302);
    assert.equal(root.headers.get('location'), '/app/');
    const deep = await fetch(`${ctx.baseUrl}/app/submissions/00000000-0000-0000-0000-000000000000`);
    assert.equal(deep.status, 200, 'client routes fall back to index.html');
    assert.match(deep.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const html = await deep.text();
    const assets = [...html.matchAll(/(?:src|href)="(\/app\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    assert.ok(assets.length >= 2, 'script and stylesheet');
    for (const a of assets) {
      const res = await fetch(`${ctx.baseUrl}${a}`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('cache-control') ?? '', /immutable/);
      const text = await res.text();
      for (const t of Object.values(tokens)) assert.ok(!text.includes(t), 'no token in the bundle');
      assert.doesNotMatch(text, /postgres(ql)?:\/\/|redis:\/\/|kgr_[A-Za-z0-9_-]{20,}/, 'no connection strings or tokens in the bundle');
    }
    assert.equal((await fetch(`${ctx.baseUrl}/app/assets/..%2f..%2fpackage.json`)).status, 404, 'no path traversal');
    assert.equal((await fetch(`${ctx.baseUrl}/app-api/exercises`)).status, 401);
  });

  it('a bad token is refused at sign-in; a good one signs in by keyboard alone', async () => {
    const { context, page } = await newPage();
    await page.goto(`${ctx.baseUrl}/app/`);
    await shot(page, '01-sign-in', false);
    await page.getByLabel('API token').fill('kgr_not-a-real-token');
    await page.keyboard.press('Enter');
    await page.getByText('This token is unknown, revoked or expired.').waitFor();
    // keyboard only: the skip link is the first stop, the token field is reachable, Enter submits
    await page.reload();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Skip to content');
    // Tab on from the skip link until the token field has the focus (never clicked, never focused by script)
    let tabs = 0;
    while (!(await page.getByLabel('API token').evaluate((el) => el === document.activeElement)) && tabs < 10) {
      await page.keyboard.press('Tab');
      tabs++;
    }
    assert.ok(tabs < 10, 'the token field is reachable with Tab');
    await page.keyboard.type(tokens.instructor);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Your courses' }).waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('kgrader.token')), tokens.instructor, 'token kept in sessionStorage');
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
    await context.close();
  });

  it('a long course title never runs under the role badge on the course list', async () => {
    const ada = await ctx.db.user.findUniqueOrThrow({ where: { email: 'ada@uni.test' } });
    const long = await ctx.db.course.create({ data: { code: 'os-long', title: 'Advanced operating systems: concurrency, interrupts and memory in Linux kernel drivers' } });
    await ctx.db.membership.create({ data: { userId: ada.id, courseId: long.id, role: 'instructor' } });
    try {
      for (const width of [1366, 390]) {
        const { context, page } = await newPage({ width, height: 900 });
        await signIn(page, tokens.instructor);
        const tile = page.locator('.tile', { hasText: 'Advanced operating systems' });
        const title = (await tile.locator('.tile-title').boundingBox())!;
        const badge = (await tile.locator('.role').boundingBox())!;
        const overlap = title.x < badge.x + badge.width && badge.x < title.x + title.width && title.y < badge.y + badge.height && badge.y < title.y + title.height;
        // the title's text box may span the tile, but its text must stop short of the badge: check the text's own rects
        const hits = await tile.locator('.tile-title').evaluate((el, b) => {
          const range = document.createRange();
          range.selectNodeContents(el);
          return Array.from(range.getClientRects() as ArrayLike<DOMRect>).filter((r) => r.left < b.x + b.width && b.x < r.right && r.top < b.y + b.height && b.y < r.bottom).length;
        }, badge);
        assert.equal(hits, 0, `at ${width} px the title's text runs under the badge (boxes overlap: ${overlap})`);
        await context.close();
      }
    } finally {
      await ctx.db.course.delete({ where: { id: long.id } });
    }
  });

  it('the instructor creates an assignment', async () => {
    const { context, page } = await newPage();
    await signIn(page, tokens.instructor);
    await shot(page, '02-instructor-courses', false);
    await page.getByRole('link', { name: /Operating systems: kernel drivers/ }).click();
    await page.getByRole('link', { name: 'New assignment' }).click();
    await page.getByRole('heading', { name: 'New assignment' }).waitFor();
    // the exercise list arrives after the form: until then the field is a plain text input
    await page.locator('select#a-exercise').waitFor();
    await page.getByLabel('Exercise').selectOption('msgbuf');
    await page.getByLabel('Title').fill('Lab 3: msgbuf character device');
    await page.getByLabel('Maximum points').fill('100');
    await page.getByLabel('Submissions per student per window').fill('5');
    await shot(page, '03-instructor-new-assignment');
    await page.getByRole('button', { name: 'Create assignment' }).click();
    await page.getByRole('heading', { name: 'Lab 3: msgbuf character device' }).waitFor();
    const m = /\/app\/assignments\/([0-9a-f-]{36})/.exec(page.url());
    assert.ok(m, page.url());
    assignmentId = m[1]!;
    const a = await apiGet(`/assignments/${assignmentId}`, tokens.instructor);
    assert.equal(a.body.exerciseSlug, 'msgbuf');
    assert.equal(a.body.rateLimitCount, 5);
    assert.equal(a.body.courseId, courseId);
    await page.getByText('No submissions match.').waitFor();
    await context.close();
  });

  it('a student submits a buggy driver, watches it grade live and sees the finding on the right line', { timeout: GRADING_TIMEOUT_MS + 60_000 }, async () => {
    const { context, page } = await newPage();
    await signIn(page, tokens.student1);
    await page.getByRole('link', { name: /Operating systems/ }).click();
    await page.getByRole('link', { name: /Lab 3: msgbuf/ }).click();
    await page.getByRole('heading', { name: 'Submit your driver' }).waitFor();
    await page.getByText('You have not submitted anything yet.').waitFor();
    await page.getByLabel('Source files (.c, .h) or one .tar.gz').setInputFiles(BUGGY);
    await page.getByRole('button', { name: 'Submit for grading' }).click();
    await page.waitForURL(/\/app\/submissions\/[0-9a-f-]{36}$/);
    submissionId = /submissions\/([0-9a-f-]{36})/.exec(page.url())![1]!;

    // live: the stepper moves through the stages while the VM runs
    const progress = page.getByTestId('progress');
    await progress.waitFor();
    const seen = new Set<string>();
    const deadline = Date.now() + GRADING_TIMEOUT_MS;
    let liveShot = false;
    while (Date.now() < deadline) {
      const state = await page.evaluate(() => {
        const cur = document.querySelector('[data-testid=progress] [data-state=current]')?.getAttribute('data-stage') ?? null;
        const status = document.querySelector('[data-testid=summary] [data-status]')?.getAttribute('data-status') ?? null;
        return { cur, status };
      });
      if (state.cur) seen.add(state.cur);
      if (state.status) seen.add(state.status);
      if (!liveShot && (state.cur === 'running' || state.cur === 'booting')) {
        await shot(page, '04-student-grading-live', false);
        liveShot = true;
      }
      if (state.status === 'done' || state.status === 'error') break;
      await page.waitForTimeout(250);
    }
    const stages = [...seen];
    assert.ok(stages.includes('done'), `graded in time (saw ${stages.join(', ')})`);
    assert.ok(stages.some((s) => ['building', 'booting', 'running', 'analyzing'].includes(s)), `saw a live grading stage (saw ${stages.join(', ')})`);

    // the verdict and the finding, explained, next to the student's source line
    await page.locator('[data-testid=summary] [data-verdict=fail]').waitFor();
    const finding = page.locator('[data-testid=finding][data-kind=kasan]').first();
    await finding.waitFor();
    const title = (await finding.locator('h3').textContent()) ?? '';
    const detail = await apiGet(`/submissions/${submissionId}`, tokens.student1);
    assert.equal(detail.status, 200);
    const kasan = detail.body.findings.find((f: any) => f.kind === 'kasan');
    assert.ok(kasan, 'the API stored a KASAN finding');
    assert.equal(title.trim(), kasan.title);
    assert.match(title, /slab-out-of-bounds Read in msgbuf_read/);
    assert.match((await finding.getByTestId('explanation').textContent()) ?? '', /KASAN caught a memory access/);
    const line = kasan.sourceLines[0].line as number;
    const hit = finding.getByTestId('excerpt-hit');
    assert.equal(await hit.getAttribute('data-line'), String(line), 'the excerpt marks the finding’s line');
    const sourceHit = page.getByTestId('source').locator(`[data-line="${line}"]`);
    assert.equal(await sourceHit.getAttribute('data-testid'), 'source-hit', 'the full source marks it too');
    {
      const expected = readFileSync(BUGGY, 'utf8').split('\n')[line - 1]!;
      assert.match(expected, /copy_to_user/, `line ${line} of the buggy driver is the copy_to_user of msgbuf_read`);
      assert.ok(((await hit.textContent()) ?? '').includes(expected.trim()));
    }
    // the student's own frames are highlighted in the stack
    assert.ok((await finding.locator('.frames [data-own=true]').count()) >= 1, 'student frames highlighted');
    assert.match((await finding.locator('.frames [data-own=true]').first().textContent()) ?? '', /msgbuf_read/);
    // visible tests
    assert.ok((await page.getByTestId('tests-table').locator('tbody tr').count()) > 0);
    await shot(page, '05-student-submission-finding');
    // phone width
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await finding.waitFor();
    await shot(page, '06-student-submission-phone');
    await finding.scrollIntoViewIfNeeded();
    await shot(page, '06b-student-finding-phone-viewport', false);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `no horizontal page scroll at phone width (overflow ${overflow}px)`);
    // back to the assignment: the submission is listed with its verdict, and "submit again" is there
    await page.setViewportSize({ width: 1366, height: 900 });
    await page.getByRole('link', { name: 'Submit again' }).click();
    await page.getByTestId('my-submissions').locator('[data-verdict=fail]').waitFor();
    await shot(page, '07-student-assignment');
    await context.close();
  });

  it('the instructor sees it in the table, the detail, the chart and the CSV', async () => {
    assert.ok(submissionId, 'needs the graded submission');
    const { context, page } = await newPage();
    await signIn(page, tokens.instructor);
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    const row = page.locator(`tr[data-submission="${submissionId}"]`);
    await row.waitFor();
    assert.match((await row.textContent()) ?? '', /Sam Student/);
    await row.locator('[data-verdict=fail]').waitFor();
    const detail = await apiGet(`/submissions/${submissionId}`, tokens.instructor);
    assert.match((await row.textContent()) ?? '', new RegExp(escapeRe(detail.body.findings[0].title)));
    await shot(page, '08-instructor-submissions-table');

    // filters: kasan keeps the row, lockdep hides it, the student search finds it
    await page.getByLabel('Finding kind').selectOption('kasan');
    await row.waitFor();
    await page.getByLabel('Finding kind').selectOption('lockdep');
    await page.getByText('No submissions match.').waitFor();
    await page.getByLabel('Finding kind').selectOption('');
    await page.getByLabel('Student', { exact: true }).fill('kim');
    await page.getByText('No submissions match.').waitFor();
    await page.getByLabel('Student', { exact: true }).fill('sam');
    await row.waitFor();
    // sorting by score toggles aria-sort
    await page.getByRole('button', { name: /^Score/ }).click();
    assert.equal(await page.locator('th[aria-sort=descending]').textContent().then((t) => t?.includes('Score')), true);

    // CSV export
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const csvPath = join(SHOTS, 'submissions.csv');
    await download.saveAs(csvPath);
    const csv = readFileSync(csvPath, 'utf8');
    assert.match(csv.split('\r\n')[0]!, /^submission_id,student_name,student_email/);
    assert.ok(csv.includes(submissionId) && csv.includes('sam@uni.test') && csv.includes(',fail,'), csv);

    // the detail: stack, source, searchable console, regrade button
    await row.getByRole('link', { name: 'Sam Student' }).click();
    await page.locator('[data-testid=finding]').first().waitFor();
    await page.getByRole('button', { name: 'Regrade' }).waitFor();
    await page.getByLabel('Search the console').fill('KASAN');
    const matches = (await page.getByTestId('console-matches').textContent()) ?? '';
    assert.match(matches, /^[1-9]\d*\+? matching line/, matches);
    await shot(page, '09-instructor-submission-detail');

    // statistics: the histogram has the student, the top findings chart has the title
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}/stats`);
    await page.getByTestId('histogram').waitFor();
    const bars = await page.locator('[data-testid=histogram] rect[data-count]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-count'))));
    assert.equal(bars.reduce((a, b) => a + b, 0), 1, `one student in the histogram: ${bars}`);
    const top = page.getByTestId('top-findings');
    await top.getByText(detail.body.findings[0].title).waitFor();
    assert.match((await top.textContent()) ?? '', /1 student/);
    await page.getByTestId('pass-rate').waitFor();
    await shot(page, '10-instructor-statistics');
    await page.setViewportSize({ width: 390, height: 844 });
    await shot(page, '11-instructor-statistics-phone');
    await context.close();
  });

  it('regrade-all shows its progress to the end', { timeout: GRADING_TIMEOUT_MS + 60_000 }, async () => {
    const { context, page } = await newPage();
    await signIn(page, tokens.instructor);
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await page.locator(`tr[data-submission="${submissionId}"]`).waitFor();
    await page.getByRole('button', { name: 'Regrade all…' }).click();
    await page.getByRole('button', { name: 'Yes, regrade' }).click();
    const progress = page.getByTestId('regrade-progress');
    await progress.getByText(/0 of 1 regraded/).waitFor();
    await shot(page, '12-instructor-regrade-progress', false);
    await progress.getByText('1 of 1 regraded — done').waitFor({ timeout: GRADING_TIMEOUT_MS });
    await context.close();
  });

  it("a student cannot open another student's submission", async () => {
    const { context, page } = await newPage();
    await signIn(page, tokens.student2);
    await page.goto(`${ctx.baseUrl}/app/submissions/${submissionId}`);
    await page.getByTestId('forbidden').waitFor();
    assert.match((await page.getByTestId('forbidden').textContent()) ?? '', /Access denied/);
    assert.equal(await page.locator('[data-testid=source]').count(), 0, 'no source shown');
    await shot(page, '13-student2-forbidden', false);
    // and the assignment page lists only their own (none)
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await page.getByText('You have not submitted anything yet.').waitFor();
    // nor can they reach the instructor's statistics
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}/stats`);
    await page.getByTestId('forbidden').waitFor();
    await context.close();
  });
  it("an LTI launch's one-time code signs the student in on the assignment, once", async () => {
    // what POST /lti/launch leaves behind (the launch itself is tested in test/service/lms-lti)
    const student = await ctx.db.user.findUniqueOrThrow({ where: { email: 'kim@uni.test' } });
    const code = randomBytes(32).toString('base64url');
    await ctx.db.ltiSessionHandoff.create({
      data: { codeHash: hashToken(code), userId: student.id, courseId, assignmentId, expiresAt: new Date(Date.now() + 120_000) },
    });
    const { context, page } = await newPage();
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}#lti_session=${code}`);
    await page.getByRole('heading', { name: 'Submit your driver' }).waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the code leaves the address bar at once');
    assert.match((await page.getByRole('banner').textContent()) ?? '', /Kim Student/);
    // the code is spent: a second landing with it does not sign in
    const second = await newPage();
    await second.page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}#lti_session=${code}`);
    await second.page.getByText(/already used or expired/).waitFor();
    await second.context.close();
    await context.close();
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
