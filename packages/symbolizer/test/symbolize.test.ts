import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Finding } from '@kgrader/schemas';
import { symbolizeFindings, type StudentModule } from '../src/index.js';

function have(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip = ['gcc', 'readelf', 'addr2line', 'nm'].every(have) ? false : 'needs gcc, readelf, addr2line and nm';

/** Stands in for a kernel header: an always-inline helper that is not the student's. */
const HEADER = `static inline __attribute__((always_inline)) int kernel_helper(int v)
{
	__asm__ volatile("kg_probe_inline: nop");
	return v + 1;
}
`;

/**
 * The student's file. The asm labels mark known instructions (each a 1-byte nop) so the test
 * can find their offsets with nm, independently of the code under test.
 */
const SOURCE = `#include "kernel_helper.h"

int counter;

static int __attribute__((noinline)) twice(int v)
{
	return v * 2;
}

int demo_write(int len)
{
	int n = len;

	if (n > 63)
		n = 63;
	__asm__ volatile("kg_probe_write: nop");
	counter += twice(n);
	return kernel_helper(n);
}
`;
const PROBE_WRITE_LINE = 16; // the kg_probe_write line
const CALL_SITE_LINE = 18; // where kernel_helper is inlined

const TEXT_BASE = 0xffffffffc0002000n;

describe('symbolizeFindings on a real object file', { skip }, () => {
  let dir = '';
  let module: StudentModule;
  let sym: Record<string, number> = {};

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kgrader-symbolizer-test-'));
    // built as demo_main.c, as kbuildFor renames a file named like the module
    writeFileSync(join(dir, 'demo_main.c'), SOURCE);
    writeFileSync(join(dir, 'kernel_helper.h'), HEADER);
    execFileSync('gcc', ['-g', '-O0', '-c', 'demo_main.c', '-o', 'demo.o'], { cwd: dir });
    for (const line of execFileSync('nm', [join(dir, 'demo.o')], { encoding: 'utf8' }).split('\n')) {
      const m = /^([0-9a-f]+) [A-Za-z] (\S+)$/.exec(line);
      if (m) sym[m[2]!] = parseInt(m[1]!, 16);
    }
    for (const name of ['demo_write', 'twice', 'kg_probe_write', 'kg_probe_inline']) assert.ok(name in sym, `nm lacks ${name}`);
    module = {
      name: 'demo',
      koPath: join(dir, 'demo.o'),
      sections: { '.text': `0x${TEXT_BASE.toString(16)}` },
      submittedNameOf: { 'demo_main.c': 'demo.c' },
      sources: { 'demo.c': SOURCE },
    };
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The offset a stack would print for a return address just after the probe's nop. */
  const returnOffset = (fn: string, probe: string) => sym[probe]! - sym[fn]! + 1;

  function finding(frames: Finding['frames'], over: Partial<Finding> = {}): Finding {
    return { kind: 'kasan', title: 'KASAN: slab-out-of-bounds Write in demo_write', frames, raw: 'raw report', line: 10, ...over };
  }

  it('maps a frame in the module to the submitted file, line and source text', async () => {
    const frame = { function: 'demo_write', offset: returnOffset('demo_write', 'kg_probe_write'), size: 70, module: 'demo' };
    const [out] = await symbolizeFindings([finding([frame])], module);
    assert.ok(out);
    assert.deepEqual(out.frames[0], {
      ...frame,
      file: 'demo.c',
      line: PROBE_WRITE_LINE,
      source: '\t__asm__ volatile("kg_probe_write: nop");',
    });
    assert.equal(out.title, 'KASAN: slab-out-of-bounds Write in demo_write');
  });

  it('picks the student line of an inline chain, not the header line', async () => {
    const frame = { function: 'demo_write', offset: returnOffset('demo_write', 'kg_probe_inline'), module: 'demo' };
    const [out] = await symbolizeFindings([finding([frame])], module);
    assert.equal(out!.frames[0]!.file, 'demo.c');
    assert.equal(out!.frames[0]!.line, CALL_SITE_LINE);
    assert.equal(out!.frames[0]!.source, '\treturn kernel_helper(n);');
    assert.equal(out!.frames[0]!.function, 'demo_write');
  });

  it('maps a static function', async () => {
    const frame = { function: 'twice', offset: 5, module: 'demo' };
    const [out] = await symbolizeFindings([finding([frame])], module);
    assert.equal(out!.frames[0]!.file, 'demo.c');
    assert.ok([6, 7].includes(out!.frames[0]!.line!), `line ${out!.frames[0]!.line}`);
  });

  it('leaves frames outside the module alone', async () => {
    const frames = [
      { function: 'kasan_report', offset: 0xb9, size: 0xf0 },
      { function: 'demo_write', offset: 4, module: 'othermod' },
      { function: 'demo_write', module: 'demo' },
      { function: 'no_such_function', offset: 3, module: 'demo' },
      { function: '0xffffffffc0900000' },
    ];
    const [out] = await symbolizeFindings([finding(frames)], module);
    assert.deepEqual(out!.frames, frames);
  });

  it('maps a raw address in a loaded section back to the function and rewrites the title', async () => {
    const address = `0x${(TEXT_BASE + BigInt(sym.kg_probe_write! + 1)).toString(16)}`;
    const leak = finding([{ function: '__kmalloc', offset: 0x30 }, { function: address }], {
      kind: 'kmemleak',
      title: `memory leak in ${address}`,
    });
    const [out] = await symbolizeFindings([leak], module);
    assert.equal(out!.title, 'memory leak in demo_write');
    assert.deepEqual(out!.frames[0], { function: '__kmalloc', offset: 0x30 });
    assert.deepEqual(out!.frames[1], {
      function: 'demo_write',
      module: 'demo',
      file: 'demo.c',
      line: PROBE_WRITE_LINE,
      source: '\t__asm__ volatile("kg_probe_write: nop");',
    });
  });

  it('rewrites a title named after a raw address that no frame holds (a lock released by an unloaded module)', async () => {
    const address = `0x${(TEXT_BASE + BigInt(sym.kg_probe_write! + 1)).toString(16)}`;
    const outside = `0x${(TEXT_BASE - 1n).toString(16)}`;
    const [out, other] = await symbolizeFindings(
      [
        finding([{ function: 'lock_release', offset: 0x2ca }], { kind: 'lockdep', title: `WARNING: bad unlock balance in ${address}` }),
        finding([{ function: 'lock_release', offset: 0x2ca }], { kind: 'lockdep', title: `WARNING: bad unlock balance in ${outside}` }),
      ],
      module,
    );
    assert.equal(out!.title, 'WARNING: bad unlock balance in demo_write');
    assert.deepEqual(out!.frames, [{ function: 'lock_release', offset: 0x2ca }], 'the frames stay as they were');
    assert.equal(other!.title, `WARNING: bad unlock balance in ${outside}`, 'an address outside the module stays');
  });

  it('accepts raw addresses in upper case hex', async () => {
    const address = `0x${(TEXT_BASE + BigInt(sym.kg_probe_write! + 1)).toString(16).toUpperCase()}`;
    const [out] = await symbolizeFindings([finding([{ function: address }], { kind: 'kmemleak', title: `memory leak in ${address}` })], module);
    assert.equal(out!.frames[0]!.function, 'demo_write');
    assert.equal(out!.title, 'memory leak in demo_write');
  });

  it('leaves raw addresses outside every loaded section alone', async () => {
    const before = `0x${(TEXT_BASE - 1n).toString(16)}`;
    const pastEnd = `0x${(TEXT_BASE + 0x10000n).toString(16)}`;
    const leak = finding([{ function: before }, { function: pastEnd }], { kind: 'kmemleak', title: `memory leak in ${before}` });
    const [out] = await symbolizeFindings([leak], module);
    assert.deepEqual(out!.frames, leak.frames);
    assert.equal(out!.title, leak.title);
  });

  it('ignores raw addresses when the module event gave no sections', async () => {
    const address = `0x${(TEXT_BASE + BigInt(sym.kg_probe_write! + 1)).toString(16)}`;
    const { sections: _, ...noSections } = module;
    const [out] = await symbolizeFindings([finding([{ function: address }], { title: `memory leak in ${address}` })], noSections);
    assert.deepEqual(out!.frames, [{ function: address }]);
  });

  it('symbolizes extra stacks too and keeps their labels', async () => {
    const frame = { function: 'demo_write', offset: returnOffset('demo_write', 'kg_probe_write'), module: 'demo' };
    const f = finding([{ function: 'kasan_report' }], {
      stacks: [
        { label: 'Allocated by task 1', frames: [frame] },
        { label: 'Freed by task 2', frames: [{ function: 'kfree' }] },
      ],
    });
    const [out] = await symbolizeFindings([f], module);
    assert.equal(out!.stacks![0]!.label, 'Allocated by task 1');
    assert.equal(out!.stacks![0]!.frames[0]!.line, PROBE_WRITE_LINE);
    assert.deepEqual(out!.stacks![1], { label: 'Freed by task 2', frames: [{ function: 'kfree' }] });
    assert.ok(!('stacks' in (await symbolizeFindings([finding([])], module))[0]!));
  });

  it('keeps every other field of a finding and the order of findings', async () => {
    const a = finding([], { title: 'A', test: 'write_read', count: 3, access: { type: 'write', size: 1 } });
    const b = finding([], { title: 'B', truncated: true });
    const out = await symbolizeFindings([a, b], module);
    assert.deepEqual(out, [a, b]);
  });

  it('maps file and line without source text when the source is missing', async () => {
    const frame = { function: 'demo_write', offset: returnOffset('demo_write', 'kg_probe_write'), module: 'demo' };
    const [out] = await symbolizeFindings([finding([frame])], { ...module, sources: {} });
    assert.equal(out!.frames[0]!.file, 'demo.c');
    assert.equal(out!.frames[0]!.line, PROBE_WRITE_LINE);
    assert.equal('source' in out!.frames[0]!, false);
  });

  it('does not place a frame in a file the student did not submit', async () => {
    const frame = { function: 'demo_write', offset: returnOffset('demo_write', 'kg_probe_write'), module: 'demo' };
    const [out] = await symbolizeFindings([finding([frame])], { ...module, submittedNameOf: {} });
    assert.deepEqual(out!.frames[0], frame);
  });

  it('rejects when the module file does not exist', async () => {
    await assert.rejects(symbolizeFindings([], { ...module, koPath: join(dir, 'missing.ko') }));
  });
});
