import type { SourcePlace } from '@kgrader/builder';
import type { Finding, Frame } from '@kgrader/schemas';
import { describeModuleAddresses, symbolizeFindings, type StudentModule } from '@kgrader/symbolizer';

type Suspect = NonNullable<Finding['suspect']>;

/** Kernel symbols a module calls, by what a finding without a module frame is usually about. */
const CALLS_BY_CAUSE: Array<{ matches: (f: Finding) => boolean; symbols: RegExp; what: string }> = [
  {
    matches: (f) => f.kind === 'oom' || /out of memory|oom|page allocation failure|vmalloc error/i.test(`${f.title}\n${f.raw}`),
    symbols: /^(__kmalloc|kmalloc_trace|kmalloc_large|kmalloc_node_trace|__kmalloc_node|kmem_cache_alloc\w*|vmalloc|vzalloc|__vmalloc|kvmalloc_node|__get_free_pages|alloc_pages|krealloc|kmemdup)$/,
    what: 'allocates memory',
  },
  {
    matches: (f) => f.kind === 'lockdep' || f.kind === 'hung-task' || /lock held|still has locks held|deadlock/i.test(f.title),
    symbols: /^(mutex_lock\w*|_raw_spin_lock\w*|_raw_read_lock\w*|_raw_write_lock\w*|down_read\w*|down_write\w*|down\w*)$/,
    what: 'takes a lock',
  },
  {
    matches: (f) => f.kind === 'hung-task' || f.kind === 'soft-lockup' || f.kind === 'rcu-stall',
    symbols: /^(prepare_to_wait\w*|schedule\w*|wait_for_completion\w*|__wake_up|msleep\w*)$/,
    what: 'waits or wakes',
  },
];

const NAMED_FRAME = /\b([A-Za-z_][\w.]*)\+0x([0-9a-f]+)\/0x([0-9a-f]+) \[([\w-]+)\]/g;

export interface SuspectContext {
  module: StudentModule;
  /** first source place of each kernel symbol the module imports (from the build inspection) */
  calls: Record<string, SourcePlace>;
}

/**
 * For each finding whose stack has no line in the student's code: where it most likely comes
 * from, in order of how sure that is: a line of the report's other stacks (allocated by, freed
 * by, the lock's acquisition); a module function the report's text names (`at: foo+0x1/0x2
 * [module]`, a held lock); the module's own calls of the failing kind (its allocations for an
 * out-of-memory report, its locks for a lock report). The test it happened in is in the reason.
 */
export async function addSuspects(findings: Finding[], ctx: SuspectContext): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const finding of findings) {
    if (finding.suspect || !needsSuspect(finding, ctx.module.name)) {
      out.push(finding);
      continue;
    }
    const suspect =
      (await fromOtherStacks(finding)) ??
      (await fromNamedFrames(finding, ctx)) ??
      (await fromModuleAddresses(finding, ctx)) ??
      fromLockNames(finding, ctx) ??
      fromModuleCalls(finding, ctx);
    out.push(suspect ? { ...finding, suspect: { ...suspect, why: `${suspect.why}${finding.test ? `; it happened during test ${finding.test}` : ''}` } } : finding);
  }
  return out;
}

function needsSuspect(f: Finding, moduleName: string): boolean {
  if (['policy', 'tamper', 'console-flood', 'harness-lost', 'stack-frame'].includes(f.kind)) return false;
  if (f.consequenceOf !== undefined) return false;
  return !f.frames.some((fr) => fr.module === moduleName && fr.file && fr.line);
}

function placed(frame: Frame): frame is Frame & { file: string; line: number } {
  return frame.file !== undefined && frame.line !== undefined && !frame.inlined;
}

async function fromOtherStacks(f: Finding): Promise<Suspect | undefined> {
  for (const stack of f.stacks ?? []) {
    const frame = stack.frames.find(placed);
    if (frame) {
      return { function: frame.function, file: frame.file, line: frame.line, ...(frame.source ? { source: frame.source } : {}), confidence: 'high', why: `the report's "${stack.label}" stack passes through it` };
    }
  }
  return undefined;
}

async function fromNamedFrames(f: Finding, ctx: SuspectContext): Promise<Suspect | undefined> {
  const named: Frame[] = [];
  for (const m of f.raw.matchAll(NAMED_FRAME)) {
    if (m[4] !== ctx.module.name) continue;
    named.push({ function: m[1]!, offset: parseInt(m[2]!, 16), size: parseInt(m[3]!, 16), module: m[4]! });
    if (named.length >= 8) break;
  }
  if (named.length === 0) return undefined;
  const [resolved] = await symbolizeFindings([{ kind: f.kind, title: f.title, frames: named, raw: '' }], ctx.module);
  const frame = resolved?.frames.find(placed);
  if (!frame) return undefined;
  return { function: frame.function, file: frame.file, line: frame.line, ...(frame.source ? { source: frame.source } : {}), confidence: 'medium', why: `the report names ${frame.function} (for instance where a lock it lists was taken)` };
}

const KERNEL_ADDRESS = /\b(?:0x)?(ffffffff[a-f][0-9a-f]{7})\b/g;

/** Raw addresses in the report that fall in the module, wherever it was loaded during the run. */
async function fromModuleAddresses(f: Finding, ctx: SuspectContext): Promise<Suspect | undefined> {
  const addresses = [...new Set([...f.raw.matchAll(KERNEL_ADDRESS)].map((m) => m[1]!))].slice(0, 64);
  if (addresses.length === 0) return undefined;
  const found = await describeModuleAddresses(addresses, ctx.module);
  const code = found.find((a) => a.kind === 'code' && a.file && a.line);
  if (code) {
    return {
      function: code.symbol ?? '?',
      file: code.file!,
      line: code.line!,
      ...(code.source ? { source: code.source } : {}),
      confidence: 'high',
      why: "the report holds an address of the module's code here (if the module was already unloaded: a timer, work item or callback it did not stop)",
    };
  }
  const data = found.find((a) => a.kind === 'data' && a.symbol);
  if (data) return { ...declaration(data.symbol!, ctx), confidence: 'medium', why: `the report touches the module's variable ${data.symbol} (${data.section})` };
  return undefined;
}

/** Lockdep names locks by their variable: `(&dev->lock)`, `((&beacon_timer))`, `(my_mutex)`. */
const LOCK_NAME = /\(\(?&?([A-Za-z_]\w*)(?:->[\w.]+)*\)?\)/g;

function fromLockNames(f: Finding, ctx: SuspectContext): Suspect | undefined {
  if (f.kind !== 'lockdep') return undefined;
  for (const m of f.raw.matchAll(LOCK_NAME)) {
    const place = declaration(m[1]!, ctx);
    if (place.file) return { ...place, confidence: 'medium', why: `the report names the lock ${m[1]}, a variable of the module` };
  }
  return undefined;
}

/** Where the student's sources first mention an identifier (its declaration, usually). */
function declaration(name: string, ctx: SuspectContext): Pick<Suspect, 'function' | 'file' | 'line' | 'source'> {
  const word = new RegExp(`\\b${name.replace(/[^\w]/g, '')}\\b`);
  for (const [file, text] of Object.entries(ctx.module.sources)) {
    const lines = text.split('\n');
    const at = lines.findIndex((l) => word.test(l) && !/^\s*(\/\/|\*|\/\*)/.test(l));
    if (at >= 0) return { function: name, file, line: at + 1, source: lines[at]!.trim() };
  }
  return { function: name };
}

function fromModuleCalls(f: Finding, ctx: SuspectContext): Suspect | undefined {
  for (const cause of CALLS_BY_CAUSE) {
    if (!cause.matches(f)) continue;
    const hit = Object.entries(ctx.calls).find(([symbol, place]) => cause.symbols.test(symbol) && place.file && place.line);
    if (!hit) continue;
    const [symbol, place] = hit;
    const source = place.file && place.line ? ctx.module.sources[place.file]?.split('\n')[place.line - 1]?.trim() : undefined;
    return {
      function: place.function ?? symbol,
      ...(place.file ? { file: place.file } : {}),
      ...(place.line ? { line: place.line } : {}),
      ...(source ? { source } : {}),
      confidence: 'low',
      why: `no stack of the report passes through the module; this is where the module ${cause.what} (${symbol})`,
    };
  }
  return undefined;
}
