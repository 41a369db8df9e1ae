import assert from 'node:assert/strict';
import { GradeResult, type SolutionExpectation } from '@kgrader/schemas';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runCli } from './cli.js';

const EXIT_OF = { pass: 0, fail: 1, error: 3 } as const;
/** kinds whose reports carry a stack through the student's code: it must be mapped to their source */
const MUST_MAP_TO_SOURCE = new Set(['kasan', 'atomic-sleep', 'kmemleak', 'lockdep', 'oops']);
/** Grades a folder with `kgrader grade --json` and validates the JSON against the contract. */
export async function gradeJson(dir: string, slug: string, env: NodeJS.ProcessEnv = {}): Promise<{ result: GradeResult; code: number | null; stderr: string }> {
  const run = await runCli(['grade', dir, '--exercise', slug, '--json'], env);
  assert.ok(run.stdout.trim().length > 0, `no JSON on stdout; stderr: ${run.stderr.slice(0, 2000)}`);
  const result = GradeResult.omit({ console: true }).parse(JSON.parse(run.stdout)) as GradeResult;
  return { result, code: run.code, stderr: run.stderr };
}

/** Asserts a grading result keeps the promise a shipped solution's expectation makes. */
export function checkExpectation(result: GradeResult, expected: SolutionExpectation, sources: string[], code: number | null): void {
  const context = `verdict ${result.verdict}: ${result.summary}\ntests: ${result.tests.map((t) => `${t.name}=${t.status}`).join(' ')}\nfindings: ${result.findings.map((f) => `[${f.kind}] ${f.title}`).join('; ')}`;
  assert.notEqual(result.verdict, 'error', `infrastructure error: ${result.infrastructureError}\n${context}`);
  assert.equal(result.verdict, expected.verdict, context);
  assert.equal(code, EXIT_OF[result.verdict], 'exit code follows the verdict');
  assert.equal(result.build.ok, expected.builds, `build: ${result.build.log.slice(-1500)}`);
  assert.equal(result.maxScore, result.tests.reduce((s, t) => s + t.maxPoints, 0));
  const deducted = (result.deductions ?? []).reduce((s, d) => s + d.points, 0);
  assert.equal(result.score, Math.max(0, result.tests.filter((t) => t.status === 'pass').reduce((s, t) => s + t.points, 0) - deducted));
  if (result.verdict === 'fail') assert.ok(result.score < result.maxScore || result.maxScore === 0, 'a failing driver never keeps its full score');
  if (expected.verdict === 'pass') {
    assert.equal(result.score, result.maxScore, context);
    assert.deepEqual(result.findings, [], context);
  }
  if (!expected.builds) {
    assert.ok(result.build.diagnostics.some((d) => d.severity === 'error' && sources.includes(d.file) && d.line > 0), 'compiler errors point into the student file');
  }
  if (expected.anyOfFindingKinds.length > 0) {
    const matching = result.findings.filter((f) => expected.anyOfFindingKinds.includes(f.kind));
    assert.ok(matching.length > 0, `expected a finding of kind ${expected.anyOfFindingKinds.join('|')}\n${context}`);
    if (expected.titleIncludes) {
      assert.ok(matching.some((f) => f.title.includes(expected.titleIncludes!)), `a title containing ${expected.titleIncludes}\n${context}`);
    }
    for (const finding of matching.filter((f) => MUST_MAP_TO_SOURCE.has(f.kind))) {
      const frames = [...finding.frames, ...(finding.stacks ?? []).flatMap((s) => s.frames)];
      const suspect = finding.suspect;
      assert.ok(
        frames.some((fr) => fr.file !== undefined && sources.includes(fr.file) && (fr.line ?? 0) > 0 && fr.source !== undefined) ||
          (suspect?.file !== undefined && sources.includes(suspect.file) && (suspect.line ?? 0) > 0) ||
          finding.consequenceOf !== undefined,
        `finding ${finding.title} maps to a line of the student's source (its frames, or its suspect when no stack passes through the module)`,
      );
    }
  }
  if (expected.locatedAt) {
    const [file, line] = expected.locatedAt.split(':');
    const places = result.findings
      .filter((f) => expected.anyOfFindingKinds.length === 0 || expected.anyOfFindingKinds.includes(f.kind))
      .flatMap((f) => [...f.frames, ...(f.suspect ? [f.suspect] : [])]);
    assert.ok(places.some((p) => p.file === file && p.line === Number(line)), `a finding located at ${expected.locatedAt}\n${context}`);
  }
  for (const name of expected.failingTests) {
    const t = result.tests.find((x) => x.name === name);
    assert.ok(t, `test ${name} exists`);
    assert.notEqual(t.status, 'pass', `test ${name} must not pass\n${context}`);
  }
  if (expected.consoleTruncated) assert.ok((result.consoleTruncatedBytes ?? 0) > 0, 'the flooded console was capped');
  assert.ok(result.timings.total > 0);
}


/**
 * Grades a solution again with its exercise changed (a copy of the exercise in a temporary
 * exercises folder): kernel symbols allowed, or a KCSAN pass over some tests.
 */
export async function gradeVariant(dir: string, slug: string, variant: SolutionExpectation['variants'][number]): Promise<{ result: GradeResult; code: number | null }> {
  const root = await mkdtemp(join(tmpdir(), 'kgrader-variant-'));
  try {
    const spec = JSON.parse(await readFile(`${repoRoot}exercises/${slug}/exercise.json`, 'utf8')) as { policy?: { symbols?: string[] }; kcsan?: { tests: string[] } };
    if (variant.allowSymbols.length > 0) spec.policy = { ...spec.policy, symbols: [...(spec.policy?.symbols ?? []), ...variant.allowSymbols] };
    if (variant.kcsanTests.length > 0) spec.kcsan = { tests: variant.kcsanTests };
    await mkdir(join(root, slug), { recursive: true });
    await writeFile(join(root, slug, 'exercise.json'), JSON.stringify(spec));
    return await gradeJson(dir, slug, { KGRADER_EXERCISES_DIR: root });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
