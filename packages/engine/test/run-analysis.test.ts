import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { VmOutcome } from '@kgrader/vm';
import { analyzeRun, asConsoleLines, oomKill, type RunAnalysisOptions } from '../src/index.js';

/**
 * A real run: buggy-off-by-one-read graded on the grading kernel (KGRADER_KEEP_WORKDIR=1 keeps
 * the VM outcome): its console, its authenticated events (with the kmsg records the harness
 * forwarded) and its nonce.
 */
const real = JSON.parse(readFileSync(new URL('../../test/fixtures/off-by-one.outcome.json', import.meta.url), 'utf8')) as VmOutcome & { nonce: string };

// symbolization needs an ELF file; a tiny object stands in for the module
const work = mkdtempSync(join(tmpdir(), 'kgrader-run-analysis-'));
writeFileSync(join(work, 'm.c'), 'int msgbuf_stub(void) { return 1; }\n');
execFileSync('gcc', ['-g', '-c', join(work, 'm.c'), '-o', join(work, 'msgbuf.ko')]);
after(() => rmSync(work, { recursive: true, force: true }));

const options: RunAnalysisOptions = {
  nonce: real.nonce,
  loadTestName: 'load',
  chatterBytes: 64 * 1024,
  module: { name: 'msgbuf', koPath: join(work, 'msgbuf.ko'), submittedNameOf: {}, sources: {} },
};
const kinds = (findings: { kind: string }[]) => findings.map((f) => f.kind);

describe('analyzeRun on a real run', () => {
  it('finds the KASAN report in the right test and nothing else', async () => {
    const { findings, loadStartLine } = await analyzeRun(real, options);
    assert.deepEqual(kinds(findings), ['kasan']);
    assert.match(findings[0]!.title, /KASAN: slab-out-of-bounds Read in msgbuf_read/);
    assert.equal(findings[0]!.test, 'write_read');
    // a restored VM's console starts after the restore: the load marker comes almost first
    assert.ok(loadStartLine !== undefined);
    assert.match(real.console.split('\n')[loadStartLine]!, new RegExp(`kgrader: ${real.nonce} test load start`));
  });

  it('ties the report to the real test even when the module prints fake markers, and reports them', async () => {
    const lines = real.console.split('\n');
    const at = lines.findIndex((l) => l.includes('BUG: KASAN'));
    lines.splice(at, 0, '[   10.336000][   T51] kgrader: test decoy start', `[   10.336001][   T51] kgrader: ${'0'.repeat(16)} test decoy start`);
    const { findings } = await analyzeRun({ ...real, console: lines.join('\n') }, options);
    const kasan = findings.find((f) => f.kind === 'kasan');
    assert.equal(kasan?.test, 'write_read');
    const fake = findings.find((f) => f.kind === 'tamper');
    assert.match(fake?.title ?? '', /2 fake kgrader test markers/);
  });

  it('recovers a report the module kept off the console from the forwarded kernel log', async () => {
    // what console_stop() does: the console shows nothing after the report started
    const lines = real.console.split('\n');
    const at = lines.findIndex((l) => l.includes('BUG: KASAN'));
    const { findings } = await analyzeRun({ ...real, console: lines.slice(0, at - 1).join('\n') }, options);
    const hidden = findings.find((f) => f.kind === 'tamper');
    assert.match(hidden?.title ?? '', /kernel warning or error lines? never reached the console/);
    assert.match(hidden?.raw ?? '', /BUG: KASAN: slab-out-of-bounds/);
    const recovered = findings.find((f) => f.kind === 'kasan');
    assert.match(recovered?.title ?? '', /KASAN: slab-out-of-bounds Read in msgbuf_read \(kept off the console\)/);
  });

  it('recovers a report a flood pushed out of the kept console, without calling it hidden', async () => {
    const lines = real.console.split('\n');
    const at = lines.findIndex((l) => l.includes('BUG: KASAN'));
    const { findings } = await analyzeRun({ ...real, console: lines.slice(0, at - 1).join('\n'), consoleDroppedBytes: 4096 }, options);
    assert.ok(!findings.some((f) => f.kind === 'tamper'));
    assert.match(findings.find((f) => f.kind === 'kasan')?.title ?? '', /msgbuf_read \(from the kernel log; the console was cut\)/);
  });

  it('reports changed printk settings and result-channel violations after load as tampering', async () => {
    const { findings } = await analyzeRun(
      {
        ...real,
        events: [...real.events, { event: 'tamper', what: 'the console log levels (/proc/sys/kernel/printk) changed from "7 4 1 7" to "1 4 1 7"; kgrader set it back' }],
        violations: [
          { kind: 'unauthenticated', detail: 'a line without a valid signature: {"event":"done"}', afterLoad: true },
          { kind: 'unauthenticated', detail: 'before load', afterLoad: false },
        ],
      },
      options,
    );
    const titles = findings.filter((f) => f.kind === 'tamper').map((f) => f.title);
    assert.deepEqual(titles, ['tamper: the result channel carried events the test harness did not send', 'tamper: the console log levels (/proc/sys/kernel/printk) changed during grading']);
    assert.doesNotMatch(findings.find((f) => f.title.includes('result channel'))!.raw, /before load/);
  });
});

describe('oomKill', () => {
  it('makes the OOM killer after load a finding, tied to the running test', async () => {
    const lines = real.console.split('\n');
    const at = lines.findIndex((l) => l.includes('test race_writers start'));
    lines.splice(at + 1, 0,
      '[   11.000000][   T60] kgrader-harness invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0',
      '[   11.000001][   T60] CPU: 1 PID: 60 Comm: kgrader-harness Tainted: G    B      O       6.1.192 #1',
      '[   11.000300][   T60] Out of memory: Killed process 55 (kgrader-harness) total-vm:2060kB, anon-rss:64kB, file-rss:0kB');
    const { findings } = await analyzeRun({ ...real, console: lines.join('\n') }, options);
    const oom = findings.find((f) => f.kind === 'oom');
    assert.equal(oom?.title, 'out of memory: the OOM killer killed kgrader-harness');
    assert.equal(oom?.test, 'race_writers');
    assert.match(oom?.raw ?? '', /invoked oom-killer/);
  });

  it('ignores an OOM before the module was loaded', () => {
    assert.equal(oomKill('[ 1.0] x invoked oom-killer: gfp_mask=0\n[ 1.1] Out of memory: Killed process 1 (init)', [], undefined), undefined);
  });
});

describe('asConsoleLines', () => {
  it('splits a record with escaped newlines into console lines with the same prefix', () => {
    assert.deepEqual(asConsoleLines('[   10.840556][   T51] The buggy address belongs to the object at ffff888001059c00\\x0a which belongs to the cache kmalloc-128 of size 128'), [
      '[   10.840556][   T51] The buggy address belongs to the object at ffff888001059c00',
      '[   10.840556][   T51]  which belongs to the cache kmalloc-128 of size 128',
    ]);
    assert.deepEqual(asConsoleLines('[    1.000000] plain'), ['[    1.000000] plain']);
  });
});
