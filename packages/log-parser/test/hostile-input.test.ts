// The console is written by the student's module too: it can print anything, as often as it
// likes (up to the 512 KiB kgrader keeps). No line may make a regex of the family table
// backtrack for long, and a console full of fake report headers must still parse quickly.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REPORT_GROUPS, parseConsoleLog } from '../src/index.js';

/** Every regex of the family table, with where it comes from. */
function tableRegexes(): { where: string; re: RegExp }[] {
  const out: { where: string; re: RegExp }[] = [];
  for (const group of REPORT_GROUPS) {
    if (group.header) out.push({ where: `${group.marker} header`, re: group.header });
    for (const re of group.notReports ?? []) out.push({ where: `${group.marker} notReports`, re });
    for (const format of group.formats) {
      format.match.forEach((re) => out.push({ where: `${format.id} match`, re }));
      (format.report ?? []).forEach((re) => out.push({ where: `${format.id} report`, re }));
      for (const step of [...(format.stack?.steps ?? []), ...(format.stack?.fallback ?? [])]) {
        if (step !== 'trace') out.push({ where: `${format.id} stack`, re: step.find });
      }
    }
  }
  return out;
}

/** The literal words of a regex source (`WARNING: .*lib\/debugobjects\.c` -> `WARNING:`, `lib/debugobjects.c`). */
function literals(source: string): string[] {
  return source
    .replace(/\\(.)/g, '$1')
    .split(/[()[\]{}|?*+^$]+/)
    .map((w) => w.trim())
    .filter((w) => w.length >= 2);
}

const LINE = 1024;
const fill = (unit: string): string => unit.repeat(Math.ceil(LINE / Math.max(1, unit.length))).slice(0, LINE);

/** Lines built to make a backtracking regex work hard: its own words, repeated, never completing it. */
function hostileLines(source: string): string[] {
  const words = literals(source);
  const lines = [fill('a'), fill('a.'), fill('[<ffff>] '), fill(' ? '), fill(': '), fill('(')];
  for (const word of words) {
    lines.push(fill(`${word} `), fill(word), `${word} ${fill('x ')}`);
    for (const other of words) if (other !== word) lines.push(`${words[0]} ${fill(`${word} ${other} `)}`);
  }
  return lines.map((l) => l.slice(0, LINE));
}

describe('hostile console input', () => {
  test('no regex of the family table blows up on a 1 KiB line', () => {
    let worst = { ms: 0, where: '', sample: '' };
    for (const { where, re } of tableRegexes()) {
      const unanchored = new RegExp(re.source, re.flags.replace('y', ''));
      for (const line of hostileLines(re.source)) {
        // best of three, so that a garbage collection pause is not taken for backtracking
        let ms = Infinity;
        for (let run = 0; run < 3; run++) {
          const started = performance.now();
          unanchored.exec(line);
          ms = Math.min(ms, performance.now() - started);
        }
        if (ms > worst.ms) worst = { ms, where, sample: line.slice(0, 60) };
      }
    }
    console.log(`slowest table regex on a hostile line: ${worst.ms.toFixed(2)} ms (${worst.where}, ${JSON.stringify(worst.sample)}...)`);
    // Polynomial backtracking costs milliseconds on 1 KiB (the console-wide test below catches
    // it by repetition); exponential backtracking costs seconds.
    assert.ok(worst.ms < 100, `${worst.where} took ${worst.ms.toFixed(0)} ms`);
  });

  test('512 KiB of any one hostile line parses quickly', () => {
    // Each line is a header (or near enough) and is repeated for the whole console, so a regex
    // that backtracks polynomially on it, or a pass that is quadratic in the number of reports,
    // shows up as seconds. (Before the WARNING file patterns were made atomic, the `mm/x.c k`
    // line took ~5 s and `BUG: BUG: ...` ~7 s.)
    const hostile = [
      `WARNING: ${'lib/debugobjects.c '.repeat(60)}`,
      `WARNING: ${'mm/x.c k'.repeat(120)}`,
      `WARNING: ${'WARNING: at '.repeat(80)}`,
      `BUG: KASAN: ${'a-'.repeat(500)}`,
      'BUG: '.repeat(200),
      `INFO: task ${' blocked for more than 1'.repeat(40)}`,
      `INFO: ${'interrupt '.repeat(100)}`,
      `trusty: panic (${'('.repeat(1000)}`,
      `general protection fault${':'.repeat(1000)}`,
      `BUG: sleeping function called from invalid context at ${'a/'.repeat(480)}`,
      `list_add corruption${' list_del corruption'.repeat(50)}`,
      ` ${'[<ffffffff81000000>] '.repeat(45)}`,
      `${'x'.repeat(900)} login: ${'y'.repeat(100)}`,
      `kgrader: ${'test '.repeat(200)}`,
      `UBSAN: ${'x in '.repeat(200)}`,
    ];
    let worst = { ms: 0, line: '' };
    for (const text of hostile) {
      const lines: string[] = [];
      let size = 0;
      for (let i = 0; size < 512 * 1024; i++) {
        const line = `[ ${(10 + i / 1000).toFixed(6)}][  T${100 + (i % 5)}] ${text}`;
        lines.push(line);
        size += line.length + 1;
      }
      const started = performance.now();
      parseConsoleLog(lines.join('\n'));
      const ms = performance.now() - started;
      if (ms > worst.ms) worst = { ms, line: text.slice(0, 40) };
    }
    console.log(`slowest 512 KiB hostile console: ${worst.ms.toFixed(0)} ms (${JSON.stringify(worst.line)}...)`);
    assert.ok(worst.ms < 1500, `${JSON.stringify(worst.line)}: ${worst.ms.toFixed(0)} ms`);
  });
});
