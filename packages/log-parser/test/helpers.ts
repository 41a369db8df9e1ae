import { readFileSync } from 'node:fs';
import type { Finding } from '@kgrader/schemas';
import { readTitledLog } from './titled-log.js';

/** Reads a fixture file from test/fixtures (tests run from dist/test), header included. */
export function fixture(name: string): string {
  return readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), 'utf8');
}

/** The console log of a fixture, without its header of expectations. */
export function fixtureLog(name: string): string {
  return readTitledLog(fixture(name)).log;
}

export function functions(frames: readonly { function: string }[]): string[] {
  return frames.map((f) => f.function);
}

export function byTitle(findings: readonly Finding[], title: string): Finding {
  const found = findings.find((f) => f.title === title);
  if (!found) throw new Error(`no finding titled ${title}; got ${findings.map((f) => f.title).join(' | ')}`);
  return found;
}
