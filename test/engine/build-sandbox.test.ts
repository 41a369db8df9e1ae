// The compile sandbox shows student code no host file, /proc entry or environment variable:
// a submission that tries to #include or .incbin them gets "no such file" and the build log,
// which the student reads, carries no host detail. Real builds through the real CLI.
import assert from 'node:assert/strict';
import { access, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GradeResult } from '@kgrader/schemas';
import { repoRoot, runCli } from '../support/cli.js';

const CANARY = `kgrader-canary-${process.pid}-${Date.now()}`;
/** host files whose contents must not reach a build log; each exists on this machine */
const HOST_FILES = ['/proc/cmdline', '/proc/version', '/proc/1/environ', '/proc/self/environ', '/proc/self/cmdline', '/etc/hostname', '/etc/passwd', '/etc/os-release'];

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'kgrader-sandbox-test-'));
});
after(() => rm(root, { recursive: true, force: true }));

async function grade(name: string, source: string): Promise<GradeResult> {
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'msgbuf.c'), source);
  // the canary is in the environment of the CLI, hence of the engine and of bwrap's parent
  const run = await runCli(['grade', dir, '--exercise', 'msgbuf', '--json'], { KGRADER_SANDBOX_CANARY: CANARY, DATABASE_URL: `postgres://kgrader:${CANARY}@db/kgrader` });
  assert.equal(run.code, 1, run.stderr);
  return GradeResult.omit({ console: true }).parse(JSON.parse(run.stdout)) as GradeResult;
}

describe('the build sandbox', () => {
  test('every host file a submission #includes is missing, and the log holds none of their text', async () => {
    // one build per file: the compiler stops at the first missing include
    const cmdline = (await readFile('/proc/cmdline', 'utf8')).trim();
    const version = (await readFile('/proc/version', 'utf8')).trim().slice(0, 40);
    for (const [i, file] of HOST_FILES.entries()) {
      const result = await grade(`include-host-file-${i}`, `#include "${file}"\nint x;\n`);
      assert.equal(result.build.ok, false);
      const log = result.build.log;
      assert.match(log, new RegExp(`${file.replace(/\//g, '\\/')}: No such file or directory`), `${file} is not visible:\n${log}`);
      assert.ok(!log.includes(CANARY), 'no environment variable of the host');
      // (a very short host name, like this machine's "vm", occurs in any text)
      if (hostname().length >= 6) assert.ok(!log.includes(hostname()), 'no host name');
      assert.ok(!log.includes(cmdline), 'no host kernel command line');
      assert.ok(!log.includes(version), 'no host kernel version string');
    }
  });

  test('assembler .incbin of the environment of the sandbox PID 1 finds nothing either', async () => {
    const result = await grade('incbin-environ', 'asm(".section .rodata\\n.incbin \\"/proc/1/environ\\"\\n.previous");\nint x;\n');
    assert.equal(result.build.ok, false);
    assert.match(result.build.log, /\/proc\/1\/environ/);
    assert.ok(!result.build.log.includes(CANARY));
  });

  test('/usr/local, the home folder and the repository are not there', async () => {
    // real files of this host, so the test cannot pass because they do not exist
    const local = `/usr/local/bin/${(await readdir('/usr/local/bin'))[0]}`;
    const home = join(homedir(), (await readdir(homedir(), { withFileTypes: true })).find((e) => e.isFile())!.name);
    const repoFile = `${repoRoot}package.json`;
    for (const file of [local, home, repoFile]) await access(file);
    for (const [i, file] of [local, home, repoFile].entries()) {
      const result = await grade(`include-local-${i}`, `#include "${file}"\nint x;\n`);
      assert.ok(result.build.log.includes(`${file}: No such file or directory`), `${file} is not visible:\n${result.build.log}`);
    }
  });
});
