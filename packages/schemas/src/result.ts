import { z } from 'zod';
import { Finding } from './finding.js';

export const Verdict = z.enum(['pass', 'fail', 'error']);
export type Verdict = z.infer<typeof Verdict>;

export const TestStatus = z.enum(['pass', 'fail', 'error', 'skip']);
export type TestStatus = z.infer<typeof TestStatus>;

/** One compiler diagnostic, located in the student's file. */
export const Diagnostic = z.object({
  file: z.string(),
  line: z.number().int().nonnegative(),
  column: z.number().int().nonnegative().optional(),
  severity: z.enum(['error', 'warning', 'note']),
  message: z.string(),
});
export type Diagnostic = z.infer<typeof Diagnostic>;

export const BuildResult = z.object({
  ok: z.boolean(),
  log: z.string(),
  diagnostics: z.array(Diagnostic).default([]),
});
export type BuildResult = z.infer<typeof BuildResult>;

export const TestResult = z.object({
  name: z.string(),
  status: TestStatus,
  points: z.number().nonnegative(),
  maxPoints: z.number().nonnegative(),
  output: z.string(),
  durationMs: z.number().nonnegative().optional(),
});
export type TestResult = z.infer<typeof TestResult>;

export const Timings = z.object({
  build: z.number().nonnegative(),
  boot: z.number().nonnegative(),
  run: z.number().nonnegative(),
  analyze: z.number().nonnegative().default(0),
  total: z.number().nonnegative(),
  /** guest uptime when the harness printed its first line: the kernel's own boot time */
  kernelBoot: z.number().nonnegative().optional(),
  /** seconds the KCSAN pass added (build and VM), when the exercise asks for one */
  kcsan: z.number().nonnegative().optional(),
  /** how the VM started: restored from the saved booted state, or booted from scratch */
  vmStart: z.enum(['restore', 'boot']).optional(),
});
export type Timings = z.infer<typeof Timings>;

/** The CLI's `--json` contract, also what the service stores per grading run. */
export const GradeResult = z.object({
  verdict: Verdict,
  score: z.number().nonnegative(),
  maxScore: z.number().nonnegative(),
  /** one sentence a student can act on: why the verdict is what it is */
  summary: z.string(),
  exercise: z.string(),
  build: BuildResult,
  tests: z.array(TestResult),
  findings: z.array(Finding),
  timings: Timings,
  /** points taken off beyond failed tests: findings not tied to a test (console flood, stack frames...) */
  deductions: z.array(z.object({ points: z.number().nonnegative(), reason: z.string() })).optional(),
  /** what graded it: the kernel build, the harness and the exercise, so gradings on several hosts can be compared */
  environment: z
    .object({
      kernelKey: z.string(),
      harnessHash: z.string(),
      exerciseHash: z.string(),
      /** the exercise version the grading used, when the caller pinned one */
      exerciseVersion: z.number().int().positive().optional(),
    })
    .optional(),
  /** set for `error` verdicts: what failed in kgrader's own infrastructure; retrying may help */
  infrastructureError: z.string().optional(),
  /** the kernel console, capped (head and tail kept) */
  console: z.string().optional(),
  consoleTruncatedBytes: z.number().int().nonnegative().optional(),
});
export type GradeResult = z.infer<typeof GradeResult>;

/** Stages a grading goes through, reported as progress. */
export const Stage = z.enum(['building', 'booting', 'running', 'analyzing', 'done']);
export type Stage = z.infer<typeof Stage>;

/**
 * The line a capped console capture puts where it dropped bytes (the VM's head-and-tail capture
 * writes it; the log parser knows that a report spanning it lost its middle).
 */
export const captureGapLine = (droppedBytes: number): string => `[kgrader: ${droppedBytes} bytes of console output dropped here]`;
export const CAPTURE_GAP_LINE = /^\[kgrader: \d+ bytes of console output dropped here\]$/;
