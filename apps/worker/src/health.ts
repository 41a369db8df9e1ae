// The worker's health and metrics (issue 11). At start and then periodically the worker runs the
// engine's doctor checks (kernel, QEMU, the bubblewrap sandbox, busybox, harness, accelerator) and
// checks its environment against the service's pins (the grading kernel's key per flavor, the LTI
// tool key): a worker that cannot grade, or would grade differently from the others, takes no
// grading jobs and its /healthz answers 503 with the reason. /metrics: Prometheus (prom-client).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkEnvironmentPin, type Db } from '@kgrader/db';
import { readToolKeyFile } from '@kgrader/lti';
import type { GradeResult, Stage } from '@kgrader/schemas';
import type { Logger } from 'pino';
import client from 'prom-client';
import type { Grader } from './grader.js';

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** a failing required check stops the worker from taking grading jobs */
  required: boolean;
}

export interface HealthState {
  /** may take grading jobs: every required check passes */
  ready: boolean;
  checks: HealthCheck[];
  checkedAt: Date;
  /** the service's pinned kernel keys by flavor that this worker matches (graded results must carry them) */
  kernelKeys: Record<string, string>;
  /** this worker's LTI tool key is the service's (or no key is configured): passbacks may be signed */
  ltiKeyOk: boolean;
}

/** The worker's Prometheus metrics. */
export class WorkerMetrics {
  readonly registry = new client.Registry();
  private readonly stages = new Map<string, Stage>();
  private readonly stageDuration: client.Histogram<'stage'>;
  private readonly vmStarts: client.Counter<'kind'>;
  private readonly outcomes: client.Counter<'outcome'>;
  private readonly verdicts: client.Counter<'verdict'>;
  private readonly checks: client.Gauge<'check'>;
  private readonly ready: client.Gauge;

  constructor(opts: { concurrency: number; workerId: string }) {
    this.registry.setDefaultLabels({ worker: opts.workerId });
    client.collectDefaultMetrics({ register: this.registry, prefix: 'kgrader_worker_' });
    new client.Gauge({ name: 'kgrader_worker_concurrency', help: 'gradings this worker runs at once (WORKER_CONCURRENCY)', registers: [this.registry] }).set(opts.concurrency);
    const stages = this.stages;
    new client.Gauge({
      name: 'kgrader_worker_vms_busy',
      help: "this worker's gradings holding a VM (booting or restoring, running, analyzing)",
      registers: [this.registry],
      collect() {
        this.set([...stages.values()].filter((s) => s === 'booting' || s === 'running' || s === 'analyzing').length);
      },
    });
    new client.Gauge({
      name: 'kgrader_worker_gradings_active',
      help: "this worker's gradings by stage",
      labelNames: ['stage'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const s of stages.values()) this.inc({ stage: s });
      },
    });
    this.stageDuration = new client.Histogram({
      name: 'kgrader_worker_stage_duration_seconds',
      help: 'grading stage durations (build, boot = VM restore or boot, run, analyze, kcsan, total)',
      labelNames: ['stage'] as const,
      buckets: [0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300],
      registers: [this.registry],
    });
    this.vmStarts = new client.Counter({ name: 'kgrader_worker_vm_starts_total', help: 'grading VMs started, by kind: restore (from the saved booted VM) or boot', labelNames: ['kind'] as const, registers: [this.registry] });
    this.outcomes = new client.Counter({
      name: 'kgrader_worker_jobs_total',
      help: 'grading jobs by outcome (graded, infrastructure-error, gave-up, released, stale, missing)',
      labelNames: ['outcome'] as const,
      registers: [this.registry],
    });
    this.verdicts = new client.Counter({ name: 'kgrader_worker_verdicts_total', help: 'verdicts stored by this worker', labelNames: ['verdict'] as const, registers: [this.registry] });
    this.checks = new client.Gauge({ name: 'kgrader_worker_health_check', help: 'the health checks (1 ok, 0 failing)', labelNames: ['check'] as const, registers: [this.registry] });
    this.ready = new client.Gauge({ name: 'kgrader_worker_ready', help: '1 when the worker takes grading jobs', registers: [this.registry] });
  }

  stage(jobId: string, stage: Stage | undefined): void {
    if (stage === undefined || stage === 'done') this.stages.delete(jobId);
    else this.stages.set(jobId, stage);
  }

  graded(result: GradeResult): void {
    const t = result.timings as Record<string, unknown>;
    for (const stage of ['build', 'boot', 'run', 'analyze', 'kcsan', 'total']) {
      const v = t[stage];
      if (typeof v === 'number' && (stage !== 'boot' || v > 0)) this.stageDuration.observe({ stage }, v);
    }
    if (t['vmStart'] === 'restore' || t['vmStart'] === 'boot') this.vmStarts.inc({ kind: t['vmStart'] });
    if (result.verdict !== 'error') this.verdicts.inc({ verdict: result.verdict });
  }

  outcome(outcome: string): void {
    this.outcomes.inc({ outcome });
  }

  health(state: HealthState): void {
    this.checks.reset();
    for (const c of state.checks) this.checks.set({ check: c.name }, c.ok ? 1 : 0);
    this.ready.set(state.ready ? 1 : 0);
  }
}

/**
 * Runs the grader's doctor checks and the environment pins. `repin`: this worker's environment
 * becomes the service's (the first worker of a deliberately upgraded fleet).
 */
export async function checkHealth(opts: { db: Db; grader: Grader; workerId: string; toolKeysFile: string | undefined; repin: boolean }): Promise<HealthState> {
  const checks: HealthCheck[] = [];
  const kernelKeys: Record<string, string> = {};
  if (opts.grader.doctor) {
    try {
      checks.push(...(await opts.grader.doctor()));
    } catch (err) {
      checks.push({ name: 'doctor', ok: false, detail: (err as Error).message, required: true });
    }
  }
  if (opts.grader.environment) {
    let keys: Record<string, string> = {};
    try {
      keys = (await opts.grader.environment()).kernelKeys;
    } catch (err) {
      checks.push({ name: 'grading environment', ok: false, detail: (err as Error).message, required: true });
    }
    for (const [flavor, key] of Object.entries(keys)) {
      const pin = await checkEnvironmentPin(opts.db, `kernel:${flavor}`, key, { by: opts.workerId, repin: opts.repin });
      if (pin.ok) kernelKeys[flavor] = key;
      checks.push(
        pin.ok
          ? { name: `kernel pin (${flavor})`, ok: true, detail: `${key}${pin.pinnedNow ? ' (pinned by this worker)' : ''}`, required: true }
          : {
              name: `kernel pin (${flavor})`,
              ok: false,
              detail: `this worker's ${flavor} grading kernel is ${key} but the service grades on ${pin.pinned} (pinned by ${pin.pinnedBy}): install the same linux-source-6.1 and kernel config (run the same image) and run the prepare step, or move the pin on purpose with ENVIRONMENT_PIN=repin`,
              required: true,
            },
      );
    }
  }
  let ltiKeyOk = true;
  if (opts.toolKeysFile) {
    try {
      const [current] = await readToolKeyFile(opts.toolKeysFile);
      const pin = await checkEnvironmentPin(opts.db, 'lti-tool-key', current!.kid, { by: opts.workerId, repin: opts.repin });
      ltiKeyOk = pin.ok;
      checks.push(
        pin.ok
          ? { name: 'LTI tool key', ok: true, detail: `kid ${current!.kid}`, required: false }
          : { name: 'LTI tool key', ok: false, detail: `this worker's LTI tool key (kid ${current!.kid}) is not the service's (kid ${pin.pinned}): copy the first host's key file here; grade passbacks are off until then`, required: false },
      );
    } catch (err) {
      ltiKeyOk = false;
      checks.push({ name: 'LTI tool key', ok: false, detail: (err as Error).message, required: false });
    }
  }
  return { ready: checks.every((c) => c.ok || !c.required), checks, checkedAt: new Date(), kernelKeys, ltiKeyOk };
}

/** /healthz (200 when the worker can grade and takes jobs, else 503; the checks either way) and /metrics. */
export async function startHealthServer(opts: { host: string; port: number; metrics: WorkerMetrics; state: () => HealthState | undefined; logger: Logger }): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (url === '/healthz') {
      // failing: a required check (kernel, QEMU, sandbox, busybox, harness, accelerator, kernel
      // pins); the others (the KCSAN kernel, the LTI key) are reported without failing
      const s = opts.state();
      const ok = s?.ready === true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: ok ? 'ok' : s ? 'failing' : 'starting', ready: s?.ready ?? false, checkedAt: s?.checkedAt, checks: s?.checks ?? [] }));
      return;
    }
    if (url === '/metrics') {
      opts.metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': opts.metrics.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500).end(err.message),
      );
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  opts.logger.info({ host: opts.host, port }, 'health and metrics server listening (/healthz, /metrics)');
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
