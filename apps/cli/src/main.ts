import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  analyzeConsole,
  defaultEngineConfig,
  doctor,
  gradeSubmission,
  listExercises,
  loadExercise,
  SubmissionRejected,
  UnknownExerciseError,
  type EngineConfig,
} from '@kgrader/engine';
import { cacheDirOf, CliEnv } from './env.js';
import { printFindings, printGradeReport, styles } from './report.js';

/** Exit codes: the contract other tools build on. */
export const EXIT = { pass: 0, fail: 1, usage: 2, error: 3 } as const;

const USAGE = `kgrader: grade Linux kernel-driver exercises in a sanitizer kernel under QEMU

usage:
  kgrader grade <dir> --exercise <slug> [--json] [--timeout <seconds>]
      grade the .c/.h files in <dir>; exit 0 pass, 1 fail, 2 usage error, 3 kgrader's own error
  kgrader analyze <console.log> [--json]
      find the kernel reports (KASAN, lockdep, kmemleak, oops...) in any kernel console log
  kgrader exercises [--json]
      list the exercises
  kgrader doctor
      check the kernel, QEMU, sandbox, harness and accelerator (exit 3 when one is missing)

environment: KGRADER_CACHE_DIR (default ~/.cache/kgrader), KGRADER_ACCEL=auto|kvm|tcg,
KGRADER_KEEP_WORKDIR=1 (keep the build tree), KGRADER_EXERCISES_DIR, KGRADER_ATTEMPTS (gradings
tried when kgrader itself fails, default 2), KGRADER_SNAPSHOTS=0 (boot every VM instead of
restoring the saved booted one)`;

class UsageError extends Error {}

export async function main(argv: string[], rawEnv: NodeJS.ProcessEnv): Promise<number> {
  const envParsed = CliEnv.safeParse(rawEnv);
  if (!envParsed.success) {
    process.stderr.write(`kgrader: bad environment: ${envParsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n`);
    return EXIT.usage;
  }
  const env = envParsed.data;
  const config: EngineConfig = {
    ...defaultEngineConfig(cacheDirOf(env)),
    accel: env.KGRADER_ACCEL,
    keepWorkDir: env.KGRADER_KEEP_WORKDIR === '1',
    vmSnapshots: env.KGRADER_SNAPSHOTS === '1',
    ...(env.KGRADER_EXERCISES_DIR ? { exercisesDir: env.KGRADER_EXERCISES_DIR } : {}),
  };
  const style = styles(Boolean(process.stdout.isTTY) && !env.NO_COLOR);
  try {
    const [command, ...rest] = argv;
    switch (command) {
      case 'grade':
        return await grade(rest, config, style, env.KGRADER_ATTEMPTS);
      case 'analyze':
        return await analyze(rest, style);
      case 'exercises':
        return await exercises(rest, config);
      case 'doctor':
        return await runDoctor(config, style);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command ? EXIT.pass : EXIT.usage;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof SubmissionRejected || err instanceof UnknownExerciseError) {
      process.stderr.write(`kgrader: ${err.message}\n`);
      if (err instanceof UsageError) process.stderr.write(`\n${USAGE}\n`);
      return EXIT.usage;
    }
    process.stderr.write(`kgrader: internal error: ${(err as Error).stack ?? err}\n`);
    return EXIT.error;
  }
}

/** Runs a parseArgs call, turning its complaints into usage errors. */
function parseOrUsage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

async function grade(argv: string[], config: EngineConfig, style: ReturnType<typeof styles>, attempts: number): Promise<number> {
  const { values, positionals } = parseOrUsage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: { exercise: { type: 'string', short: 'e' }, json: { type: 'boolean', default: false }, timeout: { type: 'string' } },
    }),
  );
  if (positionals.length !== 1) throw new UsageError('grade takes exactly one folder');
  if (typeof values.exercise !== 'string') throw new UsageError('--exercise <slug> is required');
  let timeoutSeconds: number | undefined;
  if (values.timeout !== undefined) {
    timeoutSeconds = Number(values.timeout);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 10 || timeoutSeconds > 3600) {
      throw new UsageError('--timeout must be a whole number of seconds between 10 and 3600');
    }
  }
  const exercise = await loadExercise(values.exercise, config.exercisesDir);
  const sourceDir = positionals[0]!;
  const json = values.json === true;
  const started = Date.now();
  const say = (message: string) => process.stderr.write(style.dim(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${message}\n`));
  // the engine tries once; kgrader's own failures (verdict error) are retried here, and only here
  let result = await gradeOnce();
  for (let attempt = 2; attempt <= attempts && result.verdict === 'error'; attempt++) {
    if (!json) say(`kgrader could not grade (${result.infrastructureError}); attempt ${attempt} of ${attempts}`);
    result = await gradeOnce();
  }
  function gradeOnce() {
    return gradeSubmission({
      exercise,
      sourceDir,
      config,
      ...(timeoutSeconds ? { timeoutSeconds } : {}),
      onProgress: json ? undefined : (stage, message) => say(`${stage.padEnd(9)} ${message}`),
    });
  }
  if (json) {
    const { console: _console, ...rest } = result;
    process.stdout.write(`${JSON.stringify(rest)}\n`);
  } else {
    printGradeReport(result, exercise, style);
  }
  return EXIT[result.verdict];
}

async function analyze(argv: string[], style: ReturnType<typeof styles>): Promise<number> {
  const { values, positionals } = parseOrUsage(() => parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean', default: false } } }));
  if (positionals.length !== 1) throw new UsageError('analyze takes exactly one console log file');
  let text: string;
  try {
    text = await readFile(positionals[0]!, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${positionals[0]}: ${(err as Error).message}`);
  }
  const { findings } = await analyzeConsole(text);
  if (values.json) process.stdout.write(`${JSON.stringify({ findings })}\n`);
  else printFindings(findings, style);
  return EXIT.pass;
}

async function exercises(argv: string[], config: EngineConfig): Promise<number> {
  const { values } = parseOrUsage(() => parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean', default: false } } }));
  const all = await listExercises(config.exercisesDir);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(all)}\n`);
  } else {
    for (const e of all) process.stdout.write(`${e.slug.padEnd(18)} ${e.title} (${e.tests.length} tests)\n`);
  }
  return EXIT.pass;
}

async function runDoctor(config: EngineConfig, style: ReturnType<typeof styles>): Promise<number> {
  const checks = await doctor(config);
  for (const c of checks) process.stdout.write(`${c.ok ? style.green('ok  ') : style.red('FAIL')} ${c.name.padEnd(20)} ${c.detail}\n`);
  return checks.every((c) => c.ok) ? EXIT.pass : EXIT.error;
}
