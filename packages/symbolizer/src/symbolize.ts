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
  /** where earlier loads of the module were (it was unloaded and loaded again): code left running from them is still the module's */
  earlierSections?: Array<Record<string, string>>;
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
  const resolver = await resolverFor(module);
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
    // a title named after a bare address that is in no frame (lockdep's `bad unlock balance`
    // names the releasing PC of a module unloaded since: a timer it left running)
    for (const address of new Set(title.match(/\b0x[0-9a-fA-F]{8,16}\b/g) ?? [])) {
      if (!resolver.renamed.has(address)) await resolver.frames([{ function: address }]);
      const resolved = resolver.renamed.get(address);
      if (resolved) title = title.split(address).join(resolved);
    }
    out.push({ ...finding, title, frames, ...(stacks ? { stacks } : {}) });
  }
  return out;
}

async function resolverFor(module: StudentModule): Promise<FrameResolver> {
  const [sectionsText, symbolsText] = await Promise.all([
    execFileAsync('readelf', ['-SW', module.koPath]).then((r) => r.stdout),
    execFileAsync('readelf', ['-sW', module.koPath]).then((r) => r.stdout),
  ]);
  const sections = parseReadelfSections(sectionsText);
  const symbols = parseReadelfSymbols(symbolsText);
  // the latest load first: an address is looked up there before in the earlier places
  const loaded = [module.sections ?? {}, ...[...(module.earlierSections ?? [])].reverse()].flatMap((s) => loadedSections(s, sections));
  return new FrameResolver(module, sections, symbols, loaded);
}

/** What a raw address in a report is in the module: code (function, line) or a variable. */
export interface ModuleAddress {
  address: string;
  section: string;
  /** the function or variable the address falls in */
  symbol?: string;
  kind: 'code' | 'data';
  file?: string;
  line?: number;
  source?: string;
}

/**
 * Describes raw addresses (`ffffffffc0201234`) that fall inside the module, wherever it was
 * loaded during the run (also after it was unloaded): the function and source line for code,
 * the variable for data. Addresses outside the module are left out.
 */
export async function describeModuleAddresses(addresses: readonly string[], module: StudentModule): Promise<ModuleAddress[]> {
  const resolver = await resolverFor(module);
  const out: ModuleAddress[] = [];
  for (const address of addresses) {
    const described = await resolver.describe(address);
    if (described) out.push(described);
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

  async describe(address: string): Promise<ModuleAddress | undefined> {
    const hex = address.replace(/^0x/i, '').toLowerCase();
    if (!/^[0-9a-f]{1,16}$/.test(hex)) return undefined;
    const value = BigInt(`0x${hex}`);
    const place = this.loaded.find((s) => value >= s.start && value < s.start + BigInt(s.size));
    if (!place) return undefined;
    const offset = Number(value - place.start);
    const section = this.sections.find((s) => s.name === place.name);
    const symbol = section && this.symbols.find((s) => s.sectionIndex === section.index && s.size > 0 && offset >= s.value && offset < s.value + s.size);
    const code = /^\.(?:init\.|exit\.)?text/.test(place.name);
    if (!code) return { address: hex, section: place.name, kind: 'data', ...(symbol ? { symbol: symbol.name } : {}) };
    const found = await this.addr2line({ section: place.name, offset });
    return {
      address: hex,
      section: place.name,
      kind: 'code',
      ...(symbol ? { symbol: symbol.name } : found?.function ? { symbol: found.function } : {}),
      ...(found?.file ? { file: found.file, line: found.line } : {}),
      ...(found?.source !== undefined ? { source: found.source } : {}),
    };
  }

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
