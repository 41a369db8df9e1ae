// Real console logs from syzkaller's titled report corpus (test/fixtures/syzkaller/, Apache-2.0,
// see the README there), chosen for the reports a character driver can cause: KASAN and KFENCE
// in read/write/ioctl/disconnect paths, oopses, WARNINGs, lockdep, sleeping in atomic context,
// hangs, stalls, leaks, stack corruption, and damaged (CORRUPTED) reports. Each file's header is
// syzkaller's: the title of the first report, and whether it is corrupted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { Finding, type FindingKind } from '@kgrader/schemas';
import { parseConsoleLog } from '../src/index.js';
import { fixture } from './helpers.js';
import { readTitledLog } from './titled-log.js';

/** The kind each title family maps to. */
const KIND_OF_TITLE: readonly (readonly [RegExp, FindingKind])[] = [
  [/^KASAN: /, 'kasan'],
  [/^KFENCE: /, 'kfence'],
  [/^KCSAN: /, 'kcsan'],
  [/^(?:general protection fault|BUG: unable to handle|divide error|PANIC: double fault) /, 'oops'],
  [/^WARNING: refcount bug /, 'refcount'],
  [/^(?:WARNING: (?:locking bug|suspicious RCU usage|held lock freed)|BUG: (?:bad unlock balance|lock held)|possible deadlock|INFO: trying to register)/, 'lockdep'],
  [/^WARNING(?: in|: ODEBUG)/, 'warning'],
  [/^BUG: (?:sleeping function|scheduling while atomic)/, 'atomic-sleep'],
  [/^INFO: task hung/, 'hung-task'],
  [/^BUG: soft lockup/, 'soft-lockup'],
  [/^INFO: rcu detected stall/, 'rcu-stall'],
  [/^memory leak/, 'kmemleak'],
  [/^UBSAN: /, 'ubsan'],
  [/^BUG: corrupted list/, 'list-corruption'],
  [/^(?:kernel BUG|BUG: using)/, 'bug'],
  [/^kernel panic: (?:corrupted stack end|stack is corrupted)/, 'stack-corruption'],
];

/** Reports printed without a stack trace. */
const STACKLESS = /^(?:BUG|WARNING): (?:lock held when returning|still has locks held|held lock freed)/;

function expectedKind(title: string): FindingKind {
  const found = KIND_OF_TITLE.find(([re]) => re.test(title));
  if (!found) throw new Error(`no kind known for ${title}`);
  return found[1];
}

const dir = new URL('../../test/fixtures/syzkaller/', import.meta.url);
const FILES = readdirSync(dir)
  .filter((f) => f.endsWith('.log'))
  .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
const load = (file: string) => readTitledLog(fixture(`syzkaller/${file}`));

describe('syzkaller corpus logs a driver can cause', () => {
  test('there are enough of them, damaged ones included', () => {
    assert.ok(FILES.length >= 40, `${FILES.length} files`);
    assert.ok(FILES.filter((f) => load(f).corrupted.length > 0).length >= 6);
  });

  for (const file of FILES) {
    const expected = load(file);
    const title = expected.titles[0]!;
    test(`${file}: ${title}`, () => {
      const { findings } = parseConsoleLog(expected.log);
      for (const f of findings) Finding.parse(f);
      const first = findings[0];
      assert.ok(first, 'a finding');
      assert.equal(first.title, title);
      assert.equal(first.kind, expectedKind(title));
      assert.equal(first.corrupted ?? false, expected.corrupted.length > 0, 'corrupted');
      if (first.corrupted !== true && !STACKLESS.test(title)) assert.ok(first.frames.length > 0, 'an intact report has a main stack');
    });
  }
});

describe('details of real reports', () => {
  const first = (file: string) => parseConsoleLog(load(file).log).findings[0]!;

  test('KASAN use-after-free in a read(): access, allocation and free stacks', () => {
    const f = first('410.log');
    assert.equal(f.access?.type, 'read');
    assert.equal(f.access?.size, 8);
    assert.deepEqual(f.stacks?.map((s) => s.label), ['allocated', 'freed']);
    assert.ok(f.frames.some((fr) => fr.function === 'hiddev_read'));
  });

  test('KFENCE use-after-free: access and the object\'s stacks', () => {
    const f = first('593.log');
    assert.deepEqual(f.access, { type: 'read', address: 'ffff8c2aae240000' });
    assert.deepEqual(f.stacks?.map((s) => s.label), ['allocated', 'freed']);
    assert.equal(f.frames[0]?.function, 'test_use_after_free_read');
  });

  test('possible deadlock: the dependency chain stacks', () => {
    const f = first('466.log');
    assert.ok((f.stacks ?? []).length >= 2);
    assert.ok(f.stacks!.every((s) => s.label.startsWith('-> #')));
  });

  test('paging request in a driver\'s teardown: the main stack starts at the fault, the title skips the generic helper', () => {
    const f = first('459.log');
    assert.equal(f.frames[0]?.function, 'kobject_put');
    assert.deepEqual(f.frames.slice(1, 3).map((fr) => fr.function), ['device_del', 'input_unregister_device']);
    assert.equal(f.title, 'BUG: unable to handle kernel paging request in input_unregister_device');
    assert.equal(f.access?.type, 'read');
  });

  test('damaged reports keep their family and name no wrong function', () => {
    // 0: a line of another writer in the middle of the oops; 480: an oops whose stack was lost
    for (const [file, family] of [
      ['0.log', 'BUG: unable to handle kernel paging request'],
      ['100.log', 'general protection fault'],
      ['480.log', 'BUG: unable to handle kernel NULL pointer dereference'],
      ['365.log', 'INFO: task hung'],
    ] as const) {
      const f = first(file);
      assert.equal(f.title, `${family} in corrupted`, file);
      assert.equal(f.corrupted, true, file);
    }
  });
});
