// The instructors' submissions table in the browser (issue 13, item 6): Debian's chromium
// (playwright-core) against the real API, PostgreSQL and Redis, 250 submissions seeded straight
// into the database (no grading, no VM). The table asks the server for one page of 25 at a time
// (every list request is watched), pages forward and back, sorts on the server, filters by
// student, and changes a row in place when the worker-side event of its status or verdict is
// published (recordSubmissionEvent on the worker's kind of Redis connection), without reloading
// the page or the list; a new submission appears on the first page by itself.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { issueToken } from '@kgrader/api';
import { createRedis, recordSubmissionEvent } from '@kgrader/db';
import type { Redis } from 'ioredis';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { REDIS_URL, startApi, submit, type TestEnv } from '../service/helpers.js';
import { expectedOrder, seedSubmissions, type SeededSubmission } from '../service/list-fixtures.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = join(REPO, 'test-results', 'screenshots');
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const COUNT = 250;
const PAGE = 25;

let ctx: TestEnv;
let browser: Browser;
let workerRedis: Redis;
let rows: SeededSubmission[];
let assignmentId = '';
const tokens = { instructor: '', student: '' };

interface ListRequest {
  limit: number;
  cursor: string | null;
  sort: string | null;
  dir: string | null;
  q: string | null;
}

/** A signed-in instructor's page that records every request for the submission list. */
async function instructorPage(): Promise<{ context: BrowserContext; page: Page; lists: ListRequest[] }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (err) => console.error('browser page error:', err.message));
  const lists: ListRequest[] = [];
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (u.pathname === `/api/v1/assignments/${assignmentId}/submissions` && req.method() === 'GET') {
      const p = u.searchParams;
      lists.push({ limit: Number(p.get('limit')), cursor: p.get('cursor'), sort: p.get('sort'), dir: p.get('dir'), q: p.get('q') });
    }
  });
  await page.goto(`${ctx.baseUrl}/`);
  await page.getByLabel('API token').fill(tokens.instructor);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Your courses' }).waitFor();
  return { context, page, lists };
}

const shownIds = (page: Page) => page.locator('[data-testid=submissions-table] tbody tr[data-submission]').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-submission')!));

/** waits until the table shows exactly these rows, in this order */
async function waitForRows(page: Page, ids: string[], what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  let got: string[] = [];
  while (Date.now() < deadline) {
    got = await shownIds(page);
    if (got.length === ids.length && got.every((id, i) => id === ids[i])) return;
    await page.waitForTimeout(100);
  }
  assert.deepEqual(got, ids, what);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
  assert.ok(existsSync(join(REPO, 'apps/dashboard/dist/web/index.html')), 'the dashboard is not built: npm run build -w @kgrader/dashboard');
  mkdirSync(SHOTS, { recursive: true });
  ctx = await startApi('dashboard_table');
  const course = await ctx.db.course.create({ data: { code: 'os-table', title: 'Kernel drivers (table)' } });
  const ada = await ctx.db.user.create({ data: { email: 'ada@uni.test', name: 'Ada Instructor' } });
  await ctx.db.membership.create({ data: { userId: ada.id, courseId: course.id, role: 'instructor' } });
  tokens.instructor = (await issueToken(ctx.db, { userId: ada.id, name: 'e2e', scope: 'instructor', issuedById: null })).token;
  const sam = await ctx.db.user.create({ data: { email: 'sam@uni.test', name: 'Sam Newcomer' } });
  await ctx.db.membership.create({ data: { userId: sam.id, courseId: course.id, role: 'student' } });
  tokens.student = (await issueToken(ctx.db, { userId: sam.id, name: 'e2e', scope: 'submit', issuedById: null })).token;
  const a = await ctx.db.assignment.create({ data: { courseId: course.id, exerciseSlug: 'msgbuf', title: 'Lab 4: paging', rateLimitCount: 100 } });
  assignmentId = a.id;
  rows = await seedSubmissions(ctx.db, { courseId: course.id, assignmentId, students: 30, count: COUNT });
  workerRedis = createRedis(REDIS_URL);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
});

after(async () => {
  await browser?.close().catch(() => {});
  workerRedis?.disconnect();
  await ctx?.close().catch(() => {});
});

describe('the submissions table pages, sorts and updates live', { concurrency: 1 }, () => {
  it('shows page 1 of 250 from one page of 25, pages forward and back on cursors', async () => {
    const { context, page, lists } = await instructorPage();
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    const newest = expectedOrder(rows, 'createdAt', 'desc');
    await waitForRows(page, newest.slice(0, PAGE), 'page 1: the 25 newest');
    await page.getByTestId('row-count').getByText(`${COUNT} submissions`).waitFor();
    assert.equal((await page.getByTestId('page-of').textContent())?.trim(), `Page 1 of ${COUNT / PAGE}`);
    await page.locator('[data-testid=row-count][data-live=on]').waitFor();
    await page.waitForTimeout(500);
    // never the whole list: every request is one page of 25, none follows a cursor
    assert.ok(lists.length >= 1 && lists.length <= 3, `list requests: ${JSON.stringify(lists)}`);
    assert.ok(lists.every((l) => l.limit === PAGE && l.cursor === null), JSON.stringify(lists));
    await page.screenshot({ path: join(SHOTS, 'table-01-page-1.png'), fullPage: true });

    await page.getByRole('button', { name: 'Next →' }).click();
    await waitForRows(page, newest.slice(PAGE, 2 * PAGE), 'page 2');
    assert.equal((await page.getByTestId('page-of').textContent())?.trim(), `Page 2 of ${COUNT / PAGE}`);
    assert.ok(lists.at(-1)!.cursor, 'page 2 comes from a cursor');
    await page.getByRole('button', { name: 'Next →' }).click();
    await waitForRows(page, newest.slice(2 * PAGE, 3 * PAGE), 'page 3');
    await page.getByRole('button', { name: '← Previous' }).click();
    await waitForRows(page, newest.slice(PAGE, 2 * PAGE), 'back to page 2');
    await page.getByRole('button', { name: '← Previous' }).click();
    await waitForRows(page, newest.slice(0, PAGE), 'back to page 1');
    assert.ok(await page.getByRole('button', { name: '← Previous' }).isDisabled());
    assert.ok(lists.every((l) => l.limit === PAGE), 'pages of 25 only');
    await context.close();
  });

  it('sorts on the server (score both ways, then student), paging in that order; filters by student on the server', async () => {
    const { context, page, lists } = await instructorPage();
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await page.locator('[data-testid=row-count][data-live=on]').waitFor();
    await page.getByRole('button', { name: /^Score/ }).click();
    assert.equal(await page.locator('th[aria-sort=descending]').textContent().then((t) => t?.includes('Score')), true);
    const byScoreDesc = expectedOrder(rows, 'score', 'desc');
    await waitForRows(page, byScoreDesc.slice(0, PAGE), 'score, highest first');
    await page.getByRole('button', { name: /^Score/ }).click();
    const byScoreAsc = expectedOrder(rows, 'score', 'asc');
    await waitForRows(page, byScoreAsc.slice(0, PAGE), 'score, lowest first');
    await page.getByRole('button', { name: 'Next →' }).click();
    await waitForRows(page, byScoreAsc.slice(PAGE, 2 * PAGE), 'score, lowest first, page 2 (ties across the page boundary)');
    assert.deepEqual({ sort: lists.at(-1)!.sort, dir: lists.at(-1)!.dir }, { sort: 'score', dir: 'asc' });
    await page.getByRole('button', { name: /^Student/ }).click();
    await waitForRows(page, expectedOrder(rows, 'student', 'desc').slice(0, PAGE), 'student, Z to A, from page 1 again');
    assert.equal((await page.getByTestId('page-of').textContent())?.trim(), `Page 1 of ${COUNT / PAGE}`);

    const bobs = rows.filter((r) => r.name.startsWith('Bob'));
    await page.getByLabel('Student', { exact: true }).fill('bob');
    await page.getByTestId('row-count').getByText(`${bobs.length} submissions`).waitFor();
    await waitForRows(page, expectedOrder(bobs, 'student', 'desc').slice(0, PAGE), "Bob's submissions");
    assert.equal(lists.at(-1)!.q, 'bob', 'the filter is the server’s');
    assert.ok(lists.every((l) => l.limit === PAGE));
    // the export is every matching row (fetched on demand), in the table's order
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    const csv = readFileSync((await download.path())!, 'utf8').trim().split('\r\n');
    assert.match(csv[0]!, /^submission_id,student_name,student_email/);
    assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]), expectedOrder(bobs, 'student', 'desc'));
    await context.close();
  });

  it('a row changes in place when its status changes and when its verdict arrives; a new submission appears on page 1', async () => {
    const { context, page, lists } = await instructorPage();
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await page.locator('[data-testid=row-count][data-live=on]').waitFor();
    const newest = expectedOrder(rows, 'createdAt', 'desc');
    await waitForRows(page, newest.slice(0, PAGE), 'page 1');
    await page.waitForTimeout(1500); // the reload after the stream's ready has landed
    const target = rows.find((r) => r.status === 'queued' && newest.slice(0, PAGE).includes(r.id))!;
    assert.ok(target, 'a queued submission on page 1');
    const row = page.locator(`tr[data-submission="${target.id}"]`);
    await row.locator('[data-status=queued]').waitFor();
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    const before = lists.length;

    // what the worker does: move the row, then record and publish the event
    await ctx.db.submission.update({ where: { id: target.id }, data: { status: 'running', attemptCount: 1 } });
    await recordSubmissionEvent(ctx.db, workerRedis, { type: 'status', submissionId: target.id, status: 'running', stage: 'running', message: 'kernel up', attempt: 1 });
    await row.locator('[data-status=running]').waitFor({ timeout: 10_000 });
    await page.getByTestId('row-count').getByText('grading in progress').waitFor();

    const run = await ctx.db.gradingRun.create({ data: { submissionId: target.id, attempt: 1, generation: 1, reason: 'submit', status: 'finished', workerId: 'test', verdict: 'fail', score: 35, maxScore: 100, finishedAt: new Date() } });
    await ctx.db.finding.create({ data: { runId: run.id, position: 0, kind: 'kasan', title: 'KASAN: use-after-free in msgbuf_release', data: { frames: [] }, raw: '' } });
    await ctx.db.submission.update({ where: { id: target.id }, data: { status: 'done', verdict: 'fail', score: 35, maxScore: 100, currentRunId: run.id, finishedAt: new Date() } });
    await recordSubmissionEvent(ctx.db, workerRedis, { type: 'verdict', submissionId: target.id, status: 'done', message: '35 / 100', attempt: 1, verdict: 'fail', score: 35, maxScore: 100 });
    await row.locator('[data-verdict=fail]').waitFor({ timeout: 10_000 });
    await row.getByText('KASAN: use-after-free in msgbuf_release').waitFor();
    assert.match((await row.locator('td[data-label=Score]').textContent()) ?? '', /35 \/ 100/);
    assert.equal(await row.locator('[data-status=done]').count(), 1);
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'the page was not reloaded');
    assert.equal(lists.length, before, `the list was not fetched again: ${JSON.stringify(lists.slice(before))}`);
    await page.screenshot({ path: join(SHOTS, 'table-02-live-row.png'), fullPage: true });

    // a brand-new submission (no worker runs here: it stays queued) shows up at the top by itself
    const sub = await submit(ctx, assignmentId, tokens.student, [{ name: 'msgbuf.c', content: 'int fresh;\n' }]);
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    await waitForRows(page, [sub.body.id, ...newest.slice(0, PAGE - 1)], 'the new submission first');
    await page.getByTestId('row-count').getByText(`${COUNT + 1} submissions`).waitFor();
    assert.match((await page.locator(`tr[data-submission="${sub.body.id}"]`).textContent()) ?? '', /Sam Newcomer/);
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, 'still no page reload');
    assert.ok(lists.slice(before).every((l) => l.limit === PAGE && l.cursor === null), 'page 1 again, not the whole list');
    await context.close();
  });

  it('regrade-all counts its submissions to the end from the live rows, without polling the list', async () => {
    const { context, page, lists } = await instructorPage();
    await page.goto(`${ctx.baseUrl}/app/assignments/${assignmentId}`);
    await page.locator('[data-testid=row-count][data-live=on]').waitFor();
    await page.waitForTimeout(1500);
    const before = lists.length;
    const regrade = page.waitForResponse((r) => r.url().endsWith(`/assignments/${assignmentId}/regrade`));
    await page.getByRole('button', { name: 'Regrade all…' }).click();
    await page.getByRole('button', { name: 'Yes, regrade' }).click();
    const ids = ((await (await regrade).json()) as { submissionIds: string[] }).submissionIds;
    assert.ok(ids.length > 5, `${ids.length} to regrade`);
    const progress = page.getByTestId('regrade-progress');
    await progress.getByText(`0 of ${ids.length} regraded`).waitFor();
    // the worker's part, one after the other: graded, stored, published
    for (const [i, id] of ids.entries()) {
      await ctx.db.submission.update({ where: { id }, data: { status: 'done', verdict: 'pass', score: 100, maxScore: 100, finishedAt: new Date() } });
      await recordSubmissionEvent(ctx.db, workerRedis, { type: 'verdict', submissionId: id, status: 'done', message: '100 / 100', attempt: 2, verdict: 'pass', score: 100, maxScore: 100 });
      if (i === 2) await progress.getByText(`3 of ${ids.length} regraded`).waitFor();
    }
    await progress.getByText(`${ids.length} of ${ids.length} regraded — done`).waitFor({ timeout: 15_000 });
    // the table reloaded its first page (the regrade moved rows), never the whole list
    assert.ok(lists.slice(before).every((l) => l.limit === PAGE && l.cursor === null), JSON.stringify(lists.slice(before)));
    assert.ok(lists.length - before <= 15, `${lists.length - before} page reloads`);
    await context.close();
  });
});
