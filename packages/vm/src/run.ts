import { execFile, spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { HarnessEvent } from '@kgrader/schemas';
import { HeadTailCapture } from './capture.js';
import { qemuArgs, type QemuOptions } from './qemu.js';

export interface RunVmOptions extends QemuOptions {
  /** wall clock for the whole run; the VM is killed on expiry */
  timeoutSeconds: number;
  /** console bytes kept from the start and from the end */
  consoleHeadBytes?: number;
  consoleTailBytes?: number;
  /** console bytes after which the VM is stopped as flooding */
  consoleKillBytes?: number;
  qemuBinary?: string;
  onEvent?: (event: HarnessEvent) => void;
  signal?: AbortSignal;
}

export interface VmOutcome {
  /** QEMU's exit code (0 after the guest's reboot, with -no-reboot) or null when killed */
  exitCode: number | null;
  timedOut: boolean;
  /** stopped because the console passed consoleKillBytes */
  flooded: boolean;
  aborted: boolean;
  /** QEMU could not start at all (not installed, bad arguments): an infrastructure fault */
  startError?: string;
  console: string;
  consoleBytes: number;
  consoleDroppedBytes: number;
  events: HarnessEvent[];
  /** result-channel lines that were not valid events */
  badEventLines: number;
  qemuStderr: string;
  /** seconds from QEMU start to the harness's hello (kernel boot + init), when it said hello */
  bootSeconds?: number;
  totalSeconds: number;
}

const POLL_MS = 200;
const GRACE_AFTER_DONE_MS = 15_000;

/** Boots the grading VM once and collects the console and the harness events. */
export async function runVm(opts: RunVmOptions): Promise<VmOutcome> {
  const started = Date.now();
  const capture = new HeadTailCapture(opts.consoleHeadBytes ?? 2 * 1024 * 1024, opts.consoleTailBytes ?? 1024 * 1024);
  const killBytes = opts.consoleKillBytes ?? 64 * 1024 * 1024;
  const events: HarnessEvent[] = [];
  let badEventLines = 0;
  let stderr = '';
  let timedOut = false;
  let flooded = false;
  let aborted = false;
  let bootSeconds: number | undefined;
  let doneAt: number | undefined;

  const qemu = opts.qemuBinary ?? 'qemu-system-x86_64';
  // QEMU must not outlive the process that runs it: a grading worker SIGKILLed mid-run (no
  // handler runs) would otherwise leave an orphan VM burning a core until the guest powers off,
  // or forever when the guest hangs. setpriv sets a parent-death signal, then execs QEMU.
  const deathSignal = await parentDeathWrapper();
  const child = deathSignal
    ? spawn(deathSignal, ['--pdeathsig', 'KILL', '--', qemu, ...qemuArgs(opts)], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(qemu, qemuArgs(opts), { stdio: ['pipe', 'pipe', 'pipe'] });
  const kill = () => child.kill('SIGKILL');

  const reader = new ResultChannelReader(opts.resultsPath);
  const consumeEvents = async () => {
    for (const line of await reader.readNewLines()) {
      const parsed = parseEventLine(line);
      if (!parsed) {
        badEventLines++;
        continue;
      }
      events.push(parsed);
      if (parsed.event === 'hello' && bootSeconds === undefined) bootSeconds = (Date.now() - started) / 1000;
      if (parsed.event === 'done') doneAt = Date.now();
      opts.onEvent?.(parsed);
    }
  };

  const exit = new Promise<{ code: number | null; error?: string }>((resolve) => {
    child.on('error', (err) => resolve({ code: null, error: err.message }));
    child.on('exit', (code) => {
      if (!deathSignal || (code !== 126 && code !== 127)) return resolve({ code });
      // setpriv could not exec QEMU (126/127 and its message): QEMU did not start, as with a spawn
      // error. 'close' (after 'exit') has all of stderr.
      child.once('close', () => {
        const failedExec = /setpriv: failed to execute .*/.exec(stderr)?.[0];
        resolve(failedExec ? { code: null, error: failedExec } : { code });
      });
    });
  });
  child.stdout.on('data', (chunk: Buffer) => {
    capture.push(chunk);
    if (capture.total > killBytes && !flooded) {
      flooded = true;
      kill();
    }
  });
  child.stderr.on('data', (chunk: Buffer) => {
    if (stderr.length < 16_384) stderr += chunk.toString('utf8');
  });
  const onAbort = () => {
    aborted = true;
    kill();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  const deadline = started + opts.timeoutSeconds * 1000;
  let result: { code: number | null; error?: string } | undefined;
  exit.then((r) => (result = r));
  while (!result) {
    await Promise.race([exit, sleep(POLL_MS)]);
    await consumeEvents();
    const now = Date.now();
    if (!result && now > deadline) {
      timedOut = true;
      kill();
    } else if (!result && doneAt !== undefined && now - doneAt > GRACE_AFTER_DONE_MS) {
      // the harness finished but the guest did not power off: nothing is lost by stopping it
      kill();
    }
  }
  await consumeEvents();
  await reader.close();
  opts.signal?.removeEventListener('abort', onAbort);
  const finished = result as { code: number | null; error?: string };

  return {
    exitCode: finished.code,
    timedOut,
    flooded,
    aborted,
    ...(finished.error ? { startError: finished.error } : {}),
    console: capture.text(),
    consoleBytes: capture.total,
    consoleDroppedBytes: capture.droppedBytes,
    events,
    badEventLines,
    qemuStderr: stderr,
    ...(bootSeconds !== undefined ? { bootSeconds } : {}),
    totalSeconds: (Date.now() - started) / 1000,
  };
}

/** A result-channel line as an event, or null: serial lines may carry `\r` and junk. */
export function parseEventLine(line: string): HarnessEvent | null {
  const text = line.replace(/\r/g, '').trim();
  if (!text.startsWith('{')) return null;
  try {
    const parsed = HarnessEvent.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Reads whole lines appended to the result file since the last call; caps what it reads. */
class ResultChannelReader {
  private offset = 0;
  private partial = '';
  private handle: Awaited<ReturnType<typeof open>> | undefined;
  private static readonly MAX_BYTES = 8 * 1024 * 1024;

  constructor(private readonly path: string) {}

  async readNewLines(): Promise<string[]> {
    if (!this.handle) {
      try {
        this.handle = await open(this.path, 'r');
      } catch {
        return [];
      }
    }
    const lines: string[] = [];
    const buffer = Buffer.alloc(64 * 1024);
    while (this.offset < ResultChannelReader.MAX_BYTES) {
      const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, this.offset);
      if (bytesRead === 0) break;
      this.offset += bytesRead;
      this.partial += buffer.subarray(0, bytesRead).toString('utf8');
      const parts = this.partial.split('\n');
      this.partial = parts.pop() ?? '';
      lines.push(...parts);
    }
    return lines;
  }

  async close(): Promise<void> {
    await this.handle?.close();
  }
}

let wrapper: Promise<string | null> | undefined;

/** `setpriv` when it can set a parent-death signal here (util-linux >= 2.33), else null. Probed once. */
function parentDeathWrapper(): Promise<string | null> {
  wrapper ??= new Promise((resolve) => {
    execFile('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { timeout: 10_000 }, (err) => resolve(err ? null : 'setpriv'));
  });
  return wrapper;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
