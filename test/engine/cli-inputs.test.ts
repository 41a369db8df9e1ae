// Bad input never reaches the compiler or the VM: it gets a clear message and exit code 2.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Finding } from '@kgrader/schemas';
import { repoRoot, runCli } from '../support/cli.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kgrader-cli-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function submission(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  return dir;
}

describe('kgrader grade rejects bad submissions with exit 2', () => {
  const cases: Array<[string, Record<string, string | Buffer>, RegExp]> = [
    ['a Makefile', { 'msgbuf.c': 'int x;', Makefile: 'all:' }, /"Makefile" is not allowed/],
    ['a binary object', { 'msgbuf.c': 'int x;', 'evil.o': Buffer.from([0x7f, 0x45]) }, /"evil.o" is not allowed/],
    ['a hidden file', { 'msgbuf.c': 'int x;', '.hidden.c': 'int y;' }, /".hidden.c" is not allowed/],
    ['a name with a space', { 'msg buf.c': 'int x;' }, /"msg buf.c" is not allowed/],
    ['a name starting with a dash', { '-rf.c': 'int x;' }, /"-rf.c" is not allowed/],
    ['a file over the size cap', { 'msgbuf.c': 'x'.repeat(300 * 1024) }, /bytes \(at most 262144\)/],
    ['only headers', { 'msgbuf.h': '#pragma once' }, /no \.c file/],
    ['a Kbuild-generated name', { 'msgbuf.c': 'int x;', 'msgbuf.mod.c': 'int y;' }, /clashes with a name the kernel build generates/],
  ];
  for (const [what, files, message] of cases) {
    test(what, async () => {
      const dir = await submission(what.replace(/\W+/g, '-'), files);
      const run = await runCli(['grade', dir, '--exercise', 'msgbuf', '--json']);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '', 'nothing graded');
    });
  }

  test('a subfolder', async () => {
    const dir = await submission('subfolder', { 'msgbuf.c': 'int x;' });
    await mkdir(join(dir, 'inner'));
    const run = await runCli(['grade', dir, '--exercise', 'msgbuf']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /"inner" is not a regular file/);
  });

  test('a symlink pointing out of the submission', async () => {
    const dir = await submission('symlink', { 'msgbuf.c': 'int x;' });
    await symlink('/etc/passwd', join(dir, 'passwd.h'));
    const run = await runCli(['grade', dir, '--exercise', 'msgbuf']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /"passwd.h" is not a regular file/);
  });

  test('too many files', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 17; i++) files[`f${i}.c`] = 'int x;';
    const run = await runCli(['grade', await submission('many', files), '--exercise', 'msgbuf']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /too many files: 17 \(at most 16\)/);
  });
});

describe('kgrader usage errors exit 2', () => {
  test('unknown exercise', async () => {
    const run = await runCli(['grade', `${repoRoot}exercises/msgbuf/solutions/reference`, '--exercise', 'nope']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown exercise "nope"; known: chardev-generic, msgbuf, ticker/);
  });
  test('missing --exercise', async () => {
    const run = await runCli(['grade', `${repoRoot}exercises/msgbuf/solutions/reference`]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--exercise <slug> is required/);
  });
  test('unknown option', async () => {
    const run = await runCli(['grade', 'x', '--exercise', 'msgbuf', '--frobnicate']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /frobnicate/);
  });
  test('bad timeout', async () => {
    const run = await runCli(['grade', 'x', '--exercise', 'msgbuf', '--timeout', 'soon']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--timeout must be a whole number/);
  });
  test('no command', async () => {
    const run = await runCli([]);
    assert.equal(run.code, 2);
    assert.match(run.stdout, /kgrader grade <dir> --exercise <slug>/);
  });
  test('a folder that does not exist', async () => {
    const run = await runCli(['grade', join(root, 'missing'), '--exercise', 'msgbuf']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /cannot read the submission folder/);
  });
});

describe('kgrader analyze', () => {
  test('finds the reports in a real console log and prints them as JSON', async () => {
    const log = `${repoRoot}packages/log-parser/test/fixtures/real/buggy-off-by-one-read.log`;
    const run = await runCli(['analyze', log, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const { findings } = JSON.parse(run.stdout) as { findings: unknown[] };
    const parsed = findings.map((f) => Finding.parse(f));
    assert.ok(parsed.some((f) => f.kind === 'kasan' && /slab-out-of-bounds Read in msgbuf_read/.test(f.title)), JSON.stringify(parsed.map((f) => f.title)));
  });
  test('readable output names the finding', async () => {
    const run = await runCli(['analyze', `${repoRoot}packages/log-parser/test/fixtures/real/buggy-off-by-one-read.log`]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /\[kasan\] KASAN: slab-out-of-bounds Read in msgbuf_read/);
  });
  test('a missing log is a usage error', async () => {
    const run = await runCli(['analyze', join(root, 'nope.log')]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /cannot read/);
  });
});
