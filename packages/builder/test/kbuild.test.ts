import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { inferModuleName, kbuildFor, moduleNameFromStem } from '../src/index.js';

const HEADER = '# written by kgrader: the submission may not bring its own build files\nccflags-y := -g -Wall -Wframe-larger-than=1024\n';

/** The non-comment assignments of a Kbuild text, as `name op value` triples. */
function assignments(kbuild: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of kbuild.split('\n')) {
    const m = /^([A-Za-z0-9_.-]+)\s*:=\s*(.*)$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

describe('kbuildFor: single file', () => {
  it('builds a single file named after the module directly', () => {
    const layout = kbuildFor('msgbuf', ['msgbuf.c', 'msgbuf.h']);
    assert.equal(layout.module, 'msgbuf');
    assert.equal(layout.kbuild, `${HEADER}obj-m := msgbuf.o\n`);
    assert.deepEqual(layout.buildNames, { 'msgbuf.c': 'msgbuf.c', 'msgbuf.h': 'msgbuf.h' });
  });

  it('warns about stack frames over the exercise limit (1024 bytes by default)', () => {
    assert.match(assignments(kbuildFor('msgbuf', ['msgbuf.c']).kbuild)['ccflags-y']!, /(^|\s)-Wframe-larger-than=1024(\s|$)/);
    assert.match(assignments(kbuildFor('msgbuf', ['msgbuf.c'], 512).kbuild)['ccflags-y']!, /(^|\s)-Wframe-larger-than=512(\s|$)/);
  });

  it('compiles with -g so findings map to lines', () => {
    const layout = kbuildFor('msgbuf', ['msgbuf.c']);
    assert.match(assignments(layout.kbuild)['ccflags-y']!, /(^|\s)-g(\s|$)/);
  });

  it('builds a single file with another name as a composite module', () => {
    const layout = kbuildFor('msgbuf', ['driver.c']);
    assert.deepEqual(assignments(layout.kbuild), { 'ccflags-y': '-g -Wall -Wframe-larger-than=1024', 'obj-m': 'msgbuf.o', 'msgbuf-y': 'driver.o' });
    assert.deepEqual(layout.buildNames, { 'driver.c': 'driver.c' });
  });

  it('keeps headers out of the object list', () => {
    const layout = kbuildFor('msgbuf', ['driver.c', 'driver.h', 'msgbuf.h']);
    assert.equal(assignments(layout.kbuild)['msgbuf-y'], 'driver.o');
  });
});

describe('kbuildFor: several files', () => {
  it('renames the file named like the module to <module>_main.c', () => {
    const layout = kbuildFor('msgbuf', ['msgbuf.c', 'helpers.c', 'msgbuf.h']);
    assert.deepEqual(layout.buildNames, { 'msgbuf.c': 'msgbuf_main.c', 'helpers.c': 'helpers.c', 'msgbuf.h': 'msgbuf.h' });
    const a = assignments(layout.kbuild);
    assert.equal(a['obj-m'], 'msgbuf.o');
    assert.equal(a['msgbuf-y'], 'helpers.o msgbuf_main.o');
  });

  it('lists objects sorted by submitted name whatever the input order', () => {
    const one = kbuildFor('drv', ['zeta.c', 'alpha.c', 'mid.c', 'x.h']);
    const two = kbuildFor('drv', ['mid.c', 'x.h', 'alpha.c', 'zeta.c']);
    assert.equal(assignments(one.kbuild)['drv-y'], 'alpha.o mid.o zeta.o');
    assert.equal(one.kbuild, two.kbuild);
    assert.deepEqual(one.buildNames, two.buildNames);
  });

  it('maps every submitted file, including headers, to a build name', () => {
    const files = ['msgbuf.c', 'a.c', 'a.h', 'b.h'];
    const layout = kbuildFor('msgbuf', files);
    assert.deepEqual(Object.keys(layout.buildNames).sort(), [...files].sort());
    for (const h of ['a.h', 'b.h']) assert.equal(layout.buildNames[h], h);
  });

  it('never names an object like the composite module (Kbuild forbids it)', () => {
    const layout = kbuildFor('msgbuf', ['msgbuf.c', 'extra.c']);
    const objects = assignments(layout.kbuild)['msgbuf-y']!.split(' ');
    assert.ok(!objects.includes('msgbuf.o'));
  });

  it('starts with the kgrader header and nothing from the submission', () => {
    const layout = kbuildFor('m', ['a.c', 'b.c']);
    assert.ok(layout.kbuild.startsWith(HEADER));
    assert.ok(layout.kbuild.endsWith('\n'));
  });

  it(
    'gives distinct build names when a file is already called <module>_main.c',
    () => {
      const layout = kbuildFor('msgbuf', ['msgbuf.c', 'msgbuf_main.c']);
      const buildNames = Object.values(layout.buildNames);
      assert.equal(new Set(buildNames).size, buildNames.length, `build names collide: ${JSON.stringify(layout.buildNames)}`);
      const objects = assignments(layout.kbuild)['msgbuf-y']!.split(' ');
      assert.equal(new Set(objects).size, objects.length);
    },
  );
});

describe('moduleNameFromStem', () => {
  const cases: Array<[string, string]> = [
    ['msgbuf', 'msgbuf'],
    ['my-driver', 'my_driver'],
    ['my.driver', 'my_driver'],
    ['_private', '_private'],
    ['2fast', 'm_2fast'],
    ['9-lives', 'm_9_lives'],
    ['-x', '_x'],
    ['Mixed_Case9', 'Mixed_Case9'],
  ];
  for (const [stem, expected] of cases) {
    it(`${stem} -> ${expected}`, () => {
      assert.equal(moduleNameFromStem(stem), expected);
    });
  }

  it('always gives a name the exercise schema accepts as a module name', () => {
    for (const stem of ['a-b-c', '0', '1.2.3', 'x', 'x--y', 'é']) {
      assert.match(moduleNameFromStem(stem), /^[A-Za-z_][A-Za-z0-9_]*$/, stem);
    }
  });
});

describe('inferModuleName', () => {
  it('uses the only .c file', () => {
    assert.equal(inferModuleName([{ name: 'mydev.c', text: 'int x;' }, { name: 'mydev.h', text: '' }]), 'mydev');
  });

  it('turns dashes into underscores', () => {
    assert.equal(inferModuleName([{ name: 'my-dev.c', text: 'module_init(my_init);' }]), 'my_dev');
  });

  it('prefixes a leading digit', () => {
    assert.equal(inferModuleName([{ name: '42dev.c', text: '' }]), 'm_42dev');
  });

  it('picks the file that calls module_init among several', () => {
    const sources = [
      { name: 'alpha.c', text: 'int helper(void) { return 1; }\n' },
      { name: 'core-dev.c', text: 'static int __init core_init(void) { return 0; }\nmodule_init (core_init);\n' },
      { name: 'zeta.c', text: 'void z(void) {}\n' },
    ];
    assert.equal(inferModuleName(sources), 'core_dev');
  });

  it('ignores module_init in headers', () => {
    const sources = [
      { name: 'dev.h', text: 'module_init(x);' },
      { name: 'b.c', text: '' },
      { name: 'a.c', text: 'module_init(a_init);' },
    ];
    assert.equal(inferModuleName(sources), 'a');
  });

  it('does not take my_module_init( for module_init(', () => {
    const sources = [
      { name: 'first.c', text: 'int my_module_init(void);' },
      { name: 'second.c', text: 'module_init(second_init);' },
    ];
    assert.equal(inferModuleName(sources), 'second');
  });

  it('falls back to the first .c file when none calls module_init', () => {
    assert.equal(inferModuleName([{ name: 'x.h', text: '' }, { name: 'one.c', text: '' }, { name: 'two.c', text: '' }]), 'one');
  });

  it('throws without any .c file', () => {
    assert.throws(() => inferModuleName([{ name: 'only.h', text: 'module_init(x);' }]), /no \.c file/);
    assert.throws(() => inferModuleName([]), /no \.c file/);
  });
});
