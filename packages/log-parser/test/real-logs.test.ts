// Console logs captured from the real grading kernel (TCG, 2 vCPUs) running the shipped msgbuf
// solutions under the harness: markers, test attribution and the harness's nonce. (Their titles
// and details are checked with the other fixtures, in fixtures.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConsoleLog, type Marker } from '../src/index.js';
import { fixture } from './helpers.js';
import { readTitledLog } from './titled-log.js';

const real = (name: string): string => readTitledLog(fixture(`real/${name}.log`)).log;

const NONCE = '3f9a0c7e5b21d864';
const OTHER_NONCE = '0000000000000000';

/** The log as the harness writes it now: every marker carries the grading's nonce. */
function withNonce(log: string, nonce: string): string {
  return log.replace(/kgrader: (test|module) /g, `kgrader: ${nonce} $1 `);
}

/** Inserts a line before the first line matching `before`, with that line's prefix. */
function insertBefore(log: string, before: RegExp, text: string): string {
  const lines = log.split('\n');
  const at = lines.findIndex((l) => before.test(l));
  assert.ok(at >= 0, `no line matches ${before}`);
  const prefix = /^\[[^\]]*\]\[[^\]]*\] /.exec(lines[at]!)?.[0] ?? '';
  lines.splice(at, 0, `${prefix}${text}`);
  return lines.join('\n');
}

const summary = (markers: readonly Marker[]) => markers.map((m) => `${m.type}:${m.name}${m.status ? `:${m.status}` : ''}`);

describe('real console logs: markers', () => {
  it('reference: no findings, every test bracketed by markers', () => {
    const log = parseConsoleLog(real('reference'));
    assert.deepEqual(log.findings, []);
    const starts = log.markers.filter((m) => m.type === 'test-start').map((m) => m.name);
    const ends = log.markers.filter((m) => m.type === 'test-end').map((m) => m.name);
    assert.deepEqual(starts, ends);
    assert.equal(starts[0], 'load');
    assert.ok(log.markers.some((m) => m.type === 'module-loaded' && m.name === 'msgbuf'));
    assert.ok(log.markers.some((m) => m.type === 'module-unloaded' && m.name === 'msgbuf'));
    assert.deepEqual(log.forgedMarkers, []);
  });

  it('markers carrying the expected nonce are the same markers', () => {
    const plain = parseConsoleLog(real('buggy-off-by-one-read'));
    const nonced = parseConsoleLog(withNonce(real('buggy-off-by-one-read'), NONCE), { markerNonce: NONCE });
    assert.ok(plain.markers.length > 10);
    assert.deepEqual(nonced.markers, plain.markers);
    assert.deepEqual(nonced.forgedMarkers, []);
    assert.equal(nonced.findings[0]?.test, 'write_read');
  });

  it('without a nonce to check, markers with one are read too (kgrader analyze on a new log)', () => {
    const plain = parseConsoleLog(real('buggy-off-by-one-read'));
    const nonced = parseConsoleLog(withNonce(real('buggy-off-by-one-read'), NONCE));
    assert.deepEqual(summary(nonced.markers), summary(plain.markers));
    assert.deepEqual(nonced.forgedMarkers, []);
  });

  it('a module printing a fake test start cannot move its KASAN report to another test', () => {
    // issue 8, "moved reports": `kgrader: test decoy start` printed just before the bad access
    const attacked = insertBefore(withNonce(real('buggy-off-by-one-read'), NONCE), /BUG: KASAN:/, 'kgrader: test decoy start');
    const unchecked = parseConsoleLog(attacked);
    assert.equal(unchecked.findings[0]?.test, 'decoy', 'without the nonce the decoy works: the check below is what stops it');
    const checked = parseConsoleLog(attacked, { markerNonce: NONCE });
    assert.equal(checked.findings[0]?.test, 'write_read');
    assert.ok(!checked.markers.some((m) => m.name === 'decoy'));
    assert.deepEqual(
      checked.forgedMarkers.map((f) => f.text),
      ['kgrader: test decoy start'],
    );
    const decoyLine = attacked.split('\n').findIndex((l) => l.endsWith('kgrader: test decoy start'));
    assert.equal(checked.forgedMarkers[0]?.line, decoyLine);
  });

  it('markers with a wrong nonce, or of an old log checked with a nonce, are all forged', () => {
    const log = real('buggy-off-by-one-read');
    const markerLines = parseConsoleLog(log).markers.map((m) => m.line);
    const checked = parseConsoleLog(withNonce(log, OTHER_NONCE), { markerNonce: NONCE });
    assert.deepEqual(checked.markers, []);
    assert.deepEqual(
      checked.forgedMarkers.map((f) => f.line),
      markerLines,
    );
    assert.deepEqual(parseConsoleLog(log, { markerNonce: NONCE }).forgedMarkers.map((f) => f.line), markerLines);
    // with no marker left, no finding is attributed to a test
    assert.equal(checked.findings[0]?.test, undefined);
  });

  it('a forged end marker does not end the running test', () => {
    const attacked = insertBefore(withNonce(real('buggy-off-by-one-read'), NONCE), /BUG: KASAN:/, `kgrader: test write_read end pass`);
    const checked = parseConsoleLog(attacked, { markerNonce: NONCE });
    assert.equal(checked.findings[0]?.test, 'write_read');
    assert.equal(checked.forgedMarkers.length, 1);
  });
});

describe('real console logs: one finding per bug', () => {
  it('racing realloc: the allocator crash after the double-free is its consequence, not a second bug', () => {
    const findings = parseConsoleLog(real('buggy-race-realloc')).findings;
    assert.equal(findings[0]?.title, 'KASAN: invalid-free in msgbuf_write');
    assert.equal(findings[0]?.consequenceOf, undefined);
    assert.equal(findings[1]?.kind, 'oops');
    assert.equal(findings[1]?.consequenceOf, 0);
    // the panic that follows the oops (oops=panic) is part of it, not a finding of its own
    assert.ok(!findings.some((f) => f.kind === 'panic'));
    assert.match(findings[1]!.raw, /Kernel panic - not syncing: Fatal exception/);
  });

  it('copy under a spinlock: every sleeping-in-atomic report is titled after the driver function', () => {
    const findings = parseConsoleLog(real('buggy-spinlock-copy')).findings;
    const sleeping = findings.filter((f) => f.kind === 'atomic-sleep');
    assert.deepEqual(
      sleeping.map((f) => [f.title, f.count]),
      [
        ['BUG: sleeping function called from invalid context in msgbuf_write', 5],
        ['BUG: sleeping function called from invalid context in msgbuf_read', 5],
      ],
    );
  });
});
