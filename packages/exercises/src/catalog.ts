import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ExerciseDraft, ExerciseSpec, SolutionExpectations } from '@kgrader/schemas';

/**
 * The exercises that ship in this repository (`exercises/<slug>`): the apps' default when their
 * configuration names no other folder. Functions here take the folder from the caller's config.
 */
export const shippedExercisesDir = fileURLToPath(new URL('../../../../exercises', import.meta.url));

export class UnknownExerciseError extends Error {
  constructor(slug: string, known: string[]) {
    super(`unknown exercise ${JSON.stringify(slug)}; known: ${known.join(', ') || 'none'}`);
    this.name = 'UnknownExerciseError';
  }
}

export async function listExercises(exercisesDir: string): Promise<ExerciseSpec[]> {
  const slugs = (await readdir(exercisesDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  return Promise.all(slugs.sort().map((slug) => loadExercise(slug, exercisesDir)));
}

export async function loadExercise(slug: string, exercisesDir: string): Promise<ExerciseSpec> {
  if (!/^[a-z][a-z0-9-]*$/.test(slug)) throw new UnknownExerciseError(slug, await knownSlugs(exercisesDir));
  let text: string;
  try {
    text = await readFile(join(exercisesDir, slug, 'exercise.json'), 'utf8');
  } catch {
    throw new UnknownExerciseError(slug, await knownSlugs(exercisesDir));
  }
  const spec = ExerciseSpec.parse(JSON.parse(text));
  if (spec.slug !== slug) throw new Error(`exercises/${slug}/exercise.json declares slug ${spec.slug}`);
  return spec;
}

/** The shipped solutions of an exercise and what grading each must give (solutions.json). */
async function loadSolutionExpectations(slug: string, exercisesDir: string): Promise<SolutionExpectations> {
  return SolutionExpectations.parse(JSON.parse(await readFile(join(exercisesDir, slug, 'solutions.json'), 'utf8')));
}

async function knownSlugs(exercisesDir: string): Promise<string[]> {
  try {
    return (await readdir(exercisesDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * A shipped exercise as the service stores it (version 1 of the seeded exercise): its spec, the
 * summary as handout, no starter files, and every solution folder with its expectation and files.
 */
export async function loadShippedExercise(slug: string, exercisesDir: string): Promise<ExerciseDraft> {
  const spec = await loadExercise(slug, exercisesDir);
  const expectations = await loadSolutionExpectations(slug, exercisesDir);
  const solutions = [];
  for (const name of Object.keys(expectations).sort()) {
    const dir = join(exercisesDir, slug, 'solutions', name);
    const names = (await readdir(dir)).filter((n) => /\.[ch]$/.test(n)).sort();
    const files = await Promise.all(names.map(async (n) => ({ name: n, content: await readFile(join(dir, n), 'utf8') })));
    solutions.push({ name, expectation: expectations[name]!, files });
  }
  return ExerciseDraft.parse({ spec, handout: spec.summary, starterFiles: [], solutions });
}
