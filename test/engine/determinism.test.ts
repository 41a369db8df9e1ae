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
  const caughtBy: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const { result, code } = await gradeJson(dir, 'msgbuf');
    checkExpectation(result, expected, await readdir(dir), code);
    // caught by a race test, in the student's write function, every time
    const kasan = result.findings.find((f) => f.kind === 'kasan' && f.consequenceOf === undefined);
    assert.ok(kasan, `run ${i + 1}: a KASAN finding`);
    assert.ok(['race_writers', 'race_open_close'].includes(kasan.test ?? ''), `run ${i + 1}: caught during a race test, not ${kasan.test}`);
    assert.ok([...kasan.frames, ...(kasan.stacks ?? []).flatMap((s) => s.frames)].some((f) => f.function === 'msgbuf_write' && f.file === 'msgbuf.c'), `run ${i + 1}: points at msgbuf_write`);
    caughtBy.push(kasan.test!);
  }
  assert.equal(caughtBy.length, RUNS);
});
