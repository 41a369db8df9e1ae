import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { parseConsoleLog } from '@kgrader/log-parser';
import type { Finding } from '@kgrader/schemas';
import { chatterFinding, measureChatter } from '../src/chatter.js';

const boot = ['[    0.000000][    T0] Linux version 6.1.192', '[    6.716324][    T1] Run /init as init process'];
const load = '[   14.308798][   T47] kgrader: test load start';

describe('measureChatter', () => {
  it('counts only what follows the load marker', () => {
    const lines = [...boot, load, '[   14.4][   T47] msgbuf: hello'];
    const chatter = measureChatter(lines.join('\n'), 2, [], 0, new Set([2]));
    assert.equal(chatter.bytes, Buffer.byteLength(lines[3]!) + 1);
    assert.equal(chatter.sample, 'msgbuf: hello');
    assert.equal(chatter.sampleCount, 1);
  });

  it('ignores the harness markers it is given by line and the lines of kernel reports', () => {
    const report: Finding = { kind: 'kasan', title: 'KASAN: x', frames: [], raw: 'BUG: KASAN: slab-out-of-bounds in foo\nRead of size 1' };
    const lines = [load, '[ 15.0][ T50] BUG: KASAN: slab-out-of-bounds in foo', '[ 15.0][ T50] Read of size 1', '[ 16.0][ T47] kgrader: test load end pass'];
    assert.equal(measureChatter(lines.join('\n'), 0, [report], 0, new Set([0, 3])).bytes, 0);
  });

  it('counts a line that merely says kgrader: a module cannot exempt its flood by its text', () => {
    const fake = '[ 15.0][ T50] kgrader: test load start';
    const lines = [load, fake, fake];
    const chatter = measureChatter(lines.join('\n'), 0, [], 0, new Set([0]));
    assert.equal(chatter.bytes, 2 * (Buffer.byteLength(fake) + 1));
    assert.equal(chatter.sampleCount, 2);
  });

  it('adds the bytes dropped from a capped console and folds numbers to find the repeated line', () => {
    const lines = [load];
    for (let i = 0; i < 50; i++) lines.push(`[ ${20 + i}.0][ T60] msgbuf: debug ${i}: state dump`);
    lines.push('[ 99.0][ T60] something else');
    const chatter = measureChatter(lines.join('\n'), 0, [], 1000);
    assert.ok(chatter.bytes > 1000);
    assert.equal(chatter.sample, 'msgbuf: debug N: state dump');
    assert.equal(chatter.sampleCount, 50);
  });
});

describe('measureChatter on repeated kernel reports (kasan_multi_shot)', () => {
  // a real KASAN report from a grading, printed 40 times with other addresses, as multi-shot KASAN does
  const real = readFileSync(new URL('../../../log-parser/test/fixtures/real/buggy-race-realloc.log', import.meta.url), 'utf8').split('\n');
  const report = real.slice(real.findIndex((l) => l.includes('BUG: KASAN: double-free')) - 1, real.findIndex((l, i) => i > 191 && l.includes('=========')) + 1);
  const flood = [load];
  for (let i = 0; i < 40; i++) flood.push(...report.map((l) => l.replace(/ffff[0-9a-f]{12}/g, (a) => `ffff${(parseInt(a.slice(4), 16) + i * 64).toString(16).padStart(12, '0')}`)));
  const text = flood.join('\n');
  const parsed = parseConsoleLog(text);

  it('the parser folds the copies into one finding and marks every copy as report lines', () => {
    assert.equal(parsed.findings.length, 1);
    assert.equal(parsed.findings[0]!.count, 40);
    assert.ok(parsed.reportLines.size >= 40 * (report.length - 2), `${parsed.reportLines.size} report lines`);
  });

  it('is no chatter, even when the console was capped in the middle of them', () => {
    const chatter = measureChatter(text, 0, parsed.findings, 2_000_000, new Set([0]), parsed.reportLines);
    assert.ok(chatter.bytes < 4096, `${chatter.bytes} bytes of chatter`);
    // without the parser's report lines, only the first copy's text would be recognised
    const byTextOnly = measureChatter(text, 0, parsed.findings, 2_000_000, new Set([0]));
    assert.ok(byTextOnly.bytes > 64 * 1024, `${byTextOnly.bytes} bytes by text only`);
  });

  it('dropped bytes count in the proportion of chatter kept: a printk flood still is one', () => {
    const lines = [load, ...Array.from({ length: 100 }, (_, i) => `[ ${20 + i}.0][ T60] msgbuf: debug ${i}`)];
    const chatter = measureChatter(lines.join('\n'), 0, [], 1_000_000, new Set([0]));
    assert.ok(chatter.bytes > 950_000, `${chatter.bytes}`);
  });
});

describe('measureChatter on a report too long to keep (a stack-depot dump of a corrupted handle)', () => {
  // a real report whose free stack dumps thousands of raw words (chardev-generic buggy-unlocked-list)
  const real = readFileSync(new URL('../../../log-parser/test/fixtures/real/buggy-race-realloc.log', import.meta.url), 'utf8').split('\n');
  const start = real.findIndex((l) => l.includes('BUG: KASAN: double-free'));
  const freedBy = real.findIndex((l, i) => i > start && l.includes('Freed by task'));
  const prefix = real[freedBy]!.slice(0, real[freedBy]!.indexOf(']', real[freedBy]!.indexOf(']') + 1) + 1);
  const words = Array.from({ length: 4000 }, (_, i) => `${prefix}  ${i % 3 === 0 ? `str__qdisc__trace_system_name+0x${(i % 0x400).toString(16)}/0x440` : `0x${(i * 0x9e3779b1).toString(16)}`}`);
  const end = real.findIndex((l, i) => i > freedBy && /={20,}/.test(l));
  const after = '[   30.000000][   T60] listdev: a line of its own';
  const text = [load, ...real.slice(start - 1, freedBy + 1), ...words, ...real.slice(freedBy + 1, end + 1), after].join('\n');
  const parsed = parseConsoleLog(text);

  it('its stack-dump lines past the size cap are still the report, not chatter', () => {
    const chatter = measureChatter(text, 0, parsed.findings, 0, new Set([0]), parsed.reportLines);
    assert.ok(chatter.bytes < 4096, `${chatter.bytes} bytes of chatter`);
    assert.ok(parsed.reportLines.size > 4000, `${parsed.reportLines.size} report lines`);
  });

  it('what follows the dump in another shape is counted again', () => {
    const lines = text.split('\n');
    assert.ok(!parsed.reportLines.has(lines.length - 1), 'the driver\'s own line after the report');
  });
});

describe('chatterFinding', () => {
  it('is nothing under the limit', () => {
    assert.equal(chatterFinding({ bytes: 1000, sampleCount: 0 }, 64 * 1024, 3), undefined);
  });
  it('is a console-flood finding at the load line over the limit', () => {
    const f = chatterFinding({ bytes: 300 * 1024, sample: 'msgbuf: debug N', sampleCount: 2000 }, 64 * 1024, 7);
    assert.ok(f);
    assert.equal(f.kind, 'console-flood');
    assert.equal(f.line, 7);
    assert.equal(f.title, 'console flood: 300 KiB printed after the module was loaded (limit 64 KiB)');
    assert.match(f.raw, /2000 times\): msgbuf: debug N/);
  });
});
