import assert from 'node:assert/strict';
import { describeResult, expectationProblems, variantSpec } from '@kgrader/expectations';
import { ExerciseSpec, GradeResult, type SolutionExpectation } from '@kgrader/schemas';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, runCli } from './cli.js';

const EXIT_OF = { pass: 0, fail: 1, error: 3 } as const;
/** Grades a folder with `kgrader grade --json` and validates the JSON against the contract. */
export async function gradeJson(dir: string, slug: string, env: NodeJS.ProcessEnv = {}): Promise<{ result: GradeResult; code: number | null; stderr: string }> {
  const run = await runCli(['grade', dir, '--exercise', slug, '--json'], env);
  assert.ok(run.stdout.trim().length > 0, `no JSON on stdout; stderr: ${run.stderr.slice(0, 2000)}`);
  const result = GradeResult.omit({ console: true }).parse(JSON.parse(run.stdout)) as GradeResult;
  return { result, code: run.code, stderr: run.stderr };
}

/**
 * Asserts a grading result keeps the promise a shipped solution's expectation makes: the one
 * check of @kgrader/expectations (the service runs the same one when an exercise version is
 * published), plus the CLI's exit code.
 */
export function checkExpectation(result: GradeResult, expected: SolutionExpectation, sources: string[], code: number | null): void {
  const problems = expectationProblems(result, expected, sources);
  assert.deepEqual(problems, [], `${problems.join('\n')}\n${describeResult(result)}${result.verdict === 'fail' && !expected.builds ? `\nbuild: ${result.build.log.slice(-1500)}` : ''}`);
  assert.equal(code, EXIT_OF[result.verdict], 'exit code follows the verdict');
}

/**
 * Grades a solution again with its exercise changed (a copy of the exercise in a temporary
 * exercises folder): kernel symbols allowed, or a KCSAN pass over some tests.
 */
export async function gradeVariant(dir: string, slug: string, variant: SolutionExpectation['variants'][number]): Promise<{ result: GradeResult; code: number | null }> {
  const root = await mkdtemp(join(tmpdir(), 'kgrader-variant-'));
  try {
    const spec = variantSpec(ExerciseSpec.parse(JSON.parse(await readFile(`${repoRoot}exercises/${slug}/exercise.json`, 'utf8'))), variant);
    await mkdir(join(root, slug), { recursive: true });
    await writeFile(join(root, slug, 'exercise.json'), JSON.stringify(spec));
    return await gradeJson(dir, slug, { KGRADER_EXERCISES_DIR: root });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
