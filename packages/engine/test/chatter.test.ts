import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
