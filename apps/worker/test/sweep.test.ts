import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { sweepOrphanWorkFolders } from '../src/sweep.js';

let dir: string;
after(() => rm(dir, { recursive: true, force: true }));

test('removes the work folders of dead processes only', async () => {
  dir = await mkdtemp(join(tmpdir(), 'kgrader-sweep-test-'));
  const dead = spawnSync('true').pid; // exited by now
  assert.ok(dead);
  const names = [
    `kgrader-sub-${dead}-abc`,
    `kgrader-run-${dead}-def`,
    `kgrader-sub-${process.ppid}-live`, // the test runner: alive
    `kgrader-run-${process.pid}-mine`,
    'kgrader-sub-xyz', // no pid: not ours to judge
    'unrelated',
  ];
  for (const n of names) await mkdir(join(dir, n));
  const removed = await sweepOrphanWorkFolders(dir);
  assert.deepEqual(removed.sort(), [`kgrader-run-${dead}-def`, `kgrader-sub-${dead}-abc`]);
  assert.deepEqual((await readdir(dir)).sort(), [`kgrader-run-${process.pid}-mine`, `kgrader-sub-${process.ppid}-live`, 'kgrader-sub-xyz', 'unrelated'].sort());
});

test('a missing folder is nothing to sweep', async () => {
  assert.deepEqual(await sweepOrphanWorkFolders(join(tmpdir(), 'kgrader-no-such-folder')), []);
});
