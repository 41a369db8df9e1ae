// Console logs captured from the real grading kernel (TCG, 2 vCPUs) running the shipped msgbuf
// solutions under the harness: what the analyzer must make of them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { Finding } from '@kgrader/schemas';
import { parseConsoleLog } from '../src/index.js';

const real = (name: string) => readFileSync(new URL(`../../test/fixtures/real/${name}.log`, import.meta.url), 'utf8');

describe('real console logs', () => {
  it('reference: no findings, every test bracketed by markers', () => {
    const log = parseConsoleLog(real('reference'));
    assert.deepEqual(log.findings, []);
    const starts = log.markers.filter((m) => m.type === 'test-start').map((m) => m.name);
    const ends = log.markers.filter((m) => m.type === 'test-end').map((m) => m.name);
    assert.deepEqual(starts, ends);
    assert.equal(starts[0], 'load');
    assert.ok(log.markers.some((m) => m.type === 'module-loaded' && m.name === 'msgbuf'));
    assert.ok(log.markers.some((m) => m.type === 'module-unloaded' && m.name === 'msgbuf'));
  });

  it('off-by-one read: KASAN slab-out-of-bounds Read in msgbuf_read during write_read', () => {
    const [f, ...rest] = parseConsoleLog(real('buggy-off-by-one-read')).findings;
    assert.equal(rest.length, 0);
    assert.ok(f);
    Finding.parse(f);
    assert.equal(f.kind, 'kasan');
    assert.equal(f.title, 'KASAN: slab-out-of-bounds Read in msgbuf_read');
    assert.equal(f.test, 'write_read');
    assert.equal(f.access?.type, 'read');
    assert.ok(f.frames.some((fr) => fr.function === 'msgbuf_read' && fr.module === 'msgbuf' && fr.offset !== undefined));
    assert.ok(!f.truncated);
  });

  it('racing realloc: KASAN double-free in msgbuf_write, then the oops it leads to', () => {
    const findings = parseConsoleLog(real('buggy-race-realloc')).findings;
    assert.equal(findings[0]?.kind, 'kasan');
    assert.equal(findings[0]?.title, 'KASAN: double-free in msgbuf_write');
    assert.equal(findings[0]?.test, 'race_writers');
    assert.deepEqual(findings[0]?.stacks?.map((s) => s.label), ['allocated', 'freed']);
    assert.ok(findings.some((f) => f.kind === 'oops'));
    // the panic that follows the oops (oops=panic) is part of it, not a finding of its own
    assert.ok(!findings.some((f) => f.kind === 'panic'));
  });

  it('copy_from_user under a spinlock: sleeping in atomic context, in write and in read', () => {
    const findings = parseConsoleLog(real('buggy-spinlock-copy')).findings;
    const titles = findings.map((f) => f.title);
    assert.ok(titles.includes('BUG: sleeping function called from invalid context in msgbuf_write'), titles.join('; '));
    assert.ok(findings.every((f) => f.kind === 'atomic-sleep' || f.kind === 'lockdep'), titles.join('; '));
    assert.ok(findings.some((f) => (f.count ?? 1) > 1), 'repeated reports are folded with a count');
  });

  it('leak on unload: kmemleak block with the unloaded module as a raw address', () => {
    const [f] = parseConsoleLog(real('buggy-leak-on-unload')).findings;
    assert.ok(f);
    assert.equal(f.kind, 'kmemleak');
    assert.equal(f.test, 'kmemleak');
    // hashed pointers print as (____ptrval____) before the hash key is ready; frames still parse
    assert.deepEqual(f.frames.slice(0, 4).map((fr) => fr.function), ['slab_post_alloc_hook.constprop.0', '__kmem_cache_alloc_node', '__kmalloc', '0xffffffffa0000028']);
    assert.equal(f.title, 'memory leak in 0xffffffffa0000028');
  });
});
