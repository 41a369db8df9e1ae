import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import type { HarnessEvent } from '@kgrader/schemas';
import { HeadTailCapture } from './capture.js';
import type { ChannelViolation, ResultChannelVerifier } from './channel.js';
import { QmpClient } from './qmp.js';
import { qemuArgs, type QemuOptions } from './qemu.js';

export interface VmStartOptions extends QemuOptions {
  qemuBinary?: string;
  /** console bytes kept from the start and from the end */
  consoleHeadBytes?: number;
  consoleTailBytes?: number;
  /** console bytes after which the VM is stopped as flooding */
  consoleKillBytes?: number;
}

/** What the harness answered to HELLO: it is up and waits for its work. */
export interface Ready {
  cpus: number;
  /** CPUs on which a task pinned to each one actually ran just now */
  ran: number;
  kernel: string;
  uptimeMs: number;
}

export interface Work {
  key: string;
  nonce: string;
  plan: string;
  module: Buffer;
}

export interface RunOptions {
  verifier: ResultChannelVerifier;
  /** wall clock for the whole VM (from QEMU start) */
  timeoutSeconds: number;
  /** seconds each planned test may take before the host stops waiting for it (its harness timeout plus slack) */
  testDeadlineSeconds: (test: string) => number;
  onEvent?: (event: HarnessEvent) => void;
  signal?: AbortSignal;
}

export type StopReason = 'timeout' | 'flood' | 'channel-flood' | 'stalled' | 'aborted' | 'after-done';

export interface VmOutcome {
  /** QEMU's exit code (0 after the guest powered off, with -no-reboot), null when killed by a signal */
  exitCode: number | null;
  exitSignal: string | null;
  /** why the host stopped the VM itself, if it did */
  stoppedBy?: StopReason;
  /** the test the VM stopped reporting in (stoppedBy 'stalled') */
  stalledIn?: string;
  /** QEMU ended on its own with an error or a signal the host did not send: a host-side fault */
  qemuFailure?: string;
  console: string;
  consoleBytes: number;
  consoleDroppedBytes: number;
  events: HarnessEvent[];
  violations: ChannelViolation[];
  /** the harness announced the load test: everything after this is the submission's doing */
  moduleMayBeLoaded: boolean;
  done: boolean;
  totalSeconds: number;
}

const CONTROL_CAP_BYTES = 8 * 1024 * 1024;
const GRACE_AFTER_DONE_MS = 15_000;
const POLL_MS = 100;

/**
 * One QEMU process running the grading kernel: the console on its stdout, the harness's control
 * port on a unix socket, QMP on another. Cold-booted or restored from a saved state; either way
 * the harness waits on the control port for HELLO and then for its work.
 */
export class VmSession {
  readonly startedAt = Date.now();
  private readonly capture: HeadTailCapture;
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly exited: Promise<{ code: number | null; signal: string | null; error?: string }>;
  private exitInfo: { code: number | null; signal: string | null; error?: string } | undefined;
  private control: Socket | undefined;
  private controlBytes = 0;
  private partial = '';
  private readonly lines: string[] = [];
  private lineWaiter: (() => void) | undefined;
  private stderr = '';
  private killedFor: StopReason | 'host' | undefined;
  private qmp: QmpClient | undefined;

  private constructor(
    private readonly opts: VmStartOptions,
    wrapper: string | null,
  ) {
    this.capture = new HeadTailCapture(opts.consoleHeadBytes ?? 256 * 1024, opts.consoleTailBytes ?? 256 * 1024);
    const qemu = opts.qemuBinary ?? 'qemu-system-x86_64';
    // QEMU must not outlive the process that runs it: a grading worker SIGKILLed mid-run (no
    // handler runs) would otherwise leave an orphan VM. setpriv sets a parent-death signal.
    this.child = wrapper
      ? spawn(wrapper, ['--pdeathsig', 'KILL', '--', qemu, ...qemuArgs(opts)], { stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(qemu, qemuArgs(opts), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => resolve({ code: null, signal: null, error: err.message }));
      this.child.on('exit', (code, signal) => {
        // 'close' (after 'exit') has all of stderr; setpriv's 126/127 mean QEMU never started
        this.child.once('close', () => {
          const failedExec = wrapper && (code === 126 || code === 127) ? /setpriv: failed to execute .*/.exec(this.stderr)?.[0] : undefined;
          resolve({ code, signal, ...(failedExec ? { error: failedExec } : {}) });
        });
      });
    });
    this.exited.then((info) => {
      this.exitInfo = info;
      this.wake();
    });
    const killBytes = opts.consoleKillBytes ?? 64 * 1024 * 1024;
    this.child.stdout.on('data', (chunk: Buffer) => {
      this.capture.push(chunk);
      if (this.capture.total > killBytes) this.kill('flood');
    });
    this.child.stderr.on('data', (chunk: Buffer) => {
      if (this.stderr.length < 16_384) this.stderr += chunk.toString('utf8');
    });
  }

  /** Starts QEMU and connects to its control port (and QMP, when asked for). */
  static async start(opts: VmStartOptions): Promise<VmSession> {
    const session = new VmSession(opts, await parentDeathWrapper());
    const control = await session.connectWhileRunning(opts.controlSocket);
    if (!control) throw new VmStartError(session.describeFailure('QEMU did not open its control socket'));
    session.control = control;
    control.on('data', (chunk: Buffer) => session.onControlData(chunk));
    control.on('error', () => session.wake());
    control.on('close', () => session.wake());
    if (opts.qmpSocket) {
      const qmpSocket = await session.connectWhileRunning(opts.qmpSocket);
      if (!qmpSocket) throw new VmStartError(session.describeFailure('QEMU did not open its QMP socket'));
      session.qmp = await QmpClient.over(qmpSocket);
    }
    return session;
  }

  get stderrText(): string {
    return this.stderr;
  }

  get consoleText(): string {
    return this.capture.text();
  }

  /** Resumes a VM restored from a saved state once the state is in (QMP needed). */
  async resumeAfterRestore(timeoutMs: number): Promise<void> {
    const qmp = this.requireQmp();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = (await qmp.execute('query-status')) as { status: string; running: boolean };
      if (status.running) return;
      if (status.status === 'paused' || status.status === 'postmigrate' || status.status === 'prelaunch') {
        await qmp.execute('cont');
        return;
      }
      if (status.status !== 'inmigrate') throw new Error(`restored VM is ${status.status}`);
      if (Date.now() > deadline) throw new Error('restoring the VM state took too long');
      await sleep(20);
    }
  }

  /** HELLO -> READY: the harness is up, and how many CPUs it could run on. */
  async hello(timeoutMs: number): Promise<Ready> {
    this.control!.write('HELLO\n');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = await this.nextLine(deadline);
      if (line === undefined) throw new VmStartError(this.describeFailure('the harness did not answer HELLO'));
      const m = /^READY cpus=(\d+) ran=(\d+) kernel=(\S+) uptime=(\d+)$/.exec(line.replace(/\r$/, ''));
      if (m) return { cpus: Number(m[1]), ran: Number(m[2]), kernel: m[3]!, uptimeMs: Number(m[4]) };
    }
  }

  /** Saves the whole VM state (paused) to a file and ends QEMU. */
  async saveAndQuit(stateFile: string, timeoutMs: number): Promise<void> {
    const qmp = this.requireQmp();
    await qmp.execute('stop');
    await qmp.execute('migrate', { uri: `exec:cat > '${stateFile.replace(/'/g, `'\\''`)}'` });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
      if (info.status === 'completed') break;
      if (info.status === 'failed' || info.status === 'cancelled') throw new Error(`saving the VM state failed: ${info['error-desc'] ?? info.status}`);
      if (Date.now() > deadline) throw new Error('saving the VM state took too long');
      await sleep(50);
    }
    await qmp.execute('quit').catch(() => undefined);
    await this.exited;
  }

  sendWork(work: Work): void {
    const plan = Buffer.from(work.plan, 'utf8');
    this.control!.write(`WORK ${work.key} ${work.nonce} ${plan.length} ${work.module.length}\n`);
    this.control!.write(plan);
    this.control!.write(work.module);
  }

  /** Runs until the harness is done and the guest powered off, or the host stops the VM. */
  async run(opts: RunOptions): Promise<VmOutcome> {
    const { verifier } = opts;
    const deadline = this.startedAt + opts.timeoutSeconds * 1000;
    let doneAt: number | undefined;
    let testStartedAt = Date.now();
    let runningTest: string | undefined;
    const onAbort = () => this.kill('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!this.exitInfo) {
        const line = await this.nextLine(Math.min(deadline, Date.now() + POLL_MS));
        if (line !== undefined) {
          const event = verifier.push(line);
          if (event) opts.onEvent?.(event);
          if (verifier.runningTest !== runningTest) {
            runningTest = verifier.runningTest;
            testStartedAt = Date.now();
          }
          if (verifier.done && doneAt === undefined) doneAt = Date.now();
          continue;
        }
        const now = Date.now();
        if (now > deadline) this.kill('timeout');
        else if (doneAt !== undefined && now - doneAt > GRACE_AFTER_DONE_MS) this.kill('after-done');
        else if (runningTest !== undefined && now - testStartedAt > opts.testDeadlineSeconds(runningTest) * 1000) this.kill('stalled');
        if (this.killedFor) await this.exited;
      }
      // whatever the guest wrote before it went away
      await sleep(20);
      for (let line = this.lines.shift(); line !== undefined; line = this.lines.shift()) {
        const event = verifier.push(line);
        if (event) opts.onEvent?.(event);
      }
      if (this.partial) verifier.push(this.partial);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    return this.outcome(verifier, runningTest);
  }

  /** Stops QEMU (idempotent); the reason is reported in the outcome. */
  kill(reason: StopReason | 'host'): void {
    if (this.exitInfo) return;
    this.killedFor ??= reason;
    this.child.kill('SIGKILL');
  }

  async close(): Promise<void> {
    this.kill('host');
    await this.exited;
    this.control?.destroy();
    this.qmp?.close();
  }

  private outcome(verifier: ResultChannelVerifier, runningTest: string | undefined): VmOutcome {
    const exit = this.exitInfo!;
    const stoppedBy = this.killedFor === 'host' ? undefined : this.killedFor;
    return {
      exitCode: exit.code,
      exitSignal: exit.signal,
      ...(stoppedBy ? { stoppedBy } : {}),
      ...(stoppedBy === 'stalled' && runningTest ? { stalledIn: runningTest } : {}),
      ...(!this.killedFor && (exit.error || exit.signal || (exit.code ?? 0) !== 0) ? { qemuFailure: this.describeFailure('QEMU ended abnormally') } : {}),
      console: this.capture.text(),
      consoleBytes: this.capture.total,
      consoleDroppedBytes: this.capture.droppedBytes,
      events: verifier.events,
      violations: verifier.violations,
      moduleMayBeLoaded: verifier.moduleMayBeLoaded,
      done: verifier.done,
      totalSeconds: (Date.now() - this.startedAt) / 1000,
    };
  }

  /** QEMU's own account of a failure: exit status and the end of its stderr. */
  describeFailure(what: string): string {
    const exit = this.exitInfo;
    const status = exit ? (exit.error ?? (exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`)) : 'still running';
    const stderr = this.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 400);
    return `${what} (${status}${stderr ? `; qemu: ${stderr}` : ''})`;
  }

  private requireQmp(): QmpClient {
    if (!this.qmp) throw new Error('this VM was started without QMP');
    return this.qmp;
  }

  private onControlData(chunk: Buffer): void {
    this.controlBytes += chunk.length;
    if (this.controlBytes > CONTROL_CAP_BYTES) {
      this.kill('channel-flood');
      return;
    }
    this.partial += chunk.toString('latin1');
    const parts = this.partial.split('\n');
    this.partial = parts.pop() ?? '';
    // lines are JSON-escaped ASCII when they come from the harness; latin1 keeps junk byte-exact
    for (const p of parts) this.lines.push(Buffer.from(p, 'latin1').toString('utf8'));
    if (this.partial.length > 1024 * 1024) {
      this.lines.push(this.partial);
      this.partial = '';
    }
    this.wake();
  }

  private wake(): void {
    const w = this.lineWaiter;
    this.lineWaiter = undefined;
    w?.();
  }

  /** The next control line, or undefined at the deadline or when QEMU is gone. */
  private async nextLine(deadline: number): Promise<string | undefined> {
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) return line;
      if (this.exitInfo) return undefined;
      const wait = deadline - Date.now();
      if (wait <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        this.lineWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private async connectWhileRunning(path: string): Promise<Socket | undefined> {
    const until = Date.now() + 10_000;
    while (!this.exitInfo && Date.now() < until) {
      const socket = await new Promise<Socket | undefined>((resolve) => {
        const s = connect(path);
        s.once('connect', () => resolve(s));
        s.once('error', () => resolve(undefined));
      });
      if (socket) return socket;
      await sleep(20);
    }
    return undefined;
  }
}

/** QEMU could not be started or did not come up: a host-side (infrastructure) fault. */
export class VmStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VmStartError';
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
