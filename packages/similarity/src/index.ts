// Similarity of students' submissions (issue 12, item 6) with Dolos (winnowed k-gram
// fingerprints over the tree-sitter C syntax tree): each student's files are joined into one
// document (a line map keeps file names and line numbers), the exercise's starter files are the
// template Dolos ignores (code everyone was given is no evidence), and every pair at or above the
// threshold is returned with its matching fragments as line ranges of each side's files.
import { Dolos } from '@dodona/dolos-lib';
import { File } from '@dodona/dolos-core';

export interface StudentCode {
  /** a stable key (the submission id) */
  key: string;
  files: { name: string; content: string }[];
}

export interface LineRange {
  file: string;
  /** 1-based, inclusive */
  startLine: number;
  endLine: number;
}

export interface SimilarPair {
  left: string;
  right: string;
  /** 0..1: the share of both sides' fingerprints they have in common */
  similarity: number;
  /** the longest run of common fingerprints (k-grams) */
  longest: number;
  /** common fingerprints */
  overlap: number;
  fragments: { left: LineRange; right: LineRange }[];
}

export interface SimilarityOptions {
  /** pairs below this similarity are left out (0..1) */
  threshold: number;
  /** files every student got (the exercise's starter files): ignored */
  starterFiles?: { name: string; content: string }[];
  /** Dolos k-gram length in tokens (default 23, Dolos's own) */
  kgramLength?: number;
}

interface Joined {
  text: string;
  /** [first line of each file in the joined text (0-based), file name] */
  starts: [number, string][];
}

function join(files: { name: string; content: string }[]): Joined {
  const starts: [number, string][] = [];
  const parts: string[] = [];
  let line = 0;
  for (const f of [...files].sort((a, b) => a.name.localeCompare(b.name))) {
    starts.push([line, f.name]);
    const text = f.content.endsWith('\n') ? f.content : `${f.content}\n`;
    parts.push(text);
    line += text.split('\n').length - 1;
  }
  return { text: parts.join(''), starts };
}

/** A 0-based row of a joined text -> file name and 1-based line. */
function locate(j: Joined, row: number): { file: string; line: number } {
  let cur = j.starts[0]!;
  for (const s of j.starts) if (s[0] <= row) cur = s;
  return { file: cur[1], line: row - cur[0] + 1 };
}

function range(j: Joined, startRow: number, endRow: number): LineRange {
  const a = locate(j, startRow);
  const b = locate(j, endRow);
  // a fragment crossing a file boundary is shown up to the end of its first file
  return { file: a.file, startLine: a.line, endLine: b.file === a.file ? b.line : a.line + Math.max(0, endRow - startRow) };
}

/** Compares every pair of students; returns the pairs at or above the threshold, most similar first. */
export async function similarPairs(students: StudentCode[], opts: SimilarityOptions): Promise<SimilarPair[]> {
  const usable = students.filter((s) => s.files.some((f) => f.content.trim().length > 0));
  if (usable.length < 2) return [];
  const joined = new Map(usable.map((s) => [s.key, join(s.files)]));
  const dolos = new Dolos({ language: 'c', kgramLength: opts.kgramLength ?? 23, maxFingerprintPercentage: null, limitResults: null });
  const files = usable.map((s) => new File(`${s.key}.c`, joined.get(s.key)!.text));
  const starter = opts.starterFiles?.length ? new File('starter.c', join(opts.starterFiles).text) : undefined;
  const report = await dolos.analyze(files, undefined, starter);
  const keyOf = (path: string) => path.replace(/\.c$/, '');
  const out: SimilarPair[] = [];
  for (const p of report.allPairs()) {
    if (p.similarity < opts.threshold) continue;
    const left = keyOf(p.leftFile.path);
    const right = keyOf(p.rightFile.path);
    const lj = joined.get(left)!;
    const rj = joined.get(right)!;
    out.push({
      left,
      right,
      similarity: Math.round(p.similarity * 1000) / 1000,
      longest: p.longest,
      overlap: p.overlap,
      fragments: p.buildFragments().map((f) => ({
        left: range(lj, f.leftSelection.startRow, f.leftSelection.endRow),
        right: range(rj, f.rightSelection.startRow, f.rightSelection.endRow),
      })),
    });
  }
  return out.sort((a, b) => b.similarity - a.similarity || b.longest - a.longest);
}
