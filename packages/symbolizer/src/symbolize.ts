import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { promisify } from 'node:util';
import type { Finding, Frame } from '@kgrader/schemas';
import { parseAddr2line, parseReadelfSections, parseReadelfSymbols, type ElfSection, type ElfSymbol } from './elf.js';

const execFileAsync = promisify(execFile);

export interface StudentModule {
  name: string;
  /** the module built with -g */
  koPath: string;
  /** load addresses of its sections in the VM (harness `module` event), for raw addresses */
  sections?: Record<string, string>;
  /** file name in the build folder -> name the student submitted */
  submittedNameOf: Record<string, string>;
  /** submitted file name -> its text */
  sources: Record<string, string>;
}

interface Lookup {
  section: string;
  offset: number;
}

/**
 * Fills file, line and source text into every frame that lies in the student's module, including
 * frames printed as raw addresses after the module was unloaded (kmemleak), whose function names
 * and titles are then filled in too.
 */
export async function symbolizeFindings(findings: readonly Finding[], module: StudentModule): Promise<Finding[]> {
  const [sectionsText, symbolsText] = await Promise.all([
    execFileAsync('readelf', ['-SW', module.koPath]).then((r) => r.stdout),
    execFileAsync('readelf', ['-sW', module.koPath]).then((r) => r.stdout),
  ]);
  const sections = parseReadelfSections(sectionsText);
  const symbols = parseReadelfSymbols(symbolsText);
  const loaded = loadedSections(module.sections ?? {}, sections);
  const resolver = new FrameResolver(module, sections, symbols, loaded);

  const out: Finding[] = [];
  for (const finding of findings) {
    const frames = await resolver.frames(finding.frames);
    const stacks = finding.stacks
      ? await Promise.all(finding.stacks.map(async (s) => ({ label: s.label, frames: await resolver.frames(s.frames) })))
      : undefined;
    let title = finding.title;
    for (const frame of finding.frames) {
      const resolved = resolver.renamed.get(frame.function);
      if (resolved) title = title.split(frame.function).join(resolved);
    }
    out.push({ ...finding, title, frames, ...(stacks ? { stacks } : {}) });
  }
  return out;
}

class FrameResolver {
  readonly renamed = new Map<string, string>();
  private readonly cache = new Map<string, Partial<Frame> | null>();

  constructor(
    private readonly module: StudentModule,
    private readonly sections: ElfSection[],
    private readonly symbols: ElfSymbol[],
    private readonly loaded: Array<{ name: string; start: bigint; size: number }>,
  ) {}

  async frames(frames: readonly Frame[]): Promise<Frame[]> {
    return Promise.all(frames.map((f) => this.frame(f)));
  }

  private async frame(frame: Frame): Promise<Frame> {
    const lookup = this.lookupFor(frame);
    if (!lookup) return frame;
    const key = `${lookup.section}:${lookup.offset}`;
    if (!this.cache.has(key)) this.cache.set(key, await this.addr2line(lookup));
    const found = this.cache.get(key);
    if (!found) return frame;
    if (found.function && /^0x[0-9a-f]+$/i.test(frame.function)) this.renamed.set(frame.function, found.function);
    return {
      ...frame,
      ...(/^0x[0-9a-f]+$/i.test(frame.function) && found.function ? { function: found.function, module: this.module.name } : {}),
      ...(found.file ? { file: found.file, line: found.line } : {}),
      ...(found.source !== undefined ? { source: found.source } : {}),
    };
  }

  private lookupFor(frame: Frame): Lookup | undefined {
    if (frame.module === this.module.name && frame.offset !== undefined) {
      const symbol = this.symbols.find((s) => s.name === frame.function && s.sectionIndex > 0);
      const section = symbol && this.sections.find((s) => s.index === symbol.sectionIndex);
      if (!symbol || !section) return undefined;
      // a stack holds return addresses: step back into the call instruction
      return { section: section.name, offset: symbol.value + Math.max(0, frame.offset - 1) };
    }
    if (/^0x[0-9a-f]+$/i.test(frame.function)) {
      const address = BigInt(frame.function);
      for (const section of this.loaded) {
        if (address >= section.start && address < section.start + BigInt(section.size)) {
          return { section: section.name, offset: Math.max(0, Number(address - section.start) - 1) };
        }
      }
    }
    return undefined;
  }

  private async addr2line(lookup: Lookup): Promise<Partial<Frame> | null> {
    let stdout: string;
    try {
      ({ stdout } = await execFileAsync('addr2line', ['-e', this.module.koPath, '-j', lookup.section, '-f', '-i', '-C', `0x${lookup.offset.toString(16)}`]));
    } catch {
      return null;
    }
    const chain = parseAddr2line(stdout);
    if (chain.length === 0) return null;
    // the innermost location in the student's own files: inlined kernel helpers are not theirs
    const own = chain.find((c) => this.module.submittedNameOf[basename(c.file)] !== undefined);
    const pick = own ?? chain[0]!;
    const submitted = this.module.submittedNameOf[basename(pick.file)];
    const outermost = chain[chain.length - 1]!;
    if (!submitted) return { function: outermost.function };
    const source = this.module.sources[submitted]?.split('\n')[pick.line - 1];
    return { function: outermost.function, file: submitted, line: pick.line, ...(source !== undefined ? { source: source.trimEnd() } : {}) };
  }
}

function loadedSections(addresses: Record<string, string>, sections: ElfSection[]) {
  const out: Array<{ name: string; start: bigint; size: number }> = [];
  for (const [name, address] of Object.entries(addresses)) {
    const section = sections.find((s) => s.name === name);
    if (!section || !/^0x[0-9a-f]+$/i.test(address)) continue;
    out.push({ name, start: BigInt(address), size: section.size });
  }
  return out;
}
