import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { HarnessEvent } from '@kgrader/schemas';

/**
 * The host's side of the authenticated result channel (packages/harness/PROTOCOL.md).
 *
 * Each line is `<seq> <mac> <json>` with mac = hex HMAC-SHA256(key, `<seq> <json>`). The key is
 * fresh per grading and reaches the harness from the host before the student's module is
 * loaded. The verifier accepts an event only when it is authentic, has the next sequence number
 * and fits the plan: `hello`, then each planned test started and ended exactly once in plan
 * order, then `done`. Everything else is a violation, remembered with whether it happened
 * after the module could have been loaded (then it is the submission's doing).
 */

export interface GradingSecrets {
  /** 32 random bytes, hex */
  key: string;
  /** 8 random bytes, hex: put into every kernel-log marker of this grading */
  nonce: string;
}

export function newGradingSecrets(): GradingSecrets {
  return { key: randomBytes(32).toString('hex'), nonce: randomBytes(8).toString('hex') };
}

/** Signs one event line as the harness does (tests and tools only: the host never signs). */
export function signEventLine(key: string, seq: number, json: string): string {
  const mac = createHmac('sha256', Buffer.from(key, 'hex')).update(`${seq} ${json}`).digest('hex');
  return `${seq} ${mac} ${json}`;
}

export type ViolationKind = 'unauthenticated' | 'bad-mac' | 'replayed' | 'gap' | 'malformed' | 'out-of-plan' | 'after-done';

export interface ChannelViolation {
  kind: ViolationKind;
  detail: string;
  /** true once the harness announced the load test: from then on the module may be running */
  afterLoad: boolean;
}

const LINE = /^(\d{1,12}) ([0-9a-f]{64}) (\{.*\})$/;
const MAX_DETAIL = 160;

export class ResultChannelVerifier {
  private readonly key: Buffer;
  private lastSeq = 0;
  private nextTest = 0;
  private openTest: string | undefined;
  private sawHello = false;
  private sawDone = false;
  private loadStarted = false;
  readonly events: HarnessEvent[] = [];
  readonly violations: ChannelViolation[] = [];

  /** @param plannedTests test names in plan order; the first is the load test */
  constructor(
    keyHex: string,
    private readonly plannedTests: readonly string[],
  ) {
    this.key = Buffer.from(keyHex, 'hex');
  }

  get moduleMayBeLoaded(): boolean {
    return this.loadStarted;
  }

  get done(): boolean {
    return this.sawDone;
  }

  /** The test the harness announced and has not ended yet. */
  get runningTest(): string | undefined {
    return this.openTest;
  }

  /** Feeds one line (without its newline); returns the accepted event, if any. */
  push(rawLine: string): HarnessEvent | undefined {
    const line = rawLine.replace(/\r$/, '');
    if (line.trim() === '') return undefined;
    const m = LINE.exec(line);
    if (!m) return this.violate('unauthenticated', `a line without a valid signature: ${excerpt(line)}`);
    const seq = Number(m[1]);
    const json = m[3]!;
    const expected = createHmac('sha256', this.key).update(`${m[1]} ${json}`).digest();
    if (!timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'))) {
      return this.violate('bad-mac', `event ${seq} has a wrong signature: ${excerpt(json)}`);
    }
    if (seq <= this.lastSeq) return this.violate('replayed', `event ${seq} came again or out of order (last was ${this.lastSeq})`);
    if (seq !== this.lastSeq + 1) this.violate('gap', `events ${this.lastSeq + 1}..${seq - 1} never arrived`);
    this.lastSeq = seq;
    let event: HarnessEvent;
    try {
      const parsed = HarnessEvent.safeParse(JSON.parse(json));
      if (!parsed.success) return this.violate('malformed', `event ${seq} is not a valid event: ${excerpt(json)}`);
      event = parsed.data;
    } catch {
      return this.violate('malformed', `event ${seq} is not JSON: ${excerpt(json)}`);
    }
    const misplaced = this.checkOrder(event);
    if (misplaced) return this.violate(this.sawDone && event.event !== 'done' ? 'after-done' : 'out-of-plan', `event ${seq} (${event.event}${'name' in event ? ` ${event.name}` : ''}): ${misplaced}`);
    this.events.push(event);
    return event;
  }

  /** Why the event does not fit the plan at this point, or undefined when it does. Updates the position. */
  private checkOrder(event: HarnessEvent): string | undefined {
    if (this.sawDone) return 'nothing may follow done';
    if (!this.sawHello) {
      if (event.event !== 'hello') return 'the first event must be hello';
      this.sawHello = true;
      return undefined;
    }
    switch (event.event) {
      case 'hello':
        return 'hello came twice';
      case 'test_start': {
        if (this.openTest !== undefined) return `test ${this.openTest} has not ended`;
        const want = this.plannedTests[this.nextTest];
        if (event.name !== want) return want === undefined ? 'every planned test already ran' : `the next planned test is ${want}`;
        this.openTest = event.name;
        if (this.nextTest === 0) this.loadStarted = true;
        return undefined;
      }
      case 'test_end':
        if (event.name !== this.openTest) return this.openTest === undefined ? 'no test is running' : `the running test is ${this.openTest}`;
        this.openTest = undefined;
        this.nextTest++;
        return undefined;
      case 'module':
      case 'devices':
        return this.openTest === undefined ? 'only sent during a test' : undefined;
      case 'done':
        if (this.openTest !== undefined) return `test ${this.openTest} has not ended`;
        if (this.nextTest !== this.plannedTests.length) return `tests ${this.plannedTests.slice(this.nextTest).join(', ')} never ran`;
        this.sawDone = true;
        return undefined;
      default:
        return undefined; // log, kmsg, tamper: anywhere after hello
    }
  }

  private violate(kind: ViolationKind, detail: string): undefined {
    // a flood of junk is one fact, not thousands: keep the first few of each kind
    if (this.violations.filter((v) => v.kind === kind).length < 5) {
      this.violations.push({ kind, detail, afterLoad: this.loadStarted });
    }
    return undefined;
  }
}

function excerpt(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > MAX_DETAIL ? `${clean.slice(0, MAX_DETAIL)}...` : clean;
}
