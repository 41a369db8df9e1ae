// Per-test visibility for students (issue 12, item 4; Gradescope's levels): a test is `visible`,
// `hidden`, `after_due_date` or `after_published`. What a student cannot see of a test is kept out
// of everything they can read: the test table, the summary line, the `test` of each finding (and
// any free text naming the test), the live SSE log lines and the console's marker lines. While a
// test is hidden from them, the verdict and the score are withheld too (they would tell its
// result); instructors see everything.
import { effectiveDueAt, NoPublishedVersionError, pinnedVersion, type Assignment, type Db } from '@kgrader/db';
import type { ExerciseSpec, TestVisibility } from '@kgrader/schemas';

export interface StudentView {
  /** the test names this student cannot see now */
  hidden: ReadonlySet<string>;
  /** why (for the note shown in their place) */
  reasons: ReadonlyMap<string, TestVisibility>;
}

export const FULL_VIEW: StudentView = { hidden: new Set(), reasons: new Map() };

/** Each test's effective visibility on this assignment: the assignment's override, else the exercise's, else visible. */
export function testVisibilities(assignment: Pick<Assignment, 'testVisibility' | 'showTestDetailsBeforeDue'>, spec: ExerciseSpec): Map<string, TestVisibility> {
  const overrides = (assignment.testVisibility ?? {}) as Record<string, TestVisibility>;
  const out = new Map<string, TestVisibility>();
  for (const t of spec.tests) {
    let v = overrides[t.name] ?? t.visibility ?? 'visible';
    // the older switch: no per-test details before the due date
    if (v === 'visible' && !assignment.showTestDetailsBeforeDue) v = 'after_due_date';
    out.set(t.name, v);
  }
  return out;
}

/**
 * What a student sees now. `dueAt`: the student's own due date (the assignment's, or their
 * extension); tests `after_due_date` stay hidden while there is none.
 */
export function studentView(
  assignment: Pick<Assignment, 'testVisibility' | 'showTestDetailsBeforeDue' | 'gradesPublishedAt'>,
  spec: ExerciseSpec,
  dueAt: Date | null,
  now = new Date(),
): StudentView {
  const hidden = new Set<string>();
  const reasons = new Map<string, TestVisibility>();
  for (const [name, v] of testVisibilities(assignment, spec)) {
    const shown =
      v === 'visible' ||
      (v === 'after_due_date' && dueAt !== null && now >= dueAt) ||
      (v === 'after_published' && assignment.gradesPublishedAt !== null && now >= assignment.gradesPublishedAt);
    if (!shown) {
      hidden.add(name);
      reasons.set(name, v);
    }
  }
  return { hidden, reasons };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Replaces every whole-word mention of a hidden test name in free text. */
export function redactor(view: StudentView): (text: string) => string {
  if (view.hidden.size === 0) return (t) => t;
  const re = new RegExp(`(?<![A-Za-z0-9_])(?:${[...view.hidden].sort((a, b) => b.length - a.length).map(escape).join('|')})(?![A-Za-z0-9_])`, 'g');
  return (t) => t.replace(re, '(hidden test)');
}

const MARKER = /\bkgrader(?:[-_][\w-]+)?:\s+(?:\S+\s+)?test\s+(\S+)\s+(?:start|end)\b/;

/** The stored console as a student may read it: hidden tests' marker lines removed, other harness lines redacted. */
export function studentConsole(console: string, view: StudentView): string {
  if (view.hidden.size === 0) return console;
  const redact = redactor(view);
  return console
    .split('\n')
    .filter((line) => {
      const m = MARKER.exec(line);
      return !(m && view.hidden.has(m[1]!));
    })
    .map((line) => (line.includes('kgrader') ? redact(line) : line))
    .join('\n');
}

const PROGRESS_TEST = /^test (\S+?)(?::\s*\S+)?$/;

/**
 * A live progress line as a student may see it: null to drop it (a hidden test's start or end, or
 * the bare verdict word while the verdict is withheld), else the line with hidden names redacted.
 */
export function studentProgressLine(message: string, view: StudentView): string | null {
  if (view.hidden.size === 0) return message;
  const m = PROGRESS_TEST.exec(message);
  if (m && view.hidden.has(m[1]!)) return null;
  if (/^(pass|fail|error)$/.test(message.trim())) return null;
  return redactor(view)(message);
}

const note = (view: StudentView): string => {
  const n = view.hidden.size;
  const kinds = new Set(view.reasons.values());
  const when = kinds.has('hidden') ? 'shown to instructors only' : kinds.has('after_published') && kinds.has('after_due_date') ? 'shown after the due date or once grades are published' : kinds.has('after_published') ? 'shown once grades are published' : 'shown after the due date';
  return `${n} test${n === 1 ? ' is' : 's are'} hidden (${when}); the verdict and score are withheld until you can see every test`;
};

/**
 * The summary line a student sees: the stored one when nothing is hidden; otherwise rebuilt from
 * what they can see (the build or policy refusal as stored, the kernel's first report, the visible
 * tests that failed) and a note on the hidden ones, never the verdict or hidden results.
 */
export function studentSummary(
  stored: string | null,
  view: StudentView,
  tests: { name: string; status: string }[],
  findings: { title: string; sourceLines?: { file: string; line: number }[] }[],
): string | null {
  if (view.hidden.size === 0 || stored === null) return stored;
  const redact = redactor(view);
  const ran = tests.some((t) => t.status !== 'skip');
  if (!ran) return `${redact(stored)} ${note(view)}.`; // the build failed or the module was refused: no test result in it
  const parts: string[] = [];
  const first = findings[0];
  if (first) {
    const where = first.sourceLines?.[0];
    parts.push(`The kernel reported ${findings.length === 1 ? 'a problem' : `${findings.length} problems`}, first: ${redact(first.title)}${where ? ` (${where.file}:${where.line})` : ''}`);
  }
  const stop = /The run stopped early: (.*?)(?:\. \d+ tests? failed|\.$)/.exec(stored);
  if (stop && !first) parts.push(`The run stopped early: ${redact(stop[1]!)}`);
  const failed = tests.filter((t) => !view.hidden.has(t.name) && t.status === 'fail').map((t) => t.name);
  const visible = tests.filter((t) => !view.hidden.has(t.name)).length;
  parts.push(failed.length ? `${failed.length} visible test${failed.length === 1 ? '' : 's'} failed (${failed.join(', ')})` : `${visible === 1 ? 'The visible test' : `All ${visible} visible tests`} passed`);
  parts.push(note(view));
  return `${parts.join('. ')}.`;
}

/**
 * The view of a caller on an assignment's results: everything for instructors; for a student,
 * the tests they may see now (the assignment's pinned version's tests; their own due date).
 */
export async function viewOf(db: Db, assignment: Assignment, role: 'student' | 'instructor', userId: string, now = new Date()): Promise<StudentView> {
  if (role === 'instructor') return FULL_VIEW;
  // without a published version (not seeded yet) the assignment's own settings still apply
  const spec = await pinnedVersion(db, assignment).then(
    (p) => p.spec,
    (err: unknown) => {
      if (!(err instanceof NoPublishedVersionError)) throw err;
      return { tests: Object.keys((assignment.testVisibility ?? {}) as object).map((name) => ({ name })) } as unknown as ExerciseSpec;
    },
  );
  return studentView(assignment, spec, await dueDateOf(db, assignment, userId), now);
}

/** A student's own due date: their extension, else the assignment's. */
export async function dueDateOf(db: Db, assignment: Pick<Assignment, 'id' | 'dueAt'>, userId: string): Promise<Date | null> {
  return effectiveDueAt(db, assignment, userId);
}
