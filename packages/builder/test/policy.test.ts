import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { checkModulePolicy, parseDisassembly, parseUndefinedSymbols, privilegedInstruction, symbolAllowed } from '../src/index.js';

/** objdump of the shipped hostile-port-io solution built against the grading kernel (paths shortened) */
const disasm = readFileSync(new URL('../../test/fixtures/hostile-port-io.disasm', import.meta.url), 'utf8');
const submitted = (path: string) => (path.startsWith('/BUILD/') ? path.slice('/BUILD/'.length) : undefined);

describe('parseDisassembly on a real module', () => {
  const parsed = parseDisassembly(disasm, submitted);

  it('places code inlined from a kernel header at the student line it was inlined into', () => {
    const out = parsed.instructions.find((i) => i.mnemonic === 'out');
    assert.deepEqual({ ...out }, { section: '.init.text', address: 0x47, mnemonic: 'out', operands: '%al,(%dx)', function: 'msgbuf_init', file: 'msgbuf.c', line: 81 });
  });

  it('finds where each imported symbol is first used, from relocations on the instruction lines', () => {
    assert.deepEqual(parsed.symbolUses.__kmalloc, { function: 'msgbuf_write', file: 'msgbuf.c', line: 44 });
    assert.deepEqual(parsed.symbolUses.misc_register, { function: 'msgbuf_init', file: 'msgbuf.c', line: 83 });
  });

  it('finds no branch into the middle of an instruction in compiler output', () => {
    assert.deepEqual(parsed.misalignedBranches, []);
    assert.ok(parsed.instructions.length > 50);
  });
});

describe('checkModulePolicy', () => {
  const inspection = { undefinedSymbols: ['__kmalloc', 'misc_register', 'filp_open', 'kernel_write'], ...parseDisassembly(disasm, submitted) };

  it('names every forbidden symbol and instruction with its place', () => {
    const findings = checkModulePolicy(inspection);
    assert.deepEqual(
      findings.map((f) => f.title),
      [
        'policy: the module uses kernel symbol filp_open, which this exercise does not allow',
        'policy: the module uses kernel symbol kernel_write, which this exercise does not allow',
        'policy: privileged instruction out (port I/O) in msgbuf_init',
        'policy: privileged instruction cli (changing the interrupt flag (use spin_lock_irqsave instead)) in msgbuf_init',
        'policy: privileged instruction sti (changing the interrupt flag (use spin_lock_irqsave instead)) in msgbuf_init',
      ],
    );
    assert.ok(findings.every((f) => f.kind === 'policy'));
    assert.deepEqual(findings[2]!.frames, [{ function: 'msgbuf_init', file: 'msgbuf.c', line: 81 }]);
  });

  it('lets an exercise widen the symbols and instructions it allows', () => {
    const findings = checkModulePolicy(inspection, { symbols: ['filp_open', 'kernel_*'], instructions: ['out', 'cli', 'sti'] });
    assert.deepEqual(findings, []);
  });

  it('reports a jump into the middle of an instruction', () => {
    const hidden = parseDisassembly(
      ['Disassembly of section .text:', '', '0000000000000000 <f>:', '   0:\tjmp    3 <f+0x3>', '   2:\tmov    $0x300f,%eax', '   7:\tret'].join('\n'),
      submitted,
    );
    const findings = checkModulePolicy({ undefinedSymbols: [], ...hidden });
    assert.equal(findings.length, 1);
    assert.match(findings[0]!.title, /a jump into the middle of an instruction in f/);
  });
});

describe('the default symbol set', () => {
  it('allows what the shipped drivers and the sanitizers need', () => {
    for (const s of ['__kmalloc', 'kfree', '_copy_from_user', '_copy_to_user', 'misc_register', 'mutex_lock_nested', '_raw_spin_lock_irqsave', '__asan_load8_noabort', '__ubsan_handle_out_of_bounds', '__tsan_read4', 'init_timer_key', 'hrtimer_start_range_ns', '__init_waitqueue_head', 'simple_read_from_buffer', '__list_add_valid', 'param_ops_uint', 'kstrtouint']) {
      assert.ok(symbolAllowed(s), s);
    }
  });

  it('refuses what a module would use to interfere with its grading', () => {
    for (const s of ['filp_open', 'kernel_write', 'kernel_read', 'vfs_write', 'send_sig', 'kill_pid', 'call_usermodehelper_exec', 'console_stop', 'console_drivers', 'console_printk', 'register_console', 'kmsg_dump_get_line', 'kallsyms_lookup_name', 'access_process_vm', 'set_memory_x', 'ioremap', 'init_mm', 'init_task', 'pv_ops', 'static_key_enable']) {
      assert.ok(!symbolAllowed(s), s);
    }
  });
});

describe('privilegedInstruction', () => {
  it('flags system instructions, control-register moves and descriptor-table reads', () => {
    for (const [mnemonic, operands] of [['wrmsr', ''], ['rdmsr', ''], ['inb', '(%dx),%al'], ['outl', '%eax,(%dx)'], ['hlt', ''], ['swapgs', ''], ['lidt', '(%rax)'], ['sidt', '(%rsp)'], ['mov', '%rax,%cr3'], ['mov', '%cr0,%rax'], ['mov', '%rax,%db7'], ['popf', ''], ['vmcall', ''], ['wrgsbase', '%rax']] as const) {
      assert.ok(privilegedInstruction({ mnemonic, operands }), `${mnemonic} ${operands}`);
    }
  });
  it('leaves ordinary instructions alone', () => {
    for (const [mnemonic, operands] of [['mov', '%rax,%rbx'], ['call', '0 <f>'], ['ud2', ''], ['int3', ''], ['pushf', ''], ['stac', ''], ['clac', ''], ['rdtsc', ''], ['cpuid', ''], ['lock', 'cmpxchg %rdx,(%rdi)'], ['rep', 'stos %al,%es:(%rdi)']] as const) {
      assert.equal(privilegedInstruction({ mnemonic, operands }), undefined, `${mnemonic} ${operands}`);
    }
  });
});

describe('parseUndefinedSymbols', () => {
  it('reads nm --format=posix undefined symbols, sorted and unique', () => {
    assert.deepEqual(parseUndefinedSymbols('kfree U\n__kmalloc U\nkfree U\nweak_thing w\nlocal T 0 10\n'), ['__kmalloc', 'kfree', 'weak_thing']);
  });
});
