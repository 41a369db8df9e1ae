import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** A place in the submitted sources. */
export interface SourcePlace {
  function?: string;
  file?: string;
  line?: number;
}

/** What the build sandbox read off the built module (see sandbox.ts `buildScript`). */
export interface ModuleInspection {
  /** kernel symbols the module imports */
  undefinedSymbols: string[];
  /** first place each imported symbol is referenced from (by relocation) */
  symbolUses: Record<string, SourcePlace>;
  /** every instruction, per executable section, for the instruction policy */
  instructions: Instruction[];
  /** direct branches whose target is not the start of an instruction of their section */
  misalignedBranches: Array<SourcePlace & { section: string; address: number; target: number }>;
}

export interface Instruction extends SourcePlace {
  section: string;
  address: number;
  /** AT&T mnemonic as objdump prints it (`mov`, `wrmsr`, `cli`...) */
  mnemonic: string;
  operands: string;
}

export async function readInspection(dir: string, buildDir: string, submittedNameOf: Record<string, string>): Promise<ModuleInspection> {
  const [undefinedText, disasm] = await Promise.all([readFile(join(dir, 'undefined.txt'), 'utf8'), readFile(join(dir, 'disasm.txt'), 'utf8')]);
  return {
    undefinedSymbols: parseUndefinedSymbols(undefinedText),
    ...parseDisassembly(disasm, (path) => submittedNameOf[basename(path)] ?? (path.startsWith(buildDir) ? basename(path) : undefined)),
  };
}

/** `nm --undefined-only --format=posix`: `<name> U [value size]` per line. */
export function parseUndefinedSymbols(text: string): string[] {
  const names = new Set<string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) [Uw]\b/.exec(line);
    if (m) names.add(m[1]!);
  }
  return [...names].sort();
}

const SECTION = /^Disassembly of section (\S+):$/;
const SYMBOL = /^[0-9a-f]+ <([^>]+)>:$/;
const SOURCE_FUNCTION = /^([A-Za-z_][\w.]*)\(\):$/;
const SOURCE = /^(\/\S+?):(\d+)(?: \(discriminator \d+\))?$/;
const INLINED_BY = /^inlined by (\/\S+?):(\d+)(?: \(discriminator \d+\))? \(([^)]+)\)$/;
const INSN = /^\s*([0-9a-f]+):\t(\S+)(?:\s+([^\t]*))?/;
/** a relocation, on its own line or (with --wide) after the instruction it patches */
const RELOC = /(?:^|\t)\s*[0-9a-f]+: (R_X86_64_\w+)\s+([^+\-\s]+)/;
const DIRECT_BRANCH = /^(j\w+|call|loop\w*|jmp)$/;
const TARGET = /^([0-9a-f]+) <[^>]+>$/;

/**
 * objdump `--disassemble --reloc --line-numbers --inlines --no-show-raw-insn --wide` output ->
 * every instruction with its section, function and source line in the submitted files (code
 * inlined from a kernel header is placed at the student's line it was inlined into), the first
 * source place that references each symbol, and direct branches into the middle of an
 * instruction (a way to hide an instruction from a linear disassembly). Pure.
 */
export function parseDisassembly(text: string, fileOf: (path: string) => string | undefined): Omit<ModuleInspection, 'undefinedSymbols'> {
  const instructions: Instruction[] = [];
  const symbolUses: Record<string, SourcePlace> = {};
  const branches: Array<SourcePlace & { section: string; address: number; target: number }> = [];
  let section = '';
  let symbol: string | undefined;
  let sourceFunction: string | undefined;
  /** the line objdump names, when it is in a submitted file */
  let direct: SourcePlace | undefined;
  /** else the submitted line it was inlined into */
  let inlined: SourcePlace | undefined;
  const place = (): SourcePlace => {
    const where = direct ?? inlined;
    const fn = inlined?.function ?? (direct ? sourceFunction : undefined) ?? symbol;
    return { ...(fn ? { function: fn } : {}), ...(where?.file ? { file: where.file } : {}), ...(where?.line ? { line: where.line } : {}) };
  };
  for (const raw of text.split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = SECTION.exec(raw))) {
      section = m[1]!;
      symbol = sourceFunction = direct = inlined = undefined;
    } else if ((m = SYMBOL.exec(raw))) {
      symbol = m[1]!;
    } else if ((m = SOURCE_FUNCTION.exec(raw))) {
      sourceFunction = m[1]!;
    } else if ((m = SOURCE.exec(raw))) {
      const file = fileOf(m[1]!);
      direct = file ? { file, line: Number(m[2]) } : undefined;
      inlined = undefined;
    } else if ((m = INLINED_BY.exec(raw))) {
      const file = fileOf(m[1]!);
      if (file && !direct && !inlined) inlined = { file, line: Number(m[2]), function: m[3]! };
    } else if ((m = INSN.exec(raw))) {
      const mnemonic = m[2]!;
      const operands = (m[3] ?? '').trim();
      const address = parseInt(m[1]!, 16);
      instructions.push({ section, address, mnemonic, operands, ...place() });
      const target = TARGET.exec(operands);
      if (DIRECT_BRANCH.test(mnemonic) && target) branches.push({ section, address, target: parseInt(target[1]!, 16), ...place() });
      const reloc = RELOC.exec(raw.slice(m[0].length));
      if (reloc && !symbolUses[reloc[2]!]) symbolUses[reloc[2]!] = place();
    } else if ((m = RELOC.exec(raw))) {
      if (!symbolUses[m[2]!]) symbolUses[m[2]!] = place();
    }
  }
  const starts = new Map<string, Set<number>>();
  const ends = new Map<string, number>();
  for (const insn of instructions) {
    let set = starts.get(insn.section);
    if (!set) starts.set(insn.section, (set = new Set()));
    set.add(insn.address);
    ends.set(insn.section, Math.max(ends.get(insn.section) ?? 0, insn.address));
  }
  // a target past the last instruction start is the section's end (a call to the next function
  // through a relocation shows as its own address) or another section: not checked here
  const misalignedBranches = branches.filter((b) => b.target <= (ends.get(b.section) ?? -1) && !starts.get(b.section)!.has(b.target));
  return { instructions, symbolUses, misalignedBranches };
}
