import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { TestKind } from '@kgrader/schemas';
import { ResultChannelVerifier, signEventLine } from '@kgrader/vm';
import { ensureHarness } from '../ts/index.js';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('../../', import.meta.url));

let work: string;
let harness: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'kgrader-harness-test-'));
  harness = await ensureHarness(work);
});
after(() => rm(work, { recursive: true, force: true }));

describe('the harness C unit test (test/c/harness_test.c)', () => {
  it('builds with the harness flags and passes: SHA-256/HMAC vectors, channel lines, kmsg records, plans', async () => {
    const sources = (await readdir(join(packageDir, 'src'))).filter((f) => f.endsWith('.c') && f !== 'main.c').map((f) => join(packageDir, 'src', f));
    const binary = join(work, 'harness_test');
    await run('gcc', ['-static', '-O2', '-pthread', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-o', binary, join(packageDir, 'test/c/harness_test.c'), ...sources]);
    const { stdout } = await run(binary);
    assert.match(stdout, /^\d+ checks, 0 failed\n$/);
    assert.ok(Number(/^(\d+)/.exec(stdout)![1]) >= 30);
  });
});

describe('the harness binary', () => {
  it('implements exactly the test kinds the schema names', async () => {
    const { stdout } = await run(harness, ['--list-kinds']);
    assert.deepEqual(stdout.trim().split('\n').sort(), [...TestKind.options].sort());
  });

  it('signs every event so that the host verifier accepts the run, and nothing else', async () => {
    const key = '5e'.repeat(32);
    const plan = join(work, 'plan.txt');
    const results = join(work, 'results');
    // a plan that needs no module: kmemleak runs without one, and errors outside the VM
    await writeFile(plan, 'module /nonexistent.ko none\ndevice /dev/null\ntest leaks kmemleak timeout=5\n');
    await run(harness, ['--key', key, '--nonce', 'feedfacecafebeef', plan, results], { env: { KGRADER_KMSG: join(work, 'kmsg') } });
    const lines = (await readFile(results, 'utf8')).trim().split('\n');
    const verifier = new ResultChannelVerifier(key, ['leaks']);
    for (const line of lines) verifier.push(line);
    assert.deepEqual(verifier.violations, []);
    // outside the VM kmemleak is missing: the harness says so in a log event
    assert.deepEqual(verifier.events.map((e) => e.event), ['hello', 'log', 'test_start', 'test_end', 'done']);
    assert.ok(verifier.done);
    // the same lines under another key are all refused
    const other = new ResultChannelVerifier('00'.repeat(32), ['leaks']);
    for (const line of lines) other.push(line);
    assert.equal(other.events.length, 0);
    // and a line of the run with its status changed no longer verifies
    const forged = lines.map((l) => l.replace('"status":"error"', '"status":"pass"'));
    assert.notDeepEqual(forged, lines);
    const tampered = new ResultChannelVerifier(key, ['leaks']);
    for (const line of forged) tampered.push(line);
    assert.equal(tampered.violations[0]?.kind, 'bad-mac');
    // the markers in the kernel log carry the nonce
    const markers = await readFile(join(work, 'kmsg'), 'utf8');
    assert.match(markers, /kgrader: feedfacecafebeef test leaks start/);
    assert.match(markers, /kgrader: feedfacecafebeef test leaks end error/);
    // sanity of the helper used by other tests: it signs as the harness does
    assert.equal(signEventLine(key, 1, lines[0]!.split(' ').slice(2).join(' ')), lines[0]);
  });
});
