import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExerciseSpec } from '@kgrader/schemas';
import { defaultExercisesDir } from './config.js';

export class UnknownExerciseError extends Error {
  constructor(slug: string, known: string[]) {
    super(`unknown exercise ${JSON.stringify(slug)}; known: ${known.join(', ') || 'none'}`);
    this.name = 'UnknownExerciseError';
  }
}

export async function listExercises(exercisesDir = defaultExercisesDir): Promise<ExerciseSpec[]> {
  const slugs = (await readdir(exercisesDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  return Promise.all(slugs.sort().map((slug) => loadExercise(slug, exercisesDir)));
}

export async function loadExercise(slug: string, exercisesDir = defaultExercisesDir): Promise<ExerciseSpec> {
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

async function knownSlugs(exercisesDir: string): Promise<string[]> {
  try {
    return (await readdir(exercisesDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
}
