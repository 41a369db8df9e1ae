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
    // (its write error path is caught earlier, by bad_buffers: KASAN reports every bug, not only the first)
    const inWrite = (f: (typeof result.findings)[number]) => [...f.frames, ...(f.stacks ?? []).flatMap((s) => s.frames)].some((fr) => fr.function === 'msgbuf_write' && fr.file === 'msgbuf.c');
    const kasan = result.findings.find((f) => f.kind === 'kasan' && f.consequenceOf === undefined && ['race_writers', 'race_open_close'].includes(f.test ?? '') && inWrite(f));
    assert.ok(kasan, `run ${i + 1}: a KASAN finding in msgbuf_write during a race test:\n${result.findings.map((f) => `${f.title} (${f.test})`).join('\n')}`);
    caughtBy.push(kasan.test!);
  }
  assert.equal(caughtBy.length, RUNS);
});
