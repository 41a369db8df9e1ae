/** Sections and symbols of a module, as `readelf -SW` and `readelf -sW` print them. Pure parsers. */
export interface ElfSection {
  index: number;
  name: string;
  size: number;
}
export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  sectionIndex: number;
}

export function parseReadelfSections(text: string): ElfSection[] {
  const out: ElfSection[] = [];
  // `  [ 2] .text             PROGBITS        0000000000000000 000040 000123 00  AX  0   0 16`
  const re = /^\s*\[\s*(\d+)\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m) out.push({ index: Number(m[1]), name: m[2]!, size: parseInt(m[3]!, 16) });
  }
  return out;
}

export function parseReadelfSymbols(text: string): ElfSymbol[] {
  const out: ElfSymbol[] = [];
  // `    12: 0000000000000120   245 FUNC    LOCAL  DEFAULT    2 msgbuf_write`
  const re = /^\s*\d+:\s+([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(FUNC|OBJECT|NOTYPE)\s+\S+\s+\S+\s+(\d+)\s+(\S+)\s*$/;
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m) out.push({ value: parseInt(m[1]!, 16), size: Number(m[2]), sectionIndex: Number(m[4]), name: m[5]! });
  }
  return out;
}

/** `addr2line -f -i` output: function / file:line pairs, innermost inline first. */
export function parseAddr2line(text: string): Array<{ function: string; file: string; line: number }> {
  const lines = text.split('\n').filter((l) => l.length > 0);
  const out = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const m = /^(.*):(\d+|\?)(?: \(discriminator \d+\))?$/.exec(lines[i + 1]!);
    if (!m || m[2] === '?' || m[1] === '??') continue;
    out.push({ function: lines[i]!, file: m[1]!, line: Number(m[2]) });
  }
  return out;
}
