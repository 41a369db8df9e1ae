import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAddr2line, parseReadelfSections, parseReadelfSymbols } from '../src/index.js';

/** `readelf -SW msgbuf.ko` (binutils 2.40) for a module built with -g. */
const SECTIONS = `There are 44 section headers, starting at offset 0x1d2a8:

Section Headers:
  [Nr] Name              Type            Address          Off    Size   ES Flg Lk Inf Al
  [ 0]                   NULL            0000000000000000 000000 000000 00      0   0  0
  [ 1] .note.gnu.build-id NOTE            0000000000000000 000040 000024 00   A  0   0  4
  [ 2] .note.Linux       NOTE            0000000000000000 000064 000030 00   A  0   0  4
  [ 3] .text             PROGBITS        0000000000000000 0000a0 0004e2 00  AX  0   0 16
  [ 4] .rela.text        RELA            0000000000000000 016f58 000a50 18   I 41   3  8
  [ 5] .init.text        PROGBITS        0000000000000000 000582 00003d 00  AX  0   0  1
  [ 6] .rela.init.text   RELA            0000000000000000 0179a8 000078 18   I 41   5  8
  [ 7] .exit.text        PROGBITS        0000000000000000 0005bf 000019 00  AX  0   0  1
  [ 8] .rela.exit.text   RELA            0000000000000000 017a20 000048 18   I 41   7  8
  [ 9] __mcount_loc      PROGBITS        0000000000000000 0005d8 000028 00   A  0   0  1
  [10] .rodata.str1.1    PROGBITS        0000000000000000 000600 00004b 01 AMS  0   0  1
  [11] .modinfo          PROGBITS        0000000000000000 00064b 00009c 00   A  0   0  1
  [12] .data             PROGBITS        0000000000000000 000700 000060 00  WA  0   0 32
  [13] .gnu.linkonce.this_module PROGBITS        0000000000000000 000780 000500 00  WA  0   0 64
  [14] .bss              NOBITS          0000000000000000 000c80 001040 00  WA  0   0 64
  [15] .debug_info       PROGBITS        0000000000000000 000c80 01a2b3 00      0   0  1
  [16] .rela.debug_info  RELA            0000000000000000 017a68 004c38 18   I 41  15  8
  [41] .symtab           SYMTAB          0000000000000000 01c6a0 000918 18     42  36  8
  [42] .strtab           STRTAB          0000000000000000 01cfb8 0002f0 00      0   0  1
  [43] .shstrtab         STRTAB          0000000000000000 01d2a8 0001e4 00      0   0  1
Key to Flags:
  W (write), A (alloc), X (execute), M (merge), S (strings), I (info),
  L (link order), O (extra OS processing required), G (group), T (TLS),
  C (compressed), x (unknown), o (OS specific), E (exclude),
  D (mbind), l (large), p (processor specific)
`;

/** `readelf -sW msgbuf.ko`. */
const SYMBOLS = `
Symbol table '.symtab' contains 61 entries:
   Num:    Value          Size Type    Bind   Vis      Ndx Name
     0: 0000000000000000     0 NOTYPE  LOCAL  DEFAULT  UND 
     1: 0000000000000000     0 FILE    LOCAL  DEFAULT  ABS msgbuf.c
     2: 0000000000000000     0 SECTION LOCAL  DEFAULT    3 .text
     3: 0000000000000000     0 SECTION LOCAL  DEFAULT    5 .init.text
    24: 0000000000000000   240 FUNC    LOCAL  DEFAULT    3 msgbuf_open
    25: 00000000000000f0   614 FUNC    LOCAL  DEFAULT    3 msgbuf_write
    26: 0000000000000360   386 FUNC    LOCAL  DEFAULT    3 msgbuf_read
    27: 0000000000000000    61 FUNC    LOCAL  DEFAULT    5 msgbuf_init
    28: 0000000000000000    25 FUNC    LOCAL  DEFAULT    7 msgbuf_exit
    29: 0000000000000000    96 OBJECT  LOCAL  DEFAULT   12 msgbuf_fops
    30: 0000000000000040 0x186a0 OBJECT  LOCAL  DEFAULT   14 big_buffer
    31: 0000000000000000     0 NOTYPE  LOCAL  DEFAULT    3 .Ltmp0
    32: 0000000000000000     0 FILE    LOCAL  DEFAULT  ABS msgbuf.mod.c
    33: 0000000000000000    35 OBJECT  LOCAL  DEFAULT   11 __UNIQUE_ID_srcversion101
    40: 0000000000000000     0 NOTYPE  GLOBAL DEFAULT  UND __kmalloc
    41: 0000000000000000  1280 OBJECT  GLOBAL DEFAULT   13 __this_module
    42: 0000000000000000    61 FUNC    GLOBAL DEFAULT    5 init_module
    43: 0000000000000000     0 NOTYPE  GLOBAL DEFAULT  UND __fentry__
    44: 0000000000000000     0 NOTYPE  GLOBAL DEFAULT  UND _copy_from_user
`;

describe('parseReadelfSections', () => {
  const sections = parseReadelfSections(SECTIONS);
  const byName = (name: string) => sections.find((s) => s.name === name);

  it('reads index, name and size (hex) of each section', () => {
    assert.deepEqual(byName('.text'), { index: 3, name: '.text', size: 0x4e2 });
    assert.deepEqual(byName('.init.text'), { index: 5, name: '.init.text', size: 0x3d });
    assert.deepEqual(byName('.exit.text'), { index: 7, name: '.exit.text', size: 0x19 });
    assert.deepEqual(byName('.bss'), { index: 14, name: '.bss', size: 0x1040 });
    assert.deepEqual(byName('.debug_info'), { index: 15, name: '.debug_info', size: 0x1a2b3 });
  });

  it('reads names longer than the column (readelf -W does not cut them)', () => {
    assert.deepEqual(byName('.gnu.linkonce.this_module'), { index: 13, name: '.gnu.linkonce.this_module', size: 0x500 });
    assert.deepEqual(byName('.note.gnu.build-id'), { index: 1, name: '.note.gnu.build-id', size: 0x24 });
  });

  it('reads sections whatever their flags column holds', () => {
    assert.deepEqual(byName('.rodata.str1.1'), { index: 10, name: '.rodata.str1.1', size: 0x4b });
    assert.deepEqual(byName('.rela.text'), { index: 4, name: '.rela.text', size: 0xa50 });
    assert.deepEqual(byName('__mcount_loc'), { index: 9, name: '__mcount_loc', size: 0x28 });
  });

  it('reads two-digit indexes', () => {
    assert.deepEqual(byName('.shstrtab'), { index: 43, name: '.shstrtab', size: 0x1e4 });
  });

  it('keeps every named section in order and ignores the header and flag key', () => {
    const named = sections.filter((s) => s.index > 0);
    assert.deepEqual(
      named.map((s) => s.index),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 41, 42, 43],
    );
    assert.ok(!sections.some((s) => s.name === 'Name' || s.name.startsWith('W')));
  });

  it('gives the null section, if listed at all, size 0', () => {
    for (const s of sections.filter((x) => x.index === 0)) assert.equal(s.size, 0);
  });

  it('returns nothing for text without a section table', () => {
    assert.deepEqual(parseReadelfSections(''), []);
    assert.deepEqual(parseReadelfSections('readelf: Error: Not an ELF file - it has the wrong magic bytes at the start\n'), []);
  });
});

describe('parseReadelfSymbols', () => {
  const symbols = parseReadelfSymbols(SYMBOLS);
  const byName = (name: string) => symbols.find((s) => s.name === name);

  it('reads functions with value (hex), size (decimal) and section index', () => {
    assert.deepEqual(byName('msgbuf_write'), { name: 'msgbuf_write', value: 0xf0, size: 614, sectionIndex: 3 });
    assert.deepEqual(byName('msgbuf_read'), { name: 'msgbuf_read', value: 0x360, size: 386, sectionIndex: 3 });
    assert.deepEqual(byName('msgbuf_init'), { name: 'msgbuf_init', value: 0, size: 61, sectionIndex: 5 });
    assert.deepEqual(byName('init_module'), { name: 'init_module', value: 0, size: 61, sectionIndex: 5 });
  });

  it('reads objects, including sizes readelf prints in hex', () => {
    assert.deepEqual(byName('msgbuf_fops'), { name: 'msgbuf_fops', value: 0, size: 96, sectionIndex: 12 });
    assert.deepEqual(byName('big_buffer'), { name: 'big_buffer', value: 0x40, size: 100000, sectionIndex: 14 });
  });

  it('skips undefined and absolute symbols, files and section symbols', () => {
    for (const name of ['__kmalloc', '__fentry__', '_copy_from_user', 'msgbuf.c', 'msgbuf.mod.c', '.text', '.init.text', '']) {
      assert.equal(byName(name), undefined, name);
    }
  });

  it('keeps defined NOTYPE labels', () => {
    assert.deepEqual(byName('.Ltmp0'), { name: '.Ltmp0', value: 0, size: 0, sectionIndex: 3 });
  });

  it('reads exactly the defined FUNC/OBJECT/NOTYPE symbols, in order', () => {
    assert.deepEqual(
      symbols.map((s) => s.name),
      ['msgbuf_open', 'msgbuf_write', 'msgbuf_read', 'msgbuf_init', 'msgbuf_exit', 'msgbuf_fops', 'big_buffer', '.Ltmp0', '__UNIQUE_ID_srcversion101', '__this_module', 'init_module'],
    );
  });

  it('returns nothing for an empty table', () => {
    assert.deepEqual(parseReadelfSymbols('\nSymbol table \'.symtab\' contains 0 entries:\n'), []);
  });
});

describe('parseAddr2line', () => {
  it('reads one function and location', () => {
    assert.deepEqual(parseAddr2line('msgbuf_write\n/tmp/kgrader-run-abc/build/msgbuf.c:46\n'), [
      { function: 'msgbuf_write', file: '/tmp/kgrader-run-abc/build/msgbuf.c', line: 46 },
    ]);
  });

  it('drops a discriminator', () => {
    assert.deepEqual(parseAddr2line('msgbuf_read\n/tmp/kgrader-run-abc/build/msgbuf.c:88 (discriminator 2)\n'), [
      { function: 'msgbuf_read', file: '/tmp/kgrader-run-abc/build/msgbuf.c', line: 88 },
    ]);
  });

  it('reads an inline chain innermost first', () => {
    const text = [
      'instrument_copy_from_user_before',
      '/opt/kgrader/kernel/linux-6.1.90/./include/linux/instrumented.h:151',
      '_copy_from_user',
      '/opt/kgrader/kernel/linux-6.1.90/./include/linux/uaccess.h:161 (discriminator 1)',
      'copy_from_user',
      '/opt/kgrader/kernel/linux-6.1.90/./include/linux/uaccess.h:193',
      'msgbuf_write',
      '/tmp/kgrader-run-abc/build/msgbuf.c:52',
      '',
    ].join('\n');
    assert.deepEqual(parseAddr2line(text), [
      { function: 'instrument_copy_from_user_before', file: '/opt/kgrader/kernel/linux-6.1.90/./include/linux/instrumented.h', line: 151 },
      { function: '_copy_from_user', file: '/opt/kgrader/kernel/linux-6.1.90/./include/linux/uaccess.h', line: 161 },
      { function: 'copy_from_user', file: '/opt/kgrader/kernel/linux-6.1.90/./include/linux/uaccess.h', line: 193 },
      { function: 'msgbuf_write', file: '/tmp/kgrader-run-abc/build/msgbuf.c', line: 52 },
    ]);
  });

  it('gives nothing for an unknown address', () => {
    assert.deepEqual(parseAddr2line('??\n??:0\n'), []);
    assert.deepEqual(parseAddr2line('??\n??:?\n'), []);
  });

  it('skips pairs without a usable location but keeps the others', () => {
    assert.deepEqual(parseAddr2line('helper\n??:0\nmsgbuf_open\nmsgbuf.c:?\nmsgbuf_write\nmsgbuf.c:12\n'), [
      { function: 'msgbuf_write', file: 'msgbuf.c', line: 12 },
    ]);
  });

  it('keeps a function it could not name when the location is known', () => {
    assert.deepEqual(parseAddr2line('??\n/tmp/b/msgbuf.c:7\n'), [{ function: '??', file: '/tmp/b/msgbuf.c', line: 7 }]);
  });

  it('keeps colons inside the path', () => {
    assert.deepEqual(parseAddr2line('f\n/tmp/a:b/x.c:3\n'), [{ function: 'f', file: '/tmp/a:b/x.c', line: 3 }]);
  });

  it('ignores a trailing lone function line and empty input', () => {
    assert.deepEqual(parseAddr2line('f\nx.c:3\ng\n'), [{ function: 'f', file: 'x.c', line: 3 }]);
    assert.deepEqual(parseAddr2line(''), []);
    assert.deepEqual(parseAddr2line('\n\n'), []);
  });
});
