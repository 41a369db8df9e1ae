// End to end: every shipped solution of every exercise is graded by the real `kgrader grade`
// (sandboxed build against the cached grading kernel, QEMU boot, harness, log analysis) and must
// give the verdict and findings its exercise's solutions.json promises.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { describeResult, variantProblems } from '@kgrader/expectations';
import { SolutionExpectations } from '@kgrader/schemas';
import { isAlive, orphanWorkFolders, workFolderOwner } from '@kgrader/worker';
import { repoRoot } from '../support/cli.js';
import { checkExpectation, gradeJson, gradeVariant } from '../support/grading.js';

/** graded several times by the determinism test instead */
const REPEATED = 'msgbuf/buggy-race-realloc';

/** kgrader-run-<pid>-* folders whose grading process has exited (other gradings on the machine may still be running) */
const orphanFolders = async () => (await orphanWorkFolders(tmpdir())).filter((n) => n.startsWith('kgrader-run-'));

/** QEMU processes of kgrader gradings whose grading process has exited (their sockets live in its kgrader-run-<pid>-* folder). */
function orphanVms(): string[] {
  try {
    return execFileSync('pgrep', ['-af', 'qemu-system-x86_64'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => {
        const pid = workFolderOwner(/kgrader-run-\d+-\S*/.exec(l)?.[0] ?? '');
        return pid !== undefined && !isAlive(pid);
      });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

// hostile drivers (panic, endless init, console flood) must leave the host as they found it
let foldersBefore: string[] = [];
before(async () => {
  foldersBefore = await orphanFolders();
});
after(async () => {
  assert.deepEqual(orphanVms(), [], 'no grading VM outlives its grading');
  const left = (await orphanFolders()).filter((n) => !foldersBefore.includes(n));
  assert.deepEqual(left, [], 'every grading removes its work folder');
});

for (const slug of (await readdir(`${repoRoot}exercises`)).sort()) {
  const expectations = SolutionExpectations.parse(JSON.parse(await readFile(`${repoRoot}exercises/${slug}/solutions.json`, 'utf8')));
  describe(`exercise ${slug}`, () => {
    test('every solution folder has an expectation and vice versa', async () => {
      const folders = (await readdir(`${repoRoot}exercises/${slug}/solutions`)).sort();
      assert.deepEqual(folders, Object.keys(expectations).sort());
    });
    for (const [name, expected] of Object.entries(expectations)) {
      if (`${slug}/${name}` === REPEATED) continue;
      test(`${name}: ${expected.verdict} (${expected.description})`, async () => {
        const dir = `${repoRoot}exercises/${slug}/solutions/${name}`;
        const { result, code } = await gradeJson(dir, slug);
        checkExpectation(result, expected, await readdir(dir), code);
      });
      for (const variant of expected.variants) {
        test(`${name}, ${variant.description}: ${variant.verdict}`, async () => {
          const dir = `${repoRoot}exercises/${slug}/solutions/${name}`;
          const { result, code } = await gradeVariant(dir, slug, variant);
          assert.deepEqual(variantProblems(result, variant), [], describeResult(result));
          assert.equal(code, variant.verdict === 'pass' ? 0 : 1);
        });
      }
    }
  });
}
