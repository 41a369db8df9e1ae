import { readFileSync } from 'node:fs';
import type { Finding } from '@kgrader/schemas';

/** Reads a fixture from test/fixtures (tests run from dist/test). */
export function fixture(name: string): string {
  return readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), 'utf8');
}

export function functions(frames: readonly { function: string }[]): string[] {
  return frames.map((f) => f.function);
}

export function byTitle(findings: readonly Finding[], title: string): Finding {
  const found = findings.find((f) => f.title === title);
  if (!found) throw new Error(`no finding titled ${title}; got ${findings.map((f) => f.title).join(' | ')}`);
  return found;
}
