// The racing-writers bug must be caught every time, not once in a while: grade it 5 times.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { SolutionExpectations } from '@kgrader/schemas';
import { repoRoot } from '../support/cli.js';
import { checkExpectation, gradeJson } from '../support/grading.js';

const RUNS = 5;

test(`msgbuf/buggy-race-realloc gives the same verdict ${RUNS} times in a row`, async () => {
  const expectations = SolutionExpectations.parse(JSON.parse(await readFile(`${repoRoot}exercises/msgbuf/solutions.json`, 'utf8')));
  const expected = expectations['buggy-race-realloc'];
  assert.ok(expected);
  const dir = `${repoRoot}exercises/msgbuf/solutions/buggy-race-realloc`;
  const titles: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { result, code } = await gradeJson(dir, 'msgbuf');
    checkExpectation(result, expected, await readdir(dir), code);
    titles.push(result.findings[0]!.title);
  }
  assert.equal(titles.length, RUNS);
});
